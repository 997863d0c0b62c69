/**
 * Distinct, valid mobile destinations for a load: a sale day has millions of different
 * customers, so each code request goes to a number of its own. Ranges where libphonenumber-js
 * (the services' validator, `max` metadata) accepts every number as MOBILE or
 * FIXED_LINE_OR_MOBILE, so none is refused as invalid, VoIP or premium rate.
 */
import { randomInt } from 'node:crypto';

interface Range {
  country: string;
  /** E.164 prefix. */
  prefix: string;
  /** Digits after the prefix. */
  digits: number;
  /** Lowest and count of the local part (e.g. NXX 200–999 in NANP). */
  base: number;
  space: number;
  /** Share of the numbers handed out. */
  weight: number;
}

/** Code destinations: US (San Francisco), Canada (Vancouver), UK mobile, Germany mobile. */
export const CODE_RANGES: readonly Range[] = [
  { country: 'US', prefix: '+1415', digits: 7, base: 2_000_000, space: 8_000_000, weight: 40 },
  { country: 'CA', prefix: '+1604', digits: 7, base: 2_000_000, space: 8_000_000, weight: 15 },
  { country: 'GB', prefix: '+447400', digits: 6, base: 0, space: 1_000_000, weight: 20 },
  { country: 'DE', prefix: '+49151', digits: 8, base: 0, space: 100_000_000, weight: 25 },
];

/** Order updates go to other customers (New York): never mixed up with a code's destination. */
export const ORDER_RANGES: readonly Range[] = [
  { country: 'US', prefix: '+1212', digits: 7, base: 2_000_000, space: 8_000_000, weight: 1 },
];

/** A multiplier coprime to every range's space (10^k · 8), so i → i·A mod space is a permutation. */
const SCATTER = 7_919;

/**
 * Hands out numbers never handed out before by this pool, spread over the ranges by weight and
 * scattered in each range (consecutive draws are far apart, like real customers).
 */
export class DestinationPool {
  private readonly counters: number[];
  private readonly offsets: number[];
  private readonly totalWeight: number;
  private drawn = 0;

  constructor(private readonly ranges: readonly Range[] = CODE_RANGES) {
    this.counters = ranges.map(() => 0);
    this.offsets = ranges.map((r) => randomInt(0, r.space));
    this.totalWeight = ranges.reduce((n, r) => n + r.weight, 0);
  }

  /** How many numbers were handed out. */
  get count(): number {
    return this.drawn;
  }

  next(): string {
    // Deterministic weighted round robin: the range furthest behind its share goes next.
    this.drawn++;
    let pick = 0;
    let worst = Infinity;
    this.ranges.forEach((r, i) => {
      const ratio = this.counters[i]! / r.weight;
      if (ratio < worst) {
        worst = ratio;
        pick = i;
      }
    });
    const range = this.ranges[pick]!;
    const k = this.counters[pick]!++;
    if (k >= range.space) throw new Error(`destination range ${range.prefix} exhausted`);
    const local = range.base + ((k * SCATTER + this.offsets[pick]!) % range.space);
    return `${range.prefix}${String(local).padStart(range.digits, '0')}`;
  }

  /** ISO country of a number from this pool's ranges. */
  countryOf(e164: string): string | undefined {
    return this.ranges.find((r) => e164.startsWith(r.prefix))?.country;
  }
}

/** A random IPv4 address in public-looking space: one simulated customer's device. */
export function randomIp(): string {
  return `${randomInt(11, 190)}.${randomInt(0, 256)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
}
