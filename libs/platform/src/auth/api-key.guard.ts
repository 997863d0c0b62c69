import {
  type CanActivate,
  type ExecutionContext,
  Inject,
  Injectable,
  Optional,
  SetMetadata,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import * as cryptoModule from 'node:crypto';
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
      if (idx <= 0 || key.length < 3 || scopes.length === 0)
        throw new Error('API_KEYS entries are key:scope[+scope]');
      const digest = sha256(key);
      return { id: `key_${digest.toString('hex').slice(0, 8)}`, digest, scopes };
    });
}

/** SHA-256 of a key; Node's one-shot `crypto.hash` where there is one (≈ 40 % cheaper than a Hash object). */
const sha256: (text: string) => Buffer =
  typeof (cryptoModule as { hash?: unknown }).hash === 'function'
    ? (text) =>
        (
          cryptoModule as unknown as { hash(alg: string, data: string, enc: 'buffer'): Buffer }
        ).hash('sha256', text, 'buffer')
    : (text) => createHash('sha256').update(text).digest();

export function principalOf(request: FastifyRequest): Principal | undefined {
  return (request as FastifyRequest & { principal?: Principal }).principal;
}

/** What a route asks of the caller, read from its decorators once per handler. */
interface RouteAccess {
  open: boolean;
  required?: Scope[];
}

const BEARER = /^Bearer\s+/i;

@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly access = new WeakMap<object, RouteAccess>();

  constructor(
    private readonly reflector: Reflector,
    @Inject(API_KEYS) private readonly keys: ConfiguredKey[],
    @Optional() @Inject(PRINCIPAL_RESOLVER) private readonly resolver?: PrincipalResolver,
  ) {}

  /** Synchronous for the configured keys (no promise a request); a resolver (device secrets) may make it async. */
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const { open, required } = this.accessOf(context);
    if (open || !required) return true;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const header = request.headers.authorization;
    const token =
      typeof header === 'string' && BEARER.test(header) ? header.replace(BEARER, '').trim() : '';
    if (!token)
      throw new DomainError('unauthorized', 'Send an API key as "Authorization: Bearer <key>".');
    const configured = this.configured(token);
    if (configured || !this.resolver) return this.admit(request, configured, required);
    return this.resolver
      .resolve(token)
      .then((principal) => this.admit(request, principal, required));
  }

  private accessOf(context: ExecutionContext): RouteAccess {
    const handler = context.getHandler();
    let access = this.access.get(handler);
    if (!access) {
      const targets = [handler, context.getClass()];
      const required = this.reflector.getAllAndOverride<Scope[] | undefined>(SCOPES, targets);
      access = {
        open: this.reflector.getAllAndOverride<boolean>(PUBLIC, targets) === true,
        ...(required ? { required } : {}),
      };
      this.access.set(handler, access);
    }
    return access;
  }

  private admit(
    request: FastifyRequest,
    principal: Principal | undefined,
    required: Scope[],
  ): boolean {
    if (!principal) throw new DomainError('unauthorized', 'The API key is not valid.');
    (request as FastifyRequest & { principal?: Principal }).principal = principal;
    if (!required.some((s) => principal.scopes.includes(s))) {
      throw new DomainError('forbidden', `This key lacks the scope: ${required.join(' or ')}.`);
    }
    return true;
  }

  private configured(token: string): Principal | undefined {
    const digest = sha256(token);
    // Compare against every key so the time does not depend on which one matched.
    let found: ConfiguredKey | undefined;
    for (const key of this.keys) if (timingSafeEqual(key.digest, digest)) found = key;
    return found ? { kind: 'client', id: found.id, scopes: found.scopes } : undefined;
  }
}
