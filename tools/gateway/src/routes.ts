/**
 * Which service answers which public route (API.md). The same table drives
 * deploy/nginx/nginx.conf, the Kubernetes Ingress and the local gateway of
 * `npm start`; a test keeps nginx.conf in step with it.
 */
export type Upstream = 'identity' | 'otp' | 'notifier' | 'delivery-otp';

export const ROUTES: readonly { pattern: RegExp; upstream: Upstream }[] = [
  { pattern: /^\/v1\/accounts\/[^/]+\/(authenticators|backup-codes)(\/|$|\?)/, upstream: 'otp' },
  { pattern: /^\/v1\/accounts\/[^/]+\/notification-preferences(\/|$|\?)/, upstream: 'notifier' },
  { pattern: /^\/v1\/(accounts|sessions|password-resets)(\/|$|\?)/, upstream: 'identity' },
  { pattern: /^\/\.well-known\/jwks\.json$/, upstream: 'identity' },
  { pattern: /^\/v1\/verifications(\/|$|\?)/, upstream: 'otp' },
  { pattern: /^\/v1\/(notifications|messages|carriers)(\/|$|\?)/, upstream: 'notifier' },
  { pattern: /^\/v1\/(shipments|couriers)(\/|$|\?)/, upstream: 'delivery-otp' },
];

export function upstreamFor(url: string): Upstream | undefined {
  const path = url.split('?')[0] ?? url;
  return ROUTES.find((r) => r.pattern.test(path))?.upstream;
}
