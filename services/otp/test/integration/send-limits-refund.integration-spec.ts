import { randomUUID } from 'node:crypto';
import { eventually } from '@phonegate/platform/testing';
import { pumpPrefix } from '../../src/limits/phone-policy';
import { proxiedOtp } from '../support/confirm-hold-proxy';
import { usNumber } from '../support/otp-harness';

/**
 * The send limits count the codes that went out. A code that certainly never left (the broker
 * was gone) must not use up a number's, account's or IP's quota: five 503s during an outage
 * used to mean a quarter of an hour of 429s afterwards. A resend that the challenge refuses
 * (cooldown, max sends) takes nothing from them either.
 */
describe('otp send limits count only the codes that left', () => {
  const { h, proxy } = proxiedOtp({
    OTP_LIMIT_DESTINATION: '5/15m',
    OTP_LIMIT_ACCOUNT: '5/15m',
    OTP_LIMIT_IP: '5/15m',
  });

  const ready = (status: number, timeoutMs = 20_000) =>
    eventually(
      async () =>
        (await h.app.inject({ method: 'GET', url: '/health/ready' })).statusCode === status ||
        undefined,
      timeoutMs,
    );

  /** The broker is gone, and past the publisher's grace (2 s) a publish fails at once: certainly unsent. */
  async function brokerDown(): Promise<void> {
    proxy.cut();
    await ready(503);
    await new Promise((r) => setTimeout(r, 2_500));
  }

  async function brokerBack(): Promise<void> {
    proxy.mend();
    await ready(200);
  }

  /** The day's send count for +1 numbers and the send count of a number's prefix (pumping ratio). */
  async function counted(to: string): Promise<{ daily: number; prefix: number }> {
    const now = h.clock.nowMs();
    const day = new Date(now).toISOString().slice(0, 10).replace(/-/g, '');
    const bucket = Math.floor(now / h.config.pumping.ratioWindowMs);
    const prefix = pumpPrefix(to, h.config.pumping.prefixLength);
    const [daily, sent] = await Promise.all([
      h.runtime.redis.get(`rl:cd:1:${day}`),
      h.runtime.redis.get(`pump:s:${prefix}:${bucket}`),
    ]);
    return { daily: Number(daily ?? 0), prefix: Number(sent ?? 0) };
  }

  it('gives back the slots of starts and resends whose code never left', async () => {
    const to = usNumber();
    const body = {
      to,
      channel: 'sms',
      purpose: 'phone_verification',
      accountId: randomUUID(),
      clientIp: '203.0.113.9',
    };
    const before = await counted(to);

    await brokerDown();
    const outage = [];
    for (let i = 0; i < 5; i++)
      outage.push((await h.inject('POST', '/v1/verifications', body)).statusCode);
    expect(outage).toEqual([503, 503, 503, 503, 503]);
    await brokerBack();

    // Not 429: the number, the account and the IP still have their five sends.
    const { id } = await h.startVerification(body);
    h.clock.advance(h.config.codes.cooldownMs);

    await brokerDown();
    const resends = [];
    // A resend that never left lifts its cooldown, so the person may ask again at once.
    for (let i = 0; i < 4; i++)
      resends.push((await h.inject('POST', `/v1/verifications/${id}/resend`, {})).statusCode);
    expect(resends).toEqual([503, 503, 503, 503]);
    await brokerBack();

    const resent = await h.inject('POST', `/v1/verifications/${id}/resend`, {});
    expect(resent.statusCode).toBe(202);
    expect(resent.json().sends).toBe(2);
    const after = [];
    for (let i = 0; i < 4; i++)
      after.push((await h.inject('POST', '/v1/verifications', body)).statusCode);
    expect(after).toEqual([201, 201, 201, 429]);

    // Five codes left: the day's count for the country and the prefix's send count say five.
    expect(await counted(to)).toEqual({ daily: before.daily + 5, prefix: before.prefix + 5 });
  }, 90_000);

  it('a resend refused for its cooldown takes nothing from the number’s limit, even when many race', async () => {
    const to = usNumber();
    const { id } = await h.startVerification({ to, channel: 'sms', purpose: 'custom' });
    h.clock.advance(h.config.codes.cooldownMs);
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => h.inject('POST', `/v1/verifications/${id}/resend`, {})),
    );
    const codes = answers.map((a) =>
      a.statusCode === 202 ? 'sent' : a.json<{ code: string }>().code,
    );
    expect(codes.filter((c) => c === 'sent')).toHaveLength(1);
    expect(codes.filter((c) => c === 'resend_cooldown')).toHaveLength(9);
    const early = await h.inject('POST', `/v1/verifications/${id}/resend`, {});
    expect(early.json().code).toBe('resend_cooldown');

    // Two of the number's five sends are used.
    const starts = [];
    for (let i = 0; i < 4; i++)
      starts.push(
        (await h.inject('POST', '/v1/verifications', { to, channel: 'sms', purpose: 'custom' }))
          .statusCode,
      );
    expect(starts).toEqual([201, 201, 201, 429]);
  }, 30_000);
});
