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
    pending.push(...(Object.values(node) as unknown[]));
  }
  return undefined;
}

/**
 * How deep a JSON body may nest objects and arrays: far more than any route takes (the deepest
 * bodies nest three or four levels). A body is parsed before any guard runs, so what is done
 * with it is work anyone can make a service do; a deeper one is refused at once (400) before
 * anything walks it (a 64 KiB body is otherwise ten thousand levels deep: walking its paths
 * took a fifth of a second, and JSON.stringify of it, an Idempotency-Key's fingerprint,
 * overflowed the stack: 500).
 */
export const MAX_JSON_DEPTH = 32;

/** Whether `value` nests objects and arrays more than `max` levels deep (`{}` is one level). */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const nodes: unknown[] = [value];
  const depths: number[] = [1];
  while (nodes.length > 0) {
    const node = nodes.pop();
    const depth = depths.pop() as number;
    if (!node || typeof node !== 'object') continue;
    if (depth > max) return true;
    for (const child of Array.isArray(node) ? (node as unknown[]) : Object.values(node)) {
      if (child && typeof child === 'object') {
        nodes.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

/**
 * The path (dotted, as validation errors name fields) of the first string or key in `value` that
 * holds a NUL character, which no text column can store (PostgreSQL refuses it): undefined when
 * there is none.
 */
export function nulCharacterAt(value: unknown): string | undefined {
  const pending: [unknown, string[]][] = [[value, []]];
  while (pending.length > 0) {
    const [node, path] = pending.pop() as [unknown, string[]];
    if (typeof node === 'string') {
      if (node.includes('\0')) return path.join('.') || '(body)';
      continue;
    }
    if (!node || typeof node !== 'object') continue;
    for (const [key, child] of Object.entries(node)) {
      if (key.includes('\0')) return [...path, key].join('.');
      pending.push([child, [...path, key]]);
    }
  }
  return undefined;
}

/**
 * A Fastify preValidation hook: a NUL character in a path or query parameter (`%00`, which the
 * router decodes) is refused like one in a body (422 naming the parameter), before any guard or
 * handler: an id with a NUL in it names nothing, and the database would refuse it (a false 503).
 */
export function refuseNulInParameters(
  request: FastifyRequest,
  _reply: unknown,
  done: (error?: Error) => void,
): void {
  // A NUL reaches a parameter only written `%00` in the URL: most requests are looked at no further.
  if (!request.url.includes('%00')) return done();
  const field = nulCharacterAt(request.params) ?? nulCharacterAt(request.query);
  done(field === undefined ? undefined : nulRefusal(field));
}

/** 422 `validation_failed` naming the field that holds a NUL character. */
export function nulRefusal(field: string): DomainError {
  return new DomainError('validation_failed', 'The request has invalid fields.', {
    errors: [
      { field, code: 'invalid_characters', message: 'must not contain a NUL character (\\u0000)' },
    ],
  });
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
 * Fastify refused is looked at again. A body nested more than MAX_JSON_DEPTH levels deep is
 * refused as malformed (400) before anything else looks at it. A NUL character in a string or
 * key (only ever written `\u0000` in JSON) is refused with 422 naming the field: no text column
 * stores it, and a service would answer 500 for the database's refusal after doing part of its
 * work.
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
      if (!error && nestedDeeperThan(value, MAX_JSON_DEPTH)) {
        return done(
          new DomainError(
            'malformed_request',
            `The body nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep, which no route takes.`,
          ),
        );
      }
      if (!error && text.includes('\\u0000')) {
        const field = nulCharacterAt(value);
        if (field !== undefined) return done(nulRefusal(field));
      }
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
