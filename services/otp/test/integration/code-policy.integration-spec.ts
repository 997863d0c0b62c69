import { getCodePolicyV1 } from '@phonegate/contracts';
import { startedOtp } from '../support/otp-harness';

/** otp.code_policy.get: a purpose's code life and wrong-code limit, as this service applies them (S6). */
describe('otp code policy over the bus', () => {
  const h = startedOtp({
    OTP_RESET_TTL: '45s',
    OTP_CUSTOM_TTL: '2m',
    OTP_EMAIL_TTL: '1h',
    OTP_MAX_ATTEMPTS: '4',
  });

  it("answers each purpose's code life on a channel and the attempt limit", async () => {
    const policy = (purpose: 'password_reset' | 'custom', channel: 'sms' | 'email') =>
      h.identity.events.request(getCodePolicyV1, { purpose, channel });
    expect(await policy('password_reset', 'sms')).toEqual({ ttlMs: 45_000, maxAttempts: 4 });
    expect(await policy('password_reset', 'email')).toEqual({ ttlMs: 45_000, maxAttempts: 4 });
    expect(await policy('custom', 'sms')).toEqual({ ttlMs: 120_000, maxAttempts: 4 });
    expect(await policy('custom', 'email')).toEqual({ ttlMs: 3_600_000, maxAttempts: 4 });
  });
});
