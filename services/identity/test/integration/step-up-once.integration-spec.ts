import { Harness } from './support/harness';

jest.setTimeout(60_000);

/**
 * A step-up is good for one sensitive change (S8): it is taken in one step before the change,
 * so of concurrent changes given the same step-up exactly one goes through, whatever the order.
 * Real PostgreSQL, Redis, RabbitMQ and the otp service as a process.
 */
describe('identity: a step-up allows one change, also when changes race', () => {
  const h = new Harness();

  beforeAll(() => h.start(), 120_000);
  afterAll(() => h.close(), 60_000);

  const twoStepOf = async (accountId: string) => (await h.call('GET', `/v1/accounts/${accountId}/two-step`)).body as unknown;

  it('four different two-step changes at once with one step-up: one is made (200), the others are 403 step_up_required', async () => {
    const a = await h.account();
    await h.verifiedPhone(a.id);
    await h.authenticator(a.id);
    await h.twoStep(a.id, { method: 'sms' });
    const stepUpId = await h.stepUp(a.id);

    // Each needs a step-up from the settings at the start and from any of the others.
    const changes = [
      { enabled: true, method: 'voice' },
      { enabled: true, method: 'totp' },
      { enabled: true, method: 'sms', backupMethod: 'totp' },
      { enabled: true, method: 'totp', backupMethod: 'sms' },
    ];
    const answers = await Promise.all(changes.map((c) => h.call('PUT', `/v1/accounts/${a.id}/two-step`, { ...c, stepUpId })));
    expect(answers.map((r) => r.status).sort()).toEqual([200, 403, 403, 403]);
    for (const r of answers.filter((x) => x.status === 403)) expect(r.body.code).toBe('step_up_required');
    const made = answers.find((r) => r.status === 200)!;
    expect(await twoStepOf(a.id)).toEqual(made.body);
    // Spent.
    expect((await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: false, stepUpId })).status).toBe(403);
  });

  it('removing the last number and changing the method at once with one step-up: only one of them is made', async () => {
    const a = await h.account();
    const phone = await h.verifiedPhone(a.id);
    await h.twoStep(a.id, { method: 'sms' });
    const stepUpId = await h.stepUp(a.id);

    const [removed, changed] = await Promise.all([
      h.call('DELETE', `/v1/accounts/${a.id}/phones/${phone.phoneId}`, { stepUpId }),
      h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: true, method: 'voice', stepUpId }),
    ]);
    expect([removed.status, changed.status].filter((s) => s === 204 || s === 200)).toHaveLength(1);
    const loser = removed.status === 204 ? changed : removed;
    // Refused for want of the step-up the other took; or, coming after the removal turned
    // two-step off, the change is turning it on by voice with no number left.
    expect([loser.status, loser.body.code]).toEqual(loser.status === 403 ? [403, 'step_up_required'] : [409, 'factor_not_ready']);
    const phones = (await h.call('GET', `/v1/accounts/${a.id}`)).body.phones as unknown[];
    if (removed.status === 204) {
      expect(phones).toEqual([]);
      expect(await twoStepOf(a.id)).toEqual({ enabled: false, method: null, backupMethod: null });
    } else {
      expect(phones).toHaveLength(1);
      expect(await twoStepOf(a.id)).toEqual({ enabled: true, method: 'voice', backupMethod: null });
    }
  });

  it('changing the method or the backup while two-step is on tells the e-mail (S8); turning it on does not', async () => {
    const a = await h.account();
    await h.verifiedPhone(a.id);
    await h.authenticator(a.id);
    await h.twoStep(a.id, { method: 'sms' });
    const alerts = () => h.alerts(a.email).filter((t) => String(t.data['template']).startsWith('security.two_step'));

    const since = Date.now();
    const toApp = await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: true, method: 'totp', backupMethod: 'sms', stepUpId: await h.stepUp(a.id) });
    expect(toApp.status).toBe(200);
    const first = await h.tap.waitFor((t) => t.data['to'] === a.email && String(t.data['template']).startsWith('security.two_step'), since);
    expect(first.data).toMatchObject({ template: 'security.two_step_changed', priority: 'critical', channel: 'email', accountId: a.id });
    expect(first.data['variables']).toMatchObject({ method: 'totp', backupMethod: 'sms' });

    const noBackup = await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: true, method: 'totp', stepUpId: await h.stepUp(a.id, 'sms') });
    expect(noBackup.status).toBe(200);
    await h.tap.waitFor((t) => t.data['to'] === a.email && (t.data['variables'] as { backupMethod?: string }).backupMethod === 'none', since);
    // One e-mail a change, none for turning it on.
    expect(alerts()).toHaveLength(2);
  });

  it('never logs a full number, a code, a password or a token', () => {
    expect(h.secrets.size).toBeGreaterThan(5);
    expect(h.leaks()).toEqual([]);
  });
});
