import { z } from 'zod';
import { DomainError } from '../errors/domain-error';
import { isUnavailableError, toProblem } from './problem.filter';

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

  describe('a dependency that is down is a 503 with Retry-After, not a 500', () => {
    const cases: [string, unknown][] = [
      // What identity answered 500 for under load in the crash drills (pg-pool connectionTimeoutMillis).
      ['pg-pool connect timeout', new Error('timeout exceeded when trying to connect')],
      ['pg connection lost', new Error('Connection terminated unexpectedly')],
      ['refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
      [
        'TypeORM QueryFailedError of a server shutting down',
        Object.assign(new Error('terminating connection due to administrator command'), {
          name: 'QueryFailedError',
          driverError: Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
        }),
      ],
      ['too many connections', Object.assign(new Error('sorry, too many clients already'), { code: '53300' })],
      // QA: a database set to refuse connections (ALLOW_CONNECTIONS false, as a failover or a
      // maintenance does) answered 500 in identity, otp and the notifier.
      [
        'a database not accepting connections',
        Object.assign(new Error('database "identity" is not currently accepting connections'), { code: '55000' }),
      ],
      ['a primary demoted to a standby (failover)', Object.assign(new Error('cannot execute INSERT in a read-only transaction'), { code: '25006' })],
      ['ioredis without a connection', new Error("Stream isn't writeable and enableOfflineQueue options is false")],
      ['ioredis retries used up', Object.assign(new Error('Reached the max retries per request limit'), { name: 'MaxRetriesPerRequestError' })],
      ['ioredis command timeout', new Error('Command timed out')],
      ['wrapped in a cause', new Error('saving the phone failed', { cause: new Error('Connection is closed.') })],
    ];
    it.each(cases)('%s', (_name, error) => {
      const p = toProblem(error);
      expect(p).toMatchObject({ status: 503, code: 'service_unavailable', retryAfter: 1 });
      expect(JSON.stringify(p)).not.toMatch(/127\.0\.0\.1|5432|administrator/);
    });

    it('leaves bugs and other database errors at 500', () => {
      expect(isUnavailableError(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(false);
      const unique = Object.assign(new Error('duplicate key value violates unique constraint'), {
        name: 'QueryFailedError',
        driverError: Object.assign(new Error('duplicate key'), { code: '23505' }),
      });
      expect(toProblem(unique)).toMatchObject({ status: 500, code: 'internal_error' });
      // 55000 is also a bug's SQLSTATE (object not in prerequisite state): only the refused connection is an outage.
      const currval = Object.assign(new Error('currval of sequence "s" is not yet defined in this session'), { code: '55000' });
      expect(toProblem(currval)).toMatchObject({ status: 500, code: 'internal_error' });
    });
  });
});
