import { z } from 'zod';
import { e164 } from './common';
import { COMMAND_CATALOGUE, EVENT_CATALOGUE } from './index';

/**
 * SECURITY L1: no full phone number at rest on the bus (outbox rows, queues,
 * DLQs). Every field that can hold one must be among its contract's sensitive
 * paths, which the transport encrypts; these tests catch a new field that is not.
 */

/** Eight or more digits in a row (`+` optional), or a `+` number written with spaces, dots, dashes or brackets. */
function looksLikePhoneNumber(value: string): boolean {
  if (/\d{8,}/.test(value)) return true;
  return [...value.matchAll(/\+[\d\s().-]+/g)].some((m) => m[0].replace(/\D/g, '').length >= 8);
}

/** Dotted paths of the string leaves of `value` that look like phone numbers. */
function phoneLikePaths(value: unknown, path = ''): string[] {
  if (typeof value === 'string') return looksLikePhoneNumber(value) ? [path] : [];
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => phoneLikePaths(v, path ? `${path}.${k}` : k));
}

/** Dotted paths of the fields a schema types as `e164` (`*` for a record's values, `[]` for array items). */
function e164Paths(schema: z.ZodType, path = ''): string[] {
  if (schema === e164) return [path];
  const def = schema.def as unknown as Record<string, unknown> & { type: string };
  const at = (key: string) => (path ? `${path}.${key}` : key);
  switch (def.type) {
    case 'object':
      return Object.entries(def['shape'] as Record<string, z.ZodType>).flatMap(([k, s]) => e164Paths(s, at(k)));
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return e164Paths(def['innerType'] as z.ZodType, path);
    case 'array':
      return e164Paths(def['element'] as z.ZodType, at('[]'));
    case 'record':
      return e164Paths(def['valueType'] as z.ZodType, at('*'));
    case 'union':
      return [...new Set((def['options'] as z.ZodType[]).flatMap((o) => e164Paths(o, path)))];
    case 'pipe':
      return e164Paths(def['in'] as z.ZodType, path);
    default:
      return [];
  }
}

const outside = (paths: string[], sensitive: readonly string[]) => paths.filter((p) => !sensitive.includes(p));

describe('phone numbers in contracts (L1)', () => {
  it.each([
    ['+14155550123', true],
    ['14155550123', true],
    ['4155550123', true],
    ['+1 415 555 0123', true],
    ['+44 (20) 7946-0958', true],
    ['+33.1.42.68.53.00', true],
    ['call 07700900123 now', true],
    ['+1 ••• ••• ••23', false],
    ['0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10', false],
    ['2026-11-22T10:05:00.000Z', false],
    ['otp:3c2d1e0f-2222-4a57-9a52-1d1c0f6a3b10:1', false],
    ['203.0.113.7', false],
    ['123456', false],
    ['ana@example.com', false],
  ] as const)('the check takes %s for a phone number: %s', (value, phone) => {
    expect(looksLikePhoneNumber(value)).toBe(phone);
  });

  it('finds a number planted anywhere in a payload, by path', () => {
    expect(phoneLikePaths({ a: 'x', b: { c: '+14155550123', d: [1, '4155550123'] } })).toEqual(['b.c', 'b.d.1']);
  });

  it.each(EVENT_CATALOGUE.map((c) => [c.type, c] as const))(
    '%s: no string of its example outside the sensitive paths looks like a phone number',
    (_type, contract) => {
      expect(outside(phoneLikePaths(contract.example), contract.sensitive)).toEqual([]);
    },
  );

  it.each(EVENT_CATALOGUE.map((c) => [c.type, c] as const))('%s: every E.164 field of its schema is sensitive', (_type, contract) => {
    expect(outside(e164Paths(contract.schema), contract.sensitive)).toEqual([]);
  });

  it.each(COMMAND_CATALOGUE.map((c) => [c.pattern, c] as const))(
    '%s: no string of its example request or response outside the sensitive paths looks like a phone number',
    (_pattern, command) => {
      expect(outside(phoneLikePaths(command.exampleRequest), command.sensitive)).toEqual([]);
      expect(outside(phoneLikePaths(command.exampleResponse), command.sensitiveResponse)).toEqual([]);
    },
  );

  it.each(COMMAND_CATALOGUE.map((c) => [c.pattern, c] as const))('%s: every E.164 field of its request and response is sensitive', (_pattern, command) => {
    expect(outside(e164Paths(command.request), command.sensitive)).toEqual([]);
    expect(outside(e164Paths(command.response), command.sensitiveResponse)).toEqual([]);
  });

  it('sees the E.164 fields of a schema wherever they are nested', () => {
    const schema = z.object({
      a: e164,
      b: z.object({ c: e164.optional() }).nullable(),
      d: z.array(e164),
      r: z.record(z.string(), e164),
      s: z.string(),
    });
    expect(e164Paths(schema)).toEqual(['a', 'b.c', 'd.[]', 'r.*']);
  });
});
