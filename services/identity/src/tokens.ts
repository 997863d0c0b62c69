/** Injection tokens of the identity service (ports and passed-in dependencies). */
export const IDENTITY_CONFIG = Symbol('IDENTITY_CONFIG');
export const IDENTITY_REDIS = Symbol('IDENTITY_REDIS');
export const OTP_GATEWAY = Symbol('OTP_GATEWAY');
export const PASSWORD_HASHER = Symbol('PASSWORD_HASHER');
export const EVENT_OUTBOX = Symbol('EVENT_OUTBOX');
