import { DomainError } from '@phonegate/platform';
import { z } from 'zod';
import { classifyFailure, ContractViolationError, DecryptError } from './errors';

describe('classifyFailure', () => {
  it('parks errors that say they are not retryable, contract violations and undecryptable fields', () => {
    expect(classifyFailure(new DomainError('conflict', 'never'))).toEqual({
      retryable: false,
      reason: 'conflict: never',
    });
    expect(classifyFailure(new DecryptError('bad key')).retryable).toBe(false);
    expect(
      classifyFailure(new ContractViolationError('a.b.v1', [{ path: 'n', code: 'too_small' }]))
        .retryable,
    ).toBe(false);
    const zodError = z.object({ n: z.number() }).safeParse({ n: 'x' }).error;
    expect(classifyFailure(zodError)).toEqual({
      retryable: false,
      reason: 'ContractViolationError: payload does not match its contract: n invalid_type',
    });
  });

  it('retries anything else, including a 5xx DomainError and Nest-wrapped errors', () => {
    expect(classifyFailure(new DomainError('service_unavailable', 'carrier down')).retryable).toBe(
      true,
    );
    expect(classifyFailure(new Error('ECONNRESET'))).toEqual({
      retryable: true,
      reason: 'Error: ECONNRESET',
    });
    expect(classifyFailure({ status: 'error', message: 'Internal server error' })).toEqual({
      retryable: true,
      reason: 'handler failed: Internal server error',
    });
  });

  it('masks phone numbers and bounds the length of the reason (it goes to logs and DLQ headers)', () => {
    const { reason } = classifyFailure(
      new Error(`number +14155550123 refused ${'x'.repeat(1_000)}`),
    );
    expect(reason).not.toContain('4155550123');
    expect(reason).toMatch(/^Error: number \+1 .*23 refused/);
    expect(reason.length).toBeLessThanOrEqual(500);
  });
});
