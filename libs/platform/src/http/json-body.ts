import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DomainError } from '../errors/domain-error';

type Done = (error: Error | null, body?: unknown) => void;

/**
 * The key that makes Fastify's secure JSON parser refuse a well-formed document: an own
 * `__proto__` key, or a `constructor` object with an own `prototype` key (anywhere in it).
 */
export function forbiddenJsonKey(
  value: unknown,
): '__proto__' | 'constructor.prototype' | undefined {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const node = pending.pop();
    if (!node || typeof node !== 'object') continue;
    if (Object.hasOwn(node, '__proto__')) return '__proto__';
    if (Object.hasOwn(node, 'constructor')) {
      const ctor: unknown = (node as { constructor: unknown }).constructor;
      if (ctor && typeof ctor === 'object' && Object.hasOwn(ctor, 'prototype'))
        return 'constructor.prototype';
    }
    pending.push(...Object.values(node));
  }
  return undefined;
}

/** Why a body Fastify could not take is refused, when it is JSON after all; undefined otherwise. */
function forbiddenKeyIn(text: string): string | undefined {
  try {
    return forbiddenJsonKey(JSON.parse(text.replace(/^\uFEFF/, '')));
  } catch {
    return undefined; // not JSON: Fastify's answer stands
  }
}

/**
 * Fastify's own JSON body parser (secure: `__proto__` and `constructor.prototype` are refused),
 * except that a well-formed document refused for such a key is answered as what it is (a 400
 * `malformed_request` naming the forbidden key) rather than as "not valid JSON". Only a body
 * Fastify refused is looked at again.
 */
export function jsonBodyParser(fastify: FastifyInstance) {
  const { onProtoPoisoning, onConstructorPoisoning } = fastify.initialConfig;
  // Fastify's default JSON parser is the callback kind.
  const parse = fastify.getDefaultJsonParser(
    onProtoPoisoning ?? 'error',
    onConstructorPoisoning ?? 'error',
  ) as (request: FastifyRequest, body: string, done: Done) => void;
  return (request: FastifyRequest, body: Buffer, done: Done): void => {
    const text = body.toString();
    parse(request, text, (error, value) => {
      const key = error ? forbiddenKeyIn(text) : undefined;
      if (key === undefined) return done(error, value);
      done(
        new DomainError(
          'malformed_request',
          `The body is well-formed JSON but has a forbidden key ${key}, which is never accepted: rename or remove it.`,
        ),
      );
    });
  };
}
