import { pooledRandomBytes } from './random-pool';

describe('pooledRandomBytes', () => {
  it('hands out slices of the asked size that never repeat, across refills', () => {
    const seen = new Set<string>();
    // 12-byte IVs: 4096 / 12 per fill, so this crosses about 30 refills.
    for (let i = 0; i < 10_000; i++) {
      const iv = pooledRandomBytes(12);
      expect(iv).toHaveLength(12);
      seen.add(iv.toString('hex'));
    }
    expect(seen.size).toBe(10_000);
  });

  it('keeps bytes already handed out when the pool refills', () => {
    const first = pooledRandomBytes(32);
    const copy = Buffer.from(first);
    for (let i = 0; i < 500; i++) pooledRandomBytes(16);
    expect(first.equals(copy)).toBe(true);
  });

  it('looks uniformly random (every byte value, balanced bits)', () => {
    const counts = new Array<number>(256).fill(0);
    let ones = 0;
    const n = 64_000;
    for (let i = 0; i < n / 16; i++) {
      for (const b of pooledRandomBytes(16)) {
        counts[b] = (counts[b] ?? 0) + 1;
        for (let v = b; v; v >>= 1) ones += v & 1;
      }
    }
    expect(Math.min(...counts)).toBeGreaterThan(0);
    // 512,000 bits: a fair source lands within ±0.5 % of half (over 7 standard deviations).
    expect(Math.abs(ones / (n * 8) - 0.5)).toBeLessThan(0.005);
  });

  it('serves large and zero sizes and refuses nonsense', () => {
    expect(pooledRandomBytes(0)).toHaveLength(0);
    expect(pooledRandomBytes(1000)).toHaveLength(1000);
    expect(() => pooledRandomBytes(-1)).toThrow(RangeError);
    expect(() => pooledRandomBytes(1.5)).toThrow(RangeError);
  });
});
