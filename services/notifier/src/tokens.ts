/** Injection tokens of the notifier. */
export const NOTIFIER_CONFIG = Symbol('NOTIFIER_CONFIG');
export const NOTIFIER_REDIS = Symbol('NOTIFIER_REDIS');
