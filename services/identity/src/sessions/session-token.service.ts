import { createPrivateKey, createPublicKey, type KeyObject, sign } from 'node:crypto';
import { exportJWK, type JWK, jwtVerify } from 'jose';
import type { Keyring } from '@phonegate/platform';

/** PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface SessionClaims {
  accountId: string;
  sessionId: string;
  deviceId: string;
  /** Authentication methods (RFC 8176 style): pwd, sms, voice, email, otp, totp, backup. */
  amr: string[];
}

export interface TokenSettings {
  issuer: string;
  audience: string;
  ttlMs: number;
}

/**
 * Signs session tokens (JWT, EdDSA over Ed25519) with the active key and
 * publishes every configured key in the JWKS, so keys rotate: add a new key
 * first in JWT_KEYS, keep the old one until its tokens expired (L3).
 */
export class SessionTokenService {
  private readonly keys: { kid: string; privateKey: KeyObject; publicKey: KeyObject }[];
  private readonly active: { kid: string; privateKey: KeyObject };
  /** The encoded protected header of the active key (the same for every token). */
  private readonly header: string;
  private jwks: { keys: JWK[] } | undefined;

  constructor(
    keyring: Keyring,
    activeKeyId: string | undefined,
    private readonly settings: TokenSettings,
  ) {
    this.keys = [...keyring.keys.entries()].map(([kid, seed]) => {
      const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
      return { kid, privateKey, publicKey: createPublicKey(privateKey) };
    });
    const wanted = activeKeyId ?? keyring.activeKeyId;
    const active = this.keys.find((k) => k.kid === wanted);
    if (!active) throw new Error(`JWT key ${wanted} is not configured`);
    this.active = active;
    this.header = base64url(JSON.stringify({ alg: 'EdDSA', kid: active.kid, typ: 'JWT' }));
  }

  async sign(claims: SessionClaims, now: Date): Promise<{ token: string; expiresAt: Date }> {
    const iat = Math.floor(now.getTime() / 1000);
    const exp = iat + Math.floor(this.settings.ttlMs / 1000);
    // A compact JWS (RFC 7515) signed with node:crypto straight from the key object: jose's
    // SignJWT turned the key into a WebCrypto key and signed on a job, for every token.
    const payload = base64url(
      JSON.stringify({
        sid: claims.sessionId,
        did: claims.deviceId,
        amr: claims.amr,
        iss: this.settings.issuer,
        aud: this.settings.audience,
        sub: claims.accountId,
        jti: claims.sessionId,
        iat,
        exp,
      }),
    );
    const input = `${this.header}.${payload}`;
    const signature = sign(null, Buffer.from(input), this.active.privateKey).toString('base64url');
    return { token: `${input}.${signature}`, expiresAt: new Date(exp * 1000) };
  }

  /** The public keys, for GET /.well-known/jwks.json. */
  async publicJwks(): Promise<{ keys: JWK[] }> {
    if (!this.jwks) {
      const keys = await Promise.all(
        this.keys.map(async (k) => ({ ...(await exportJWK(k.publicKey)), kid: k.kid, alg: 'EdDSA', use: 'sig' })),
      );
      this.jwks = { keys };
    }
    return this.jwks;
  }

  /** Verifies a token of ours (tests, introspection). */
  async verify(token: string, now: Date): Promise<{ sub: string; sid: string }> {
    const { payload } = await jwtVerify(
      token,
      async (header) => {
        const key = this.keys.find((k) => k.kid === header.kid);
        if (!key) throw new Error('unknown kid');
        return key.publicKey;
      },
      { issuer: this.settings.issuer, audience: this.settings.audience, currentDate: now, algorithms: ['EdDSA'] },
    );
    return { sub: String(payload.sub), sid: String(payload['sid']) };
  }
}

function base64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}
