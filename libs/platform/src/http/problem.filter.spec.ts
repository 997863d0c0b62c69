import { z } from 'zod';
import { DomainError } from '../errors/domain-error';
import { toProblem } from './problem.filter';

describe('toProblem', () => {
  it('maps a domain error to its stable code, status and extras', () => {
    const p = toProblem(new DomainError('code_mismatch', 'That code is not right.', { attemptsRemaining: 3 }));
    expect(p).toMatchObject({ status: 422, code: 'code_mismatch', attemptsRemaining: 3, title: 'Unprocessable Content' });
    expect(p.type).toMatch(/code-mismatch$/);
  });

  it('lists each bad field of a validation failure', () => {
    const result = z.object({ email: z.string().email(), password: z.string().min(10) }).safeParse({ email: 'x', password: 'y' });
    const p = toProblem(result.error);
    expect(p.status).toBe(422);
    expect(p.code).toBe('validation_failed');
    expect((p['errors'] as { field: string }[]).map((e) => e.field).sort()).toEqual(['email', 'password']);
  });

  it('never leaks an unknown error', () => {
    const p = toProblem(new Error('db password is hunter2'));
    expect(p).toMatchObject({ status: 500, code: 'internal_error' });
    expect(JSON.stringify(p)).not.toContain('hunter2');
  });

  it('rounds Retry-After up to whole seconds', () => {
    expect(toProblem(new DomainError('rate_limited', 'slow down', { retryAfter: 12.2 }))['retryAfter']).toBe(13);
  });
});
