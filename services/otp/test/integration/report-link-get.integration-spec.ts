import { eventually } from '@phonegate/platform/testing';
import { startedOtp } from '../support/otp-harness';

/** `OTP_REPORT_GET=report`: a GET of the "I didn't ask for this" link reports at once (one tap). */
describe('otp report link with OTP_REPORT_GET=report', () => {
  const h = startedOtp({ OTP_REPORT_GET: 'report' });

  it('kills the pending code and tells the owner on a GET; a wrong token is 404', async () => {
    const { accountId, id, ref, code, link } = await h.reportableSignIn();
    const forged = await h.app.inject({
      method: 'GET',
      url: `${link.pathname}?t=c1.AAAAAAAAAAAAAAAAAAAAAA`,
    });
    expect(forged.statusCode).toBe(404);
    const res = await h.app.inject({ method: 'GET', url: `${link.pathname}${link.search}` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.body).toContain('Thank you');
    expect(await h.busView(id)).toMatchObject({ status: 'expired', endReason: 'reported' });
    expect(await h.busSignInCheck({ id, ref }, code)).toBe('code_expired');
    await eventually(() =>
      h.alerts('security.code_reported').find((a) => a.accountId === accountId),
    );
  });
});
