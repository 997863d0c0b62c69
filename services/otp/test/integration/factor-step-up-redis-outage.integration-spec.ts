import { randomUUID } from 'node:crypto';
import { getFactorsV1, verifyFactorV1 } from '@phonegate/contracts';
import { startedOtp } from '../support/otp-harness';
import { approvedStepUp } from './support/step-up';

/** SECURITY R1 on the step-up of a factor change (S8): without Redis it fails closed, a clear 503. */
describe('a factor change when Redis is down', () => {
  const h = startedOtp();

  it('answers 503 service_unavailable with Retry-After to a new set given a step-up, and changes nothing', async () => {
    const accountId = randomUUID();
    const backupCodes = (body?: Record<string, unknown>) =>
      h.inject('POST', `/v1/accounts/${accountId}/backup-codes`, body);
    const oldSet: string[] = (await backupCodes()).json().codes;
    const stepUpId = await approvedStepUp(h, accountId);

    h.runtime.redis.disconnect();
    try {
      const res = await backupCodes({ stepUpId });
      expect({ status: res.statusCode, code: res.json().code }).toEqual({
        status: 503,
        code: 'service_unavailable',
      });
      expect(res.headers['retry-after']).toBe('1');
      // Without a step-up the answer is the same refusal as ever.
      expect((await backupCodes({})).statusCode).toBe(403);
    } finally {
      await h.runtime.redis.connect();
    }

    expect(await h.identity.events.request(getFactorsV1, { accountId })).toEqual({
      totp: false,
      backupCodes: 10,
    });
    expect(
      await h.identity.events.request(verifyFactorV1, {
        accountId,
        kind: 'backup_code',
        code: oldSet[0] as string,
        purpose: 'sign_in',
      }),
    ).toEqual({ approved: true });
    // The refused change did not spend the step-up.
    expect((await backupCodes({ stepUpId })).statusCode).toBe(201);
  });
});
