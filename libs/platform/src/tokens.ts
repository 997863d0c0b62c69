/** Injection tokens of the platform. */
export const PLATFORM_LOGGER = Symbol('PLATFORM_LOGGER');
export const PLATFORM_REDIS = Symbol('PLATFORM_REDIS');
export const PLATFORM_OPTIONS = Symbol('PLATFORM_OPTIONS');
export const HEALTH_CHECKS = Symbol('HEALTH_CHECKS');
