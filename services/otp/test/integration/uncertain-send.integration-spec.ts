import { notificationRequestedV1, type EventData } from '@phonegate/contracts';
import { eventually } from '@phonegate/platform/testing';
import { proxiedOtp } from '../support/confirm-hold-proxy';
import { usNumber } from '../support/otp-harness';

/**
 * A code message that reached the broker but whose confirm did not come in
 * time (OTP_PUBLISH_TIMEOUT): the caller hears 503, yet the SMS may go out.
 * Its code must then verify (crash drills: an SMS carried a code that never did).
 */
describe('otp when a code publish is at the broker but not confirmed in time', () => {
  const { h, proxy } = proxiedOtp({ OTP_PUBLISH_TIMEOUT: '400ms' });

  afterEach(() => proxy.release());

  async function unconfirmed(method: 'POST', url: string, body: unknown) {
    proxy.hold();
    const res = await h.inject(method, url, body);
    expect({
      status: res.statusCode,
      code: res.json().code,
      retryAfter: res.headers['retry-after'],
    }).toEqual({ status: 503, code: 'service_unavailable', retryAfter: '1' });
    return res;
  }

  it('start: answers 503, and the code the broker got verifies', async () => {
    const to = usNumber();
    await unconfirmed('POST', '/v1/verifications', { to, channel: 'sms', purpose: 'sign_in' });
    // The message is in the broker (the tap has it) although otp never saw its confirm.
    const message = await eventually(() =>
      h
        .events(notificationRequestedV1)
        .find((d: EventData<typeof notificationRequestedV1>) => d.to === to),
    );
    const id = String(message.origin?.ref);
    proxy.release();

    const status = await h.inject('GET', `/v1/verifications/${id}`);
    expect(status.json()).toMatchObject({ id, status: 'pending' });
    const check = await h.inject('POST', `/v1/verifications/${id}/check`, {
      code: String(message.variables['code']),
    });
    expect({ status: check.statusCode, body: check.json() }).toMatchObject({
      status: 200,
      body: { id, status: 'approved' },
    });
    expect(h.logs.text()).toContain('the challenge is kept');
    expect(h.logs.text()).not.toContain(String(message.variables['code']));
  }, 20_000);

  it('resend: answers 503, the new code the broker got verifies, and is not replaced at once', async () => {
    const { id } = await h.startVerification({
      to: usNumber(),
      channel: 'sms',
      purpose: 'phone_verification',
    });
    h.clock.advance(h.config.codes.cooldownMs);
    await unconfirmed('POST', `/v1/verifications/${id}/resend`, {});
    const code = await h.code(id, 2);
    proxy.release();

    // Not marked "not queued", and no resend at once that would kill the code on its way.
    const status = await h.inject('GET', `/v1/verifications/${id}`);
    expect(status.json()).toMatchObject({ id, status: 'pending' });
    expect(status.json().delivery).toBeUndefined();
    const again = await h.inject('POST', `/v1/verifications/${id}/resend`, {});
    expect({ status: again.statusCode, code: again.json().code }).toEqual({
      status: 429,
      code: 'resend_cooldown',
    });
    const check = await h.inject('POST', `/v1/verifications/${id}/check`, { code });
    expect({ status: check.statusCode, body: check.json() }).toMatchObject({
      status: 200,
      body: { id, status: 'approved' },
    });
  }, 20_000);
});
