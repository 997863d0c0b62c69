/**
 * DEV-ONLY key material, one set for every service so that services started
 * without configuration (tests, `npm start`) can read each other's encrypted
 * bus fields. Services use these only when NODE_ENV is not `production`; a
 * production start without the real variables fails naming them (L3).
 */
const devKey = (text: string) => `dev1:${Buffer.from(text).toString('base64')}`;

export const DEV_KEYS = {
  /** The key `dev` holds every scope (API.md, embedded mode). */
  apiKeys: 'dev:storefront+logistics+ops',
  bus: devKey('phonegate-dev-bus-key-32-bytes!!'),
  hmac: devKey('phonegate-dev-hmac-key-32-bytes!'),
  secret: devKey('phonegate-dev-secret-key-32-byte'),
  jwt: devKey('phonegate-dev-jwt-signing-key-32b'.slice(0, 32)),
} as const;
