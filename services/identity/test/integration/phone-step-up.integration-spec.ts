import { Harness } from './support/harness';

jest.setTimeout(90_000);

/**
 * S8: moving the number the codes go to (a change of a verified number, another number made
 * primary, the verified primary removed, a removal that changes two-step) needs a fresh code at the account's level,
 * a step-up; the old number and the e-mail are told. Real PostgreSQL, Redis, RabbitMQ and the
 * otp service as a process.
 */
describe('identity: moving the two-step number needs a step-up (S8)', () => {
  const h = new Harness();

  beforeAll(() => h.start(), 120_000);
  afterAll(() => h.close(), 60_000);

  const phonesUrl = (accountId: string) => `/v1/accounts/${accountId}/phones`;
  /** The account as GET answers it. */
  interface AccountView {
    phones: { phoneId: string; number: string; primary: boolean }[];
    [field: string]: unknown;
  }
  const read = async (accountId: string): Promise<AccountView> => (await h.call('GET', `/v1/accounts/${accountId}`)).body as AccountView;

  /** An account with two-step by SMS on its primary number A, and a second verified number B (added and verified freely). */
  async function twoNumbers() {
    const a = await h.account();
    const first = await h.verifiedPhone(a.id);
    await h.twoStep(a.id, { method: 'sms' });
    const second = await h.verifiedPhone(a.id);
    expect(second.primary).toBe(false);
    return { ...a, first, second };
  }

  const refused = (res: { status: number; body: { code?: string } | undefined }) => expect({ status: res.status, code: res.body?.code }).toEqual({ status: 403, code: 'step_up_required' });

  it('without a step-up, the codes cannot be moved to another number: primary switch, removal of the primary, change of a verified number are 403 and change nothing', async () => {
    const a = await twoNumbers();
    const before = await read(a.id);
    const since = Date.now();

    refused(await h.call('POST', `${phonesUrl(a.id)}/${a.second.phoneId}/primary`));
    refused(await h.call('DELETE', `${phonesUrl(a.id)}/${a.first.phoneId}`));
    refused(await h.call('PUT', `${phonesUrl(a.id)}/${a.first.phoneId}`, { number: h.phone() }));
    refused(await h.call('PUT', `${phonesUrl(a.id)}/${a.second.phoneId}`, { number: h.phone() }));
    // A step-up started but not confirmed is no step-up.
    const started = await h.call('POST', `/v1/accounts/${a.id}/two-step/step-up`, {});
    refused(await h.call('POST', `${phonesUrl(a.id)}/${a.second.phoneId}/primary`, { stepUpId: started.body.stepUpId }));

    expect(await read(a.id)).toEqual(before);
    // No code went to a new number: the only codes since are the step-up's, to the primary.
    await new Promise((r) => setTimeout(r, 300));
    const codes = h.tap.of('notification.requested.v1').filter((t) => t.at >= since && typeof (t.data['variables'] as { code?: unknown }).code === 'string');
    expect(codes.map((t) => t.data['to'])).toEqual([a.first.number]);
  });

  it('another number made primary with a step-up (200): the e-mail and the old primary are told; the step-up is used once', async () => {
    const a = await twoNumbers();
    const stepUpId = await h.stepUp(a.id);
    const since = Date.now();
    const made = await h.call('POST', `${phonesUrl(a.id)}/${a.second.phoneId}/primary`, { stepUpId });
    expect(made.status).toBe(200);
    expect(made.body).toEqual({ phoneId: a.second.phoneId, status: 'verified', primary: true });
    const phones = (await read(a.id)).phones as { phoneId: string; primary: boolean }[];
    expect(phones.find((p) => p.phoneId === a.second.phoneId)?.primary).toBe(true);
    expect(phones.find((p) => p.phoneId === a.first.phoneId)?.primary).toBe(false);

    const email = await h.tap.waitFor((t) => t.data['to'] === a.email && t.data['template'] === 'security.phone_changed', since);
    expect(email.data['variables']).toMatchObject({ oldNumber: expect.stringContaining(a.first.number.slice(-2)), newNumber: expect.stringContaining(a.second.number.slice(-2)) });
    expect(JSON.stringify(email.data['variables'])).not.toContain(a.first.number.slice(2));
    const sms = await h.tap.waitFor((t) => t.data['to'] === a.first.number && t.data['template'] === 'security.phone_changed', since);
    expect(sms.data).toMatchObject({ channel: 'sms', priority: 'critical' });

    // Spent: switching back needs another.
    refused(await h.call('POST', `${phonesUrl(a.id)}/${a.first.phoneId}/primary`, { stepUpId }));
    // Making the primary primary again changes nothing and needs none.
    expect((await h.call('POST', `${phonesUrl(a.id)}/${a.second.phoneId}/primary`)).status).toBe(200);
  });

  it('the primary removed while two-step is by SMS: 204 with a step-up (with its code), the other number takes over and is told; the step-up is used once', async () => {
    const a = await twoNumbers();
    const started = await h.call('POST', `/v1/accounts/${a.id}/two-step/step-up`, {});
    const code = await h.codeFor(started.body.challenge.id);
    const since = Date.now();
    expect((await h.call('DELETE', `${phonesUrl(a.id)}/${a.first.phoneId}`, { stepUpId: started.body.stepUpId, code })).status).toBe(204);
    const after = await read(a.id);
    expect(after.phones).toEqual([expect.objectContaining({ phoneId: a.second.phoneId, primary: true })]);
    expect(after.twoStep).toEqual({ enabled: true, method: 'sms', backupMethod: null });
    await h.tap.waitFor((t) => t.data['to'] === a.email && t.data['template'] === 'security.phone_removed', since);
    await h.tap.waitFor((t) => t.data['to'] === a.first.number && t.data['template'] === 'security.phone_changed', since);
    // Spent: removing the last number (turning two-step off) needs another.
    refused(await h.call('DELETE', `${phonesUrl(a.id)}/${a.second.phoneId}`, { stepUpId: started.body.stepUpId }));
  });

  it('a verified number changed with a step-up (202); a change refused after the step-up was taken gives it back', async () => {
    const a = await twoNumbers();
    const elsewhere = await h.account();
    const taken = await h.verifiedPhone(elsewhere.id);
    const stepUpId = await h.stepUp(a.id);

    const inUse = await h.call('PUT', `${phonesUrl(a.id)}/${a.first.phoneId}`, { number: taken.number, stepUpId });
    expect({ status: inUse.status, code: inUse.body.code }).toEqual({ status: 409, code: 'phone_in_use' });
    // Bad input is refused before the step-up is taken.
    const bad = await h.call('PUT', `${phonesUrl(a.id)}/${a.first.phoneId}`, { number: '12345', stepUpId });
    expect({ status: bad.status, code: bad.body.code }).toEqual({ status: 422, code: 'invalid_phone_number' });

    const next = h.phone();
    const changed = await h.call('PUT', `${phonesUrl(a.id)}/${a.first.phoneId}`, { number: next, stepUpId });
    expect(changed.status).toBe(202);
    expect(changed.body).toMatchObject({ status: 'pending', replacesPhoneId: a.first.phoneId });
    // The pending replacement is corrected freely (its own code verifies it); the verified number again needs a new step-up.
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(changed.body.verification.resendAvailableAt) - Date.now()) + 50));
    const corrected = await h.call('PUT', `${phonesUrl(a.id)}/${changed.body.phoneId}`, { number: next });
    expect(corrected.status).toBe(202);
    refused(await h.call('PUT', `${phonesUrl(a.id)}/${a.first.phoneId}`, { number: h.phone(), stepUpId }));
    const code = await h.codeFor(corrected.body.verification.challengeId);
    expect((await h.call('POST', `${phonesUrl(a.id)}/${changed.body.phoneId}/verify`, { code })).status).toBe(200);
    expect((await read(a.id)).phones.map((p) => p.number).sort()).toEqual([a.second.number, next].sort());
  });

  it('the pending replacement of a verified number pointed at another number needs a step-up (it would replace the verified number): 403 sending nothing, 202 with one; back to its own number stays free', async () => {
    const a = await twoNumbers();
    const y = h.phone();
    const changed = await h.call('PUT', `${phonesUrl(a.id)}/${a.first.phoneId}`, { number: y, stepUpId: await h.stepUp(a.id) });
    expect(changed.status).toBe(202);
    const pendingId = changed.body.phoneId as string;
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(changed.body.verification.resendAvailableAt) - Date.now()) + 50));
    const before = await read(a.id);
    const since = Date.now();

    const z = h.phone();
    refused(await h.call('PUT', `${phonesUrl(a.id)}/${pendingId}`, { number: z }));
    // A step-up started but not confirmed is no step-up.
    const started = await h.call('POST', `/v1/accounts/${a.id}/two-step/step-up`, {});
    refused(await h.call('PUT', `${phonesUrl(a.id)}/${pendingId}`, { number: z, stepUpId: started.body.stepUpId }));
    expect(await read(a.id)).toEqual(before);
    await new Promise((r) => setTimeout(r, 300));
    const codes = h.tap.of('notification.requested.v1').filter((t) => t.at >= since && typeof (t.data['variables'] as { code?: unknown }).code === 'string');
    expect(codes.map((t) => t.data['to'])).toEqual([a.first.number]);

    // Its own number again is a resend of its code: free.
    const again = await h.call('PUT', `${phonesUrl(a.id)}/${pendingId}`, { number: y });
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ phoneId: pendingId, replacesPhoneId: a.first.phoneId });
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(again.body.verification.resendAvailableAt) - Date.now()) + 50));

    const stepUpId = await h.stepUp(a.id);
    const corrected = await h.call('PUT', `${phonesUrl(a.id)}/${pendingId}`, { number: z, stepUpId });
    expect(corrected.status).toBe(202);
    expect(corrected.body).toMatchObject({ phoneId: pendingId, status: 'pending', replacesPhoneId: a.first.phoneId });
    // Spent: another number again needs another step-up.
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(corrected.body.verification.resendAvailableAt) - Date.now()) + 50));
    refused(await h.call('PUT', `${phonesUrl(a.id)}/${pendingId}`, { number: h.phone(), stepUpId }));
    const code = await h.codeFor(corrected.body.verification.challengeId);
    expect((await h.call('POST', `${phonesUrl(a.id)}/${pendingId}/verify`, { code })).status).toBe(200);
    const phones = (await read(a.id)).phones as { phoneId: string; number: string; primary: boolean }[];
    expect(phones.map((p) => p.number).sort()).toEqual([a.second.number, z].sort());
    expect(phones.find((p) => p.number === z)?.primary).toBe(true);
  });

  it('still free: adding numbers, a pending number changed or removed, another verified number removed (two-step by SMS or off)', async () => {
    const a = await twoNumbers();
    // The second, non-primary number goes without a step-up; so does a pending one, and a pending one's correction.
    expect((await h.call('DELETE', `${phonesUrl(a.id)}/${a.second.phoneId}`)).status).toBe(204);
    const pending = await h.call('POST', phonesUrl(a.id), { number: h.phone() });
    expect(pending.status).toBe(202);
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(pending.body.verification.resendAvailableAt) - Date.now()) + 50));
    expect((await h.call('PUT', `${phonesUrl(a.id)}/${pending.body.phoneId}`, { number: h.phone() })).status).toBe(202);
    expect((await h.call('DELETE', `${phonesUrl(a.id)}/${pending.body.phoneId}`)).status).toBe(204);

    const off = await h.account();
    const first = await h.verifiedPhone(off.id);
    const second = await h.verifiedPhone(off.id);
    expect((await h.call('DELETE', `${phonesUrl(off.id)}/${second.phoneId}`)).status).toBe(204);
    expect((await read(off.id)).phones).toEqual([expect.objectContaining({ phoneId: first.phoneId, primary: true })]);
  });

  it('the verified primary removed needs a step-up whatever two-step is, and so does a removal that changes two-step (its SMS backup dropped): 403 changing nothing and telling no one, then 204 with one', async () => {
    // Two-step off: password resets' and step-ups' codes go to the primary (a primary switch needs a step-up, so handing over by removal does too).
    const off = await h.account();
    const first = await h.verifiedPhone(off.id);
    const second = await h.verifiedPhone(off.id);
    // Two-step off, the only number.
    const single = await h.account();
    const only = await h.verifiedPhone(single.id);
    // Two-step by authenticator with SMS backup on the only number: its removal drops the backup, as PUT two-step would.
    const byApp = await h.account();
    const backup = await h.verifiedPhone(byApp.id);
    await h.authenticator(byApp.id);
    await h.twoStep(byApp.id, { method: 'totp', backupMethod: 'sms' });
    const accounts = [off, single, byApp];
    const before = await Promise.all(accounts.map((x) => read(x.id)));
    const since = Date.now();

    refused(await h.call('DELETE', `${phonesUrl(off.id)}/${first.phoneId}`));
    refused(await h.call('DELETE', `${phonesUrl(single.id)}/${only.phoneId}`));
    refused(await h.call('DELETE', `${phonesUrl(byApp.id)}/${backup.phoneId}`));
    expect(await Promise.all(accounts.map((x) => read(x.id)))).toEqual(before);
    await new Promise((r) => setTimeout(r, 300));
    const told = (t: { at: number; data: Record<string, unknown> }) => t.at >= since && String(t.data['template']).startsWith('security.');
    expect(h.tap.of('notification.requested.v1').filter(told)).toEqual([]);

    const handedOver = Date.now();
    expect((await h.call('DELETE', `${phonesUrl(off.id)}/${first.phoneId}`, { stepUpId: await h.stepUp(off.id) })).status).toBe(204);
    expect((await read(off.id)).phones).toEqual([expect.objectContaining({ phoneId: second.phoneId, primary: true })]);
    await h.tap.waitFor((t) => t.data['to'] === off.email && t.data['template'] === 'security.phone_removed', handedOver);
    await h.tap.waitFor((t) => t.data['to'] === first.number && t.data['template'] === 'security.phone_changed', handedOver);

    expect((await h.call('DELETE', `${phonesUrl(single.id)}/${only.phoneId}`, { stepUpId: await h.stepUp(single.id) })).status).toBe(204);
    expect((await read(single.id)).phones).toEqual([]);
    await h.tap.waitFor((t) => t.data['to'] === single.email && t.data['template'] === 'security.phone_removed', handedOver);

    expect((await h.call('DELETE', `${phonesUrl(byApp.id)}/${backup.phoneId}`, { stepUpId: await h.stepUp(byApp.id, 'sms') })).status).toBe(204);
    const after = await read(byApp.id);
    expect({ phones: after.phones, twoStep: after.twoStep }).toEqual({ phones: [], twoStep: { enabled: true, method: 'totp', backupMethod: null } });
    await h.tap.waitFor((t) => t.data['to'] === byApp.email && t.data['template'] === 'security.phone_removed', handedOver);
  });

  it('with two-step off, a change of a verified number and a primary switch still need a step-up (by the primary number)', async () => {
    const a = await h.account();
    const first = await h.verifiedPhone(a.id);
    const second = await h.verifiedPhone(a.id);
    refused(await h.call('POST', `${phonesUrl(a.id)}/${second.phoneId}/primary`));
    refused(await h.call('PUT', `${phonesUrl(a.id)}/${first.phoneId}`, { number: h.phone() }));
    const stepUpId = await h.stepUp(a.id);
    expect((await h.call('POST', `${phonesUrl(a.id)}/${second.phoneId}/primary`, { stepUpId })).status).toBe(200);
  });

  it('never logs a full number, a code, a password or a token', () => {
    expect(h.secrets.size).toBeGreaterThan(10);
    expect(h.leaks()).toEqual([]);
  });
});
