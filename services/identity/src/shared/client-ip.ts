import { isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';

/**
 * The end user's IP for per-IP limits, when the storefront backend passes it
 * in `x-client-ip`. The caller's own address is not used: it is the
 * storefront backend's, and would lump every user together.
 */
export function clientIp(request: FastifyRequest): string | undefined {
  const header = request.headers['x-client-ip'];
  const value = typeof header === 'string' ? header.trim() : '';
  return isIP(value) ? value : undefined;
}

/** The gateway's GeoIP country for the caller, if it sent one. */
export function clientCountry(request: FastifyRequest): string | undefined {
  const header = request.headers['x-client-country'];
  return typeof header === 'string' ? header : undefined;
}
