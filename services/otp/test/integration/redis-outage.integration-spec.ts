import { checkChallengeV1, startChallengeV1 } from '@phonegate/contracts';
import { DomainError } from '@phonegate/platform';
import { OtpHarness, usNumber } from '../support/otp-harness';

/** SECURITY R1: without Redis every path fails closed with a clear 503; none skips the check. */
describe('otp when Redis is down', () => {
  const h = new OtpHarness();
  let id: string;
  let code: string;

  beforeAll(async () => {
    await h.start();
    ({ id, code } = await h.startVerification({
      to: usNumber(),
      channel: 'sms',
      purpose: 'sign_in',
    }));
    h.runtime.redis.disconnect();
  }, 60_000);

  afterAll(async () => {
    await h.runtime.redis.connect().catch(() => undefined);
    await h.stop();
  }, 60_000);

  it('answers 503 service_unavailable with Retry-After to a check of the right code, a start, a resend and a read', async () => {
    for (const [method, url, body] of [
      ['POST', `/v1/verifications/${id}/check`, { code }],
      ['POST', '/v1/verifications', { to: usNumber(), channel: 'sms', purpose: 'sign_in' }],
      ['POST', `/v1/verifications/${id}/resend`, {}],
      ['GET', `/v1/verifications/${id}`, undefined],
    ] as const) {
      const res = await h.inject(method, url, body);
      expect({ url, status: res.statusCode, code: res.json().code }).toEqual({
        url,
        status: 503,
        code: 'service_unavailable',
      });
      expect(res.headers['retry-after']).toBe('1');
    }
  });

  it('answers service_unavailable over the bus too', async () => {
    for (const request of [
      h.identity.events.request(checkChallengeV1, { challengeId: id, code, purpose: 'sign_in' }),
      h.identity.events.request(startChallengeV1, {
        purpose: 'sign_in',
        channel: 'sms',
        to: usNumber(),
      }),
    ]) {
      const error = await request.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(DomainError);
      expect((error as DomainError).code).toBe('service_unavailable');
    }
  });

  it('reports not ready, and works again once Redis is back (the code was never spent)', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(503);
    await h.runtime.redis.connect();
    const res = await h.inject('POST', `/v1/verifications/${id}/check`, { code });
    expect(res.statusCode).toBe(200);
    expect(res.json().status).toBe('approved');
  });
});
