import { DomainError } from '@phonegate/platform';
import { afterSendFailure, sendLeaseMs } from './reset-delivery';

describe('afterSendFailure', () => {
  const policy = { attempts: 4, retryMs: 5_000 };
  const unreachable = new DomainError(
    'service_unavailable',
    'otp did not answer',
    { retryAfter: 1 },
    true,
  );

  it('tries an unreachable otp service again with a doubling wait, then gives up', () => {
    expect(afterSendFailure(unreachable, 1, policy)).toEqual({ retryInMs: 5_000 });
    expect(afterSendFailure(unreachable, 2, policy)).toEqual({ retryInMs: 10_000 });
    expect(afterSendFailure(unreachable, 3, policy)).toEqual({ retryInMs: 20_000 });
    expect(afterSendFailure(unreachable, 4, policy)).toEqual({ giveUp: 'attempts_exhausted' });
  });

  it('tries again after an error that is not an answer (a database or Redis error)', () => {
    expect(afterSendFailure(new Error('connection reset'), 1, policy)).toEqual({
      retryInMs: 5_000,
    });
  });

  it('gives up at once on an answer that another try would not change', () => {
    expect(
      afterSendFailure(new DomainError('rate_limited', 'too many', { retryAfter: 900 }), 1, policy),
    ).toEqual({
      giveUp: 'rate_limited',
    });
    expect(afterSendFailure(new DomainError('invalid_phone_number', 'no'), 1, policy)).toEqual({
      giveUp: 'invalid_phone_number',
    });
  });
});

describe('sendLeaseMs', () => {
  it('outlasts a send (two otp deadlines) by a second', () => {
    expect(sendLeaseMs(3_000)).toBe(7_000);
  });
});
