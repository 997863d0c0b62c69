import { ChallengeRefs } from './challenge-ref';

const key = (byte: number) => Buffer.alloc(32, byte);
const ring = (...ids: string[]) => ({ activeKeyId: ids[0]!, keys: new Map(ids.map((id, i) => [id, key(i + 1)])) });
const phoneId = '5f0c7c1a-7a9e-4c57-8d0e-4a1c2b3d4e5f';
const number = '+14155550123';

describe('ChallengeRefs', () => {
  it('names the phone and binds the number without carrying it (L1)', () => {
    const ref = new ChallengeRefs(ring('k1')).of(phoneId, number);
    expect(ref.startsWith(`${phoneId}|`)).toBe(true);
    expect(ref).not.toContain(number.slice(1, -2));
    expect(ref).not.toContain('4155550123');
    expect(ref.length).toBeLessThanOrEqual(200);
  });

  it('is the same for the same phone and number, and another for another number or phone (C6)', () => {
    const refs = new ChallengeRefs(ring('k1'));
    expect(refs.of(phoneId, number)).toBe(new ChallengeRefs(ring('k1')).of(phoneId, number));
    expect(refs.of(phoneId, '+14155550124')).not.toBe(refs.of(phoneId, number));
    expect(refs.of('6f0c7c1a-7a9e-4c57-8d0e-4a1c2b3d4e5f', number)).not.toBe(refs.of(phoneId, number));
  });

  it('depends on the key, and after a rotation still finds a reference made under an older key', () => {
    const before = new ChallengeRefs(ring('k1')).of(phoneId, number);
    const rotated = new ChallengeRefs({ activeKeyId: 'k2', keys: new Map([['k1', key(1)], ['k2', key(2)]]) });
    expect(rotated.of(phoneId, number)).not.toBe(before);
    expect(rotated.all(phoneId, number)).toEqual([rotated.of(phoneId, number), before]);
  });
});
