import { type OtpHarness, SF, usNumber } from '../../support/otp-harness';

/**
 * A storefront's step-up verification of the account (over HTTP, by SMS), checked with its
 * code: its id, the `stepUpId` a factor change needs (S8).
 */
export async function approvedStepUp(
  h: OtpHarness,
  accountId: string,
  headers: Record<string, string> = SF,
): Promise<string> {
  const started = await h.inject(
    'POST',
    '/v1/verifications',
    { to: usNumber(), channel: 'sms', purpose: 'step_up', accountId },
    headers,
  );
  if (started.statusCode !== 201) throw new Error(`step-up answered ${started.statusCode}`);
  const id: string = started.json().id;
  const checked = await h.inject(
    'POST',
    `/v1/verifications/${id}/check`,
    { code: await h.code(id) },
    headers,
  );
  if (checked.json().status !== 'approved') throw new Error(`step-up check: ${checked.body}`);
  return id;
}
