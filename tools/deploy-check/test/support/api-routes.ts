import type { ServiceName } from './tools.helper';

/**
 * Every public route (with sample ids), and the service that owns it: API.md's
 * and every other route a service's controllers declare (routes.integration-spec.ts
 * keeps this list complete against the code and the local gateway's table). The
 * gateway (nginx) and the Ingress are both checked against this list.
 */
export const API_ROUTES: readonly (readonly [
  method: string,
  path: string,
  service: ServiceName,
])[] = [
  ['POST', '/v1/accounts', 'identity'],
  ['GET', '/v1/accounts/3c2d1e0f', 'identity'],
  ['POST', '/v1/accounts/3c2d1e0f/phones', 'identity'],
  ['POST', '/v1/accounts/3c2d1e0f/phones/p1/verify', 'identity'],
  ['POST', '/v1/accounts/3c2d1e0f/phones/p1/resend', 'identity'],
  ['PUT', '/v1/accounts/3c2d1e0f/phones/p1', 'identity'],
  ['POST', '/v1/accounts/3c2d1e0f/phones/p1/primary', 'identity'],
  ['DELETE', '/v1/accounts/3c2d1e0f/phones/p1', 'identity'],
  ['GET', '/v1/accounts/3c2d1e0f/two-step', 'identity'],
  ['PUT', '/v1/accounts/3c2d1e0f/two-step', 'identity'],
  ['POST', '/v1/accounts/3c2d1e0f/two-step/step-up', 'identity'],
  ['POST', '/v1/accounts/3c2d1e0f/two-step/step-up/u1/verify', 'identity'],
  ['DELETE', '/v1/accounts/3c2d1e0f/devices/d1', 'identity'],
  ['POST', '/v1/sessions', 'identity'],
  ['POST', '/v1/sessions/l1/verify', 'identity'],
  ['POST', '/v1/sessions/l1/resend', 'identity'],
  ['GET', '/v1/sessions/s1', 'identity'],
  ['GET', '/.well-known/jwks.json', 'identity'],
  ['POST', '/v1/password-resets', 'identity'],
  ['POST', '/v1/password-resets/r1/complete', 'identity'],
  ['POST', '/v1/verifications', 'otp'],
  ['POST', '/v1/verifications/v1/check', 'otp'],
  ['POST', '/v1/verifications/v1/resend', 'otp'],
  ['GET', '/v1/verifications/v1', 'otp'],
  ['GET', '/v1/verifications/v1/report', 'otp'],
  ['POST', '/v1/verifications/v1/report', 'otp'],
  ['POST', '/v1/accounts/3c2d1e0f/authenticators/totp', 'otp'],
  ['POST', '/v1/accounts/3c2d1e0f/authenticators/totp/t1/confirm', 'otp'],
  ['POST', '/v1/accounts/3c2d1e0f/backup-codes', 'otp'],
  ['POST', '/v1/notifications', 'notifier'],
  ['GET', '/v1/messages/m1', 'notifier'],
  ['GET', '/v1/carriers', 'notifier'],
  ['POST', '/v1/carriers/smpp-a/receipts', 'notifier'],
  ['PUT', '/v1/accounts/3c2d1e0f/notification-preferences', 'notifier'],
  ['POST', '/v1/shipments/s1/out-for-delivery', 'delivery-otp'],
  ['POST', '/v1/shipments/s1/reschedule', 'delivery-otp'],
  ['POST', '/v1/shipments/s1/cancel', 'delivery-otp'],
  ['GET', '/v1/shipments/s1/code?accountId=3c2d1e0f', 'delivery-otp'],
  ['POST', '/v1/shipments/s1/code/regenerate', 'delivery-otp'],
  ['POST', '/v1/couriers/c1/devices', 'delivery-otp'],
  ['DELETE', '/v1/couriers/c1/devices/d1', 'delivery-otp'],
  ['POST', '/v1/shipments/s1/handoff', 'delivery-otp'],
  ['POST', '/v1/shipments/s1/unlock', 'delivery-otp'],
];

/** Paths that no public entry may expose. */
export const PRIVATE_PATHS: readonly string[] = [
  '/metrics',
  '/health/ready',
  '/health/live',
  '/docs',
  '/docs-json',
  '/',
  '/v1',
  '/v1/unknown',
  '/v1/accountsx',
  '/v1/sessionsx/1',
  '/dev/inbox',
  '/_sim/messages',
];
