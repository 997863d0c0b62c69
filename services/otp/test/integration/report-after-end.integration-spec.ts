import { randomUUID } from 'node:crypto';
import {
  challengeExpiredV1,
  notificationRequestedV1,
  startChallengeV1,
} from '@phonegate/contracts';
import { eventually } from '@phonegate/platform/testing';
import { remoteError, startedOtp, usNumber, wrongCode } from '../support/otp-harness';

/**
 * "I didn't ask for this" on a code that had already ended (expired, locked, used): the report
 * is kept and shown in the challenge's view (`reported: true`, the end reason left as it was),
 * so identity, which reads its sign-in's challenges before it resends or finishes one, ends that
 * sign-in; the owner is told once, as for a pending code. Real PostgreSQL, Redis and RabbitMQ.
 */
describe('otp: a report on a code that had already ended', () => {
  const h = startedOtp();

  async function report(link: URL) {
    const res = await h.app.inject({ method: 'POST', url: `${link.pathname}${link.search}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'reported' });
  }

  const ownerAlerts = (accountId: string) =>
    h.alerts('security.code_reported').filter((a) => a.accountId === accountId);

  it('expired (and swept): the view says reported; the status stays expired; the owner is told once', async () => {
    const signIn = await h.reportableSignIn();
    h.clock.advance(6 * 60_000);
    // The sweeper marks it expired (and says so once) before the owner reads the message.
    await eventually(
      () => h.events(challengeExpiredV1).find((e) => e.challengeId === signIn.id),
      5_000,
    );
    const before = await h.busView(signIn.id);
    expect(before.status).toBe('expired');
    expect(before.reported).toBeUndefined();

    await report(signIn.link);
    const after = await h.busView(signIn.id);
    expect(after).toMatchObject({ status: 'expired', reported: true });
    expect(after.endReason).toBeUndefined();
    await eventually(() => ownerAlerts(signIn.accountId)[0]);
    await report(signIn.link);
    await new Promise((r) => setTimeout(r, 300));
    expect(ownerAlerts(signIn.accountId)).toHaveLength(1);
  });

  it('locked by wrong codes: the view says reported; still locked', async () => {
    const signIn = await h.reportableSignIn();
    for (let i = 0; i < 5; i++) await h.busSignInCheck(signIn, wrongCode(signIn.code));
    expect((await h.busView(signIn.id)).status).toBe('locked');

    await report(signIn.link);
    expect(await h.busView(signIn.id)).toMatchObject({ status: 'locked', reported: true });
    expect(await h.busSignInCheck(signIn, signIn.code)).toBe('too_many_attempts');
  });

  it('used (approved): the view says reported', async () => {
    const signIn = await h.reportableSignIn();
    expect(await h.busSignInCheck(signIn, signIn.code)).toBe('approved');
    await report(signIn.link);
    expect(await h.busView(signIn.id)).toMatchObject({ status: 'approved', reported: true });
  });

  it("a password reset's start repeated after its code was reported is refused (410 code_expired, reason reported): no second code", async () => {
    const accountId = randomUUID();
    const resetId = randomUUID();
    const start = () =>
      h.identity.events.request(startChallengeV1, {
        purpose: 'password_reset',
        channel: 'sms',
        to: usNumber(),
        accountId,
        ref: resetId,
      });
    const first = await start();
    await report(await h.reportLink(first.id));
    // identity's retry of a send whose answer it lost.
    const again = await remoteError(start());
    expect(again).toMatchObject({ code: 'code_expired', status: 410 });
    expect(again.extra['reason']).toBe('reported');
    await new Promise((r) => setTimeout(r, 300));
    expect(h.codeMessages(first.id)).toHaveLength(1);
    // No other code for the account (a second challenge's) went out.
    expect(
      h
        .events(notificationRequestedV1)
        .filter((d) => d.accountId === accountId && d.template.startsWith('otp.')),
    ).toHaveLength(1);
  });

  it('pending: the report ends it (endReason reported) and the view says reported too', async () => {
    const signIn = await h.reportableSignIn();
    expect((await h.busView(signIn.id)).reported).toBeUndefined();
    await report(signIn.link);
    expect(await h.busView(signIn.id)).toMatchObject({
      status: 'expired',
      endReason: 'reported',
      reported: true,
    });
    expect(await h.busSignInCheck(signIn, signIn.code)).toBe('code_expired');
  });
});
