import { notificationFailedV1 } from '@phonegate/contracts';
import { DomainError } from '@phonegate/platform';
import { eventually } from '@phonegate/platform/testing';
import { ChallengeService } from '../../src/challenges/challenge.service';
import { proxiedOtp } from '../support/confirm-hold-proxy';
import { failureOf, usNumber } from '../support/otp-harness';

/**
 * An automatic fallback (the notifier reported the SMS failed) whose voice message could not
 * leave because the broker was gone: the bus retries the failure report, and that retry must
 * still find the failed SMS current and fall back. Before, the fallback's message id stayed in
 * the challenge, the retry was taken for a stale report, and the person got no code at all.
 */
describe('otp automatic fallback when its message never left', () => {
  const { h, proxy } = proxiedOtp({ OTP_AUTO_FALLBACK: 'true' });

  it('keeps the failed send current, so the retried failure report falls back to voice', async () => {
    const to = usNumber();
    const { id } = await h.startVerification({ to, channel: 'sms', purpose: 'phone_verification' });
    const sms = await h.codeMessage(id, 1);
    const failed = failureOf(sms, id);

    // The broker goes away; past the publisher's grace (2 s) a publish fails at once, certainly unsent.
    proxy.cut();
    await eventually(
      async () =>
        (await h.app.inject({ method: 'GET', url: '/health/ready' })).statusCode === 503 ||
        undefined,
    );
    await new Promise((r) => setTimeout(r, 2_500));

    // The consumer's handler, as the bus would run it for the failure report.
    const challenges = h.app.get(ChallengeService);
    const error = await challenges.onDeliveryOutcome('failed', failed).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).retryable).toBe(true);

    // Nothing changed that a retry would trip on: still the SMS, one send, its failure recorded.
    const during = (await h.inject('GET', `/v1/verifications/${id}`)).json();
    expect(during).toMatchObject({
      channel: 'sms',
      sends: 1,
      status: 'pending',
      delivery: { status: 'failed', channel: 'sms', reason: 'undeliverable' },
    });

    // The broker is back; the bus redelivers the failure report.
    proxy.mend();
    await eventually(
      async () =>
        (await h.app.inject({ method: 'GET', url: '/health/ready' })).statusCode === 200 ||
        undefined,
      20_000,
    );
    await h.identity.events.publish(notificationFailedV1, failed);
    const voice = await h.codeMessage(id, 2);
    expect(voice).toMatchObject({ channel: 'voice', to });
    const after = (await h.inject('GET', `/v1/verifications/${id}`)).json();
    expect(after).toMatchObject({ channel: 'voice', sends: 2, status: 'pending' });
    expect(after.delivery).toBeUndefined();
    const check = await h.inject('POST', `/v1/verifications/${id}/check`, {
      code: String(voice.variables['code']),
    });
    expect({ status: check.statusCode, body: check.json() }).toMatchObject({
      status: 200,
      body: { id, status: 'approved' },
    });
  }, 45_000);
});
