import { type CanActivate, type ExecutionContext, Inject, Injectable, Optional, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../errors/domain-error';

export type Scope = 'storefront' | 'logistics' | 'ops' | 'courier' | 'carrier';

export interface Principal {
  kind: 'client' | 'device';
  id: string;
  scopes: readonly Scope[];
  /** For courier devices: the courier the device belongs to. */
  courierId?: string;
}

/** A source of principals beyond the configured keys (e.g. courier device secrets). */
export interface PrincipalResolver {
  resolve(token: string): Promise<Principal | undefined>;
}

export const API_KEYS = Symbol('API_KEYS');
export const PRINCIPAL_RESOLVER = Symbol('PRINCIPAL_RESOLVER');
const SCOPES = 'phonegate:scopes';
const PUBLIC = 'phonegate:public';

/** Routes need a key holding at least one of these scopes. */
export const Scopes = (...scopes: Scope[]) => SetMetadata(SCOPES, scopes);
/** Routes open to anyone (health, metrics, JWKS, carrier webhooks with their own check). */
export const Public = () => SetMetadata(PUBLIC, true);

export interface ConfiguredKey {
  id: string;
  digest: Buffer;
  scopes: Scope[];
}

/**
 * Parses `API_KEYS`: `key:scope+scope,key2:scope`. Keys are kept only as
 * SHA-256 digests; ids are the first 8 hex of the digest (for logs).
 */
export function parseApiKeys(text: string): ConfiguredKey[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const idx = entry.lastIndexOf(':');
      const key = entry.slice(0, idx);
      const scopes = entry
        .slice(idx + 1)
        .split('+')
        .filter(Boolean) as Scope[];
      if (idx <= 0 || key.length < 3 || scopes.length === 0) throw new Error('API_KEYS entries are key:scope[+scope]');
      const digest = sha256(key);
      return { id: `key_${digest.toString('hex').slice(0, 8)}`, digest, scopes };
    });
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export function principalOf(request: FastifyRequest): Principal | undefined {
  return (request as FastifyRequest & { principal?: Principal }).principal;
}

@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(API_KEYS) private readonly keys: ConfiguredKey[],
    @Optional() @Inject(PRINCIPAL_RESOLVER) private readonly resolver?: PrincipalResolver,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, targets)) return true;
    const required = this.reflector.getAllAndOverride<Scope[]>(SCOPES, targets);
    if (!required) return true;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const header = request.headers.authorization;
    const token = typeof header === 'string' && /^Bearer\s+/i.test(header) ? header.replace(/^Bearer\s+/i, '').trim() : '';
    if (!token) throw new DomainError('unauthorized', 'Send an API key as "Authorization: Bearer <key>".');
    const principal = await this.identify(token);
    if (!principal) throw new DomainError('unauthorized', 'The API key is not valid.');
    (request as FastifyRequest & { principal?: Principal }).principal = principal;
    if (!required.some((s) => principal.scopes.includes(s))) {
      throw new DomainError('forbidden', `This key lacks the scope: ${required.join(' or ')}.`);
    }
    return true;
  }

  private async identify(token: string): Promise<Principal | undefined> {
    const digest = sha256(token);
    // Compare against every key so the time does not depend on which one matched.
    let found: ConfiguredKey | undefined;
    for (const key of this.keys) if (timingSafeEqual(key.digest, digest)) found = key;
    if (found) return { kind: 'client', id: found.id, scopes: found.scopes };
    return this.resolver?.resolve(token);
  }
}
