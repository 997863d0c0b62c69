import type { Channel } from '../carrier.types';

/** Which carriers may take which destinations. */
export interface RouteRule {
  carrierId: string;
  channels: readonly Channel[];
  /** E.164 prefixes (`+1`, `+44`, `+4915`) or `*` for any. E-mail ignores them. */
  countries: readonly string[];
}

/** Carrier ids in order of preference, per channel. */
export type Preferences = Partial<Record<Channel, readonly string[]>>;

/**
 * The carriers to try for a message, in preference order: those configured for the channel
 * whose country list matches the destination (a `*` or an E.164 prefix of it). Pure.
 */
export function routeCandidates(
  channel: Channel,
  to: string,
  preferences: Preferences,
  rules: readonly RouteRule[],
): string[] {
  const byId = new Map(rules.map((r) => [r.carrierId, r]));
  const out: string[] = [];
  for (const id of preferences[channel] ?? []) {
    const rule = byId.get(id);
    if (!rule || !rule.channels.includes(channel) || out.includes(id)) continue;
    if (
      channel !== 'email' &&
      !rule.countries.some((c) => c === '*' || (c.startsWith('+') && to.startsWith(c)))
    )
      continue;
    out.push(id);
  }
  return out;
}
