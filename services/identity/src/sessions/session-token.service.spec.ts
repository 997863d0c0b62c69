import { randomBytes } from 'node:crypto';
import { createPrivateKey } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { SessionTokenService } from './session-token.service';

const settings = { issuer: 'iss', audience: 'aud', ttlMs: 3_600_000 };
const ring = (...kids: string[]) => ({ activeKeyId: kids[0]!, keys: new Map(kids.map((k) => [k, randomBytes(32)])) });
const claims = { accountId: 'acc-1', sessionId: 'sid-1', deviceId: 'dev-1', amr: ['pwd', 'sms'] };

describe('SessionTokenService', () => {
  it('signs EdDSA tokens with the active kid that the JWKS verifies', async () => {
    const tokens = new SessionTokenService(ring('k1'), undefined, settings);
    const now = new Date();
    const { token, expiresAt } = await tokens.sign(claims, now);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'EdDSA', kid: 'k1' });
    expect(expiresAt.getTime() - now.getTime()).toBeLessThanOrEqual(3_600_000);
    const { payload } = await jwtVerify(token, createLocalJWKSet(await tokens.publicJwks()), { issuer: 'iss', audience: 'aud' });
    expect(payload).toMatchObject({ sub: 'acc-1', sid: 'sid-1', did: 'dev-1', amr: ['pwd', 'sms'] });
  });

  it('publishes every configured key for rotation and signs with the chosen one', async () => {
    const keys = ring('old', 'new');
    const tokens = new SessionTokenService(keys, 'new', settings);
    const jwks = await tokens.publicJwks();
    expect(jwks.keys.map((k) => k.kid)).toEqual(['old', 'new']);
    expect(jwks.keys.every((k) => !('d' in k))).toBe(true);
    expect(decodeProtectedHeader((await tokens.sign(claims, new Date())).token).kid).toBe('new');
    // A token of the old key still verifies while the key is published.
    const old = new SessionTokenService(keys, 'old', settings);
    expect((await tokens.verify((await old.sign(claims, new Date())).token, new Date())).sid).toBe('sid-1');
  });

  it('signs exactly the token jose would (Ed25519 is deterministic)', async () => {
    const keys = ring('k1');
    const tokens = new SessionTokenService(keys, undefined, settings);
    const now = new Date(1_763_800_000_123);
    const { token } = await tokens.sign(claims, now);
    const seed = keys.keys.get('k1')!;
    const privateKey = createPrivateKey({
      key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
      format: 'der',
      type: 'pkcs8',
    });
    const iat = Math.floor(now.getTime() / 1000);
    const expected = await new SignJWT({ sid: 'sid-1', did: 'dev-1', amr: ['pwd', 'sms'] })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'k1', typ: 'JWT' })
      .setIssuer('iss')
      .setAudience('aud')
      .setSubject('acc-1')
      .setJti('sid-1')
      .setIssuedAt(iat)
      .setExpirationTime(iat + 3_600)
      .sign(privateKey);
    expect(token).toBe(expected);
  });

  it('refuses an expired token and a token of an unknown key', async () => {
    const tokens = new SessionTokenService(ring('k1'), undefined, settings);
    const { token } = await tokens.sign(claims, new Date(Date.now() - 2 * 3_600_000));
    await expect(tokens.verify(token, new Date())).rejects.toThrow();
    const other = new SessionTokenService(ring('k2'), undefined, settings);
    await expect(tokens.verify((await other.sign(claims, new Date())).token, new Date())).rejects.toThrow();
  });
});
