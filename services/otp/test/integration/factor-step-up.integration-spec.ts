import { randomUUID } from 'node:crypto';
import { getFactorsV1, verifyFactorV1 } from '@phonegate/contracts';
import { eventually } from '@phonegate/platform/testing';
import { FACTOR_CHANGED_TEMPLATE } from '../../src/factors/factor.service';
import { SF, startedOtp, usNumber, wrongCode } from '../support/otp-harness';
import { oathtool } from '../support/oathtool';
import { approvedStepUp as approvedStepUpOf } from './support/step-up';

/** A second storefront, with its own key: it may not use the first one's step-ups. */
const SF2 = { authorization: 'Bearer sf2-test-key' };

describe('replacing a factor needs a fresh step-up of the account (SECURITY S8)', () => {
  const h = startedOtp({
    API_KEYS: 'sf-test-key:storefront,sf2-test-key:storefront,ops-test-key:ops',
  });
  const bus = () => h.identity.events;

  const enrol = async (accountId: string) =>
    (await h.inject('POST', `/v1/accounts/${accountId}/authenticators/totp`, {})).json<{
      id: string;
      secret: string;
    }>();
  const confirm = (
    accountId: string,
    enrolment: { id: string },
    body: Record<string, unknown>,
    headers = SF,
  ) =>
    h.inject(
      'POST',
      `/v1/accounts/${accountId}/authenticators/totp/${enrolment.id}/confirm`,
      body,
      headers,
    );
  const reissue = (accountId: string, body?: Record<string, unknown>, headers = SF) =>
    h.inject('POST', `/v1/accounts/${accountId}/backup-codes`, body, headers);
  const totpNow = (secret: string) => oathtool(secret, h.clock.nowMs());
  const verify = (accountId: string, kind: 'totp' | 'backup_code', code: string) =>
    bus()
      .request(verifyFactorV1, { accountId, kind, code, purpose: 'sign_in' })
      .then(
        () => 'approved',
        (error: unknown) => (error as { code?: string }).code,
      );
  /** A storefront's verification (over HTTP) for the account, with its code. */
  const verification = async (
    accountId: string,
    purpose: 'step_up' | 'sign_in' | 'custom',
    headers = SF,
  ) => {
    const started = await h.inject(
      'POST',
      '/v1/verifications',
      { to: usNumber(), channel: 'sms', purpose, accountId },
      headers,
    );
    expect(started.statusCode).toBe(201);
    const id: string = started.json().id;
    return { id, code: await h.code(id) };
  };
  const approvedStepUp = (accountId: string) => approvedStepUpOf(h, accountId);
  const attemptWindow = (accountId: string) =>
    h.runtime.redis.zcard(`rl:f:${accountId}:${h.config.limits.factor[0]?.windowMs}`);

  it('the first authenticator is free; replacing it without a step-up is 403 step_up_required and changes nothing', async () => {
    const accountId = randomUUID();
    const first = await enrol(accountId);
    expect((await confirm(accountId, first, { code: totpNow(first.secret) })).statusCode).toBe(200);

    const second = await enrol(accountId);
    const refused = await confirm(accountId, second, { code: totpNow(second.secret) });
    expect(refused.statusCode).toBe(403);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    expect(refused.json()).toMatchObject({ status: 403, code: 'step_up_required' });
    expect(refused.json().detail).toMatch(/stepUpId/);
    // Nothing changed: the first authenticator still signs in, the second is not confirmed,
    // and the refusal took no attempt from the account's window.
    expect(await attemptWindow(accountId)).toBe(0);
    h.clock.advance(30_000);
    expect(await verify(accountId, 'totp', totpNow(second.secret))).toBe('code_mismatch');
    expect(await verify(accountId, 'totp', totpNow(first.secret))).toBe('approved');

    // With a step-up: a wrong code keeps it for the next try; the right code replaces the first.
    const stepUpId = await approvedStepUp(accountId);
    const wrong = await confirm(accountId, second, {
      code: wrongCode(totpNow(second.secret)),
      stepUpId,
    });
    expect(wrong.statusCode).toBe(422);
    expect(wrong.json()).toMatchObject({ code: 'code_mismatch' });
    const replaced = await confirm(accountId, second, { code: totpNow(second.secret), stepUpId });
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json()).toEqual({ id: second.id, status: 'confirmed' });
    h.clock.advance(30_000);
    expect(await verify(accountId, 'totp', totpNow(first.secret))).toBe('code_mismatch');
    expect(await verify(accountId, 'totp', totpNow(second.secret))).toBe('approved');

    // A step-up is used once.
    const third = await enrol(accountId);
    const again = await confirm(accountId, third, { code: totpNow(third.secret), stepUpId });
    expect(again.statusCode).toBe(403);
    expect(again.json()).toMatchObject({ code: 'step_up_required' });
  });

  it("the first set of backup codes is free; a new set needs a step-up (identity's, over the bus, counts)", async () => {
    const accountId = randomUUID();
    const first = await reissue(accountId);
    expect(first.statusCode).toBe(201);
    const old: string[] = first.json().codes;

    const refused = await reissue(accountId);
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ code: 'step_up_required' });
    expect(await verify(accountId, 'backup_code', old[0] as string)).toBe('approved');
    expect(await bus().request(getFactorsV1, { accountId })).toEqual({
      totp: false,
      backupCodes: 9,
    });

    const malformed = await reissue(accountId, { stepUpId: 'nope' });
    expect(malformed.statusCode).toBe(422);
    expect(malformed.json()).toMatchObject({
      code: 'validation_failed',
      errors: [expect.objectContaining({ field: 'stepUpId' })],
    });

    // identity's step-up: a challenge it started and checked over the bus for this account.
    const stepUpId = await approvedStepUp(accountId);
    const second = await reissue(accountId, { stepUpId });
    expect(second.statusCode).toBe(201);
    const codes: string[] = second.json().codes;
    expect(await verify(accountId, 'backup_code', old[1] as string)).toBe('code_mismatch');
    expect(await verify(accountId, 'backup_code', codes[0] as string)).toBe('approved');
  });

  it('refuses what is not a fresh approved step-up of this account by identity, and changes nothing', async () => {
    const accountId = randomUUID();
    const set: string[] = (await reissue(accountId)).json().codes;
    const refusedWith = async (stepUpId: string, headers = SF) => {
      const res = await reissue(accountId, { stepUpId }, headers);
      return `${res.statusCode} ${res.json().code}`;
    };
    const forbidden = '403 step_up_required';

    // Not approved yet.
    expect(await refusedWith((await verification(accountId, 'step_up')).id)).toBe(forbidden);
    // Approved, but of another purpose.
    for (const purpose of ['sign_in', 'custom'] as const) {
      const { id, code } = await verification(accountId, purpose);
      expect((await h.inject('POST', `/v1/verifications/${id}/check`, { code })).statusCode).toBe(
        200,
      );
      expect(await refusedWith(id)).toBe(forbidden);
    }
    // Approved, of another account.
    expect(await refusedWith(await approvedStepUp(randomUUID()))).toBe(forbidden);
    // A storefront's own step-up verification, approved: its code went wherever the storefront
    // chose, not to a factor of the account, so it proves nothing (whichever storefront uses it).
    for (const headers of [SF, SF2]) {
      const { id, code } = await verification(accountId, 'step_up', headers);
      expect((await h.inject('POST', `/v1/verifications/${id}/check`, { code }, headers)).statusCode).toBe(200);
      expect(await refusedWith(id, headers)).toBe(forbidden);
    }
    // Approved more than 5 minutes ago.
    const stale = await approvedStepUp(accountId);
    h.clock.advance(5 * 60_000 + 1000);
    expect(await refusedWith(stale)).toBe(forbidden);
    // Unknown.
    expect(await refusedWith(randomUUID())).toBe(forbidden);

    // Nothing changed: the same set of 10.
    expect(await bus().request(getFactorsV1, { accountId })).toEqual({
      totp: false,
      backupCodes: 10,
    });
    expect(await verify(accountId, 'backup_code', set[0] as string)).toBe('approved');
    // identity's step-up of the account works for any storefront.
    expect((await reissue(accountId, { stepUpId: await approvedStepUp(accountId) }, SF2)).statusCode).toBe(201);
  });

  it("tells the account's e-mail, by default, when an authenticator is replaced and when backup codes are reissued", async () => {
    expect(h.config.factorAlerts).toBe(true);
    const accountId = randomUUID();
    const told = () => h.alerts(FACTOR_CHANGED_TEMPLATE).filter((a) => a.accountId === accountId);
    // The first authenticator and the first set change no two-step the account had: no e-mail.
    const first = await enrol(accountId);
    expect((await confirm(accountId, first, { code: totpNow(first.secret) })).statusCode).toBe(200);
    expect((await reissue(accountId)).statusCode).toBe(201);
    h.clock.advance(30_000);
    const second = await enrol(accountId);
    const stepUpId = await approvedStepUp(accountId);
    expect(
      (await confirm(accountId, second, { code: totpNow(second.secret), stepUpId })).statusCode,
    ).toBe(200);
    const codes: string[] = (
      await reissue(accountId, { stepUpId: await approvedStepUp(accountId) })
    ).json().codes;

    const alerts = await eventually(() => (told().length === 2 ? told() : undefined));
    await new Promise((r) => setTimeout(r, 300));
    expect(told()).toHaveLength(2);
    for (const alert of alerts) {
      // To the account's e-mail: the notifier finds it from the account, as for otp's other
      // alerts, with a template it has (see FactorService.alert).
      expect(alert).toMatchObject({
        channel: 'email',
        priority: 'critical',
        accountId,
        template: 'security.two_step_changed',
      });
      expect(alert.to).toBeUndefined();
      expect(alert.variables).toMatchObject({
        host: 'shop.example.com',
        at: new Date(h.clock.nowMs()).toISOString(),
      });
      expect(['totp', 'backup_codes']).toContain(alert.variables.factor);
    }
    expect(alerts.map((a) => a.variables['factor']).sort()).toEqual(['backup_codes', 'totp']);
    // Never a secret or a code in an alert.
    const text = JSON.stringify(alerts);
    for (const secret of [first.secret, second.secret, ...codes])
      expect(text).not.toContain(secret);
  });

  it('documents stepUpId and 403 step_up_required on both routes in its OpenAPI document', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/docs-json' })).json<{
      paths: Record<string, Record<string, Record<string, unknown>>>;
    }>();
    for (const path of [
      '/v1/accounts/{accountId}/authenticators/totp/{id}/confirm',
      '/v1/accounts/{accountId}/backup-codes',
    ]) {
      const route = doc.paths[path]?.['post'] as {
        description?: string;
        requestBody?: unknown;
        responses: Record<string, { description: string }>;
      };
      expect(JSON.stringify(route.requestBody)).toContain('stepUpId');
      expect(route.responses['403']?.description).toContain('step_up_required');
      expect(route.description).toContain('step-up');
    }
  });

  it('of concurrent first sets of backup codes, one is made: the others would replace it without a step-up', async () => {
    const accountId = randomUUID();
    const answers = await Promise.all(Array.from({ length: 30 }, () => reissue(accountId)));
    const statuses = answers.map((a) => a.statusCode);
    expect(statuses.filter((status) => status === 201)).toHaveLength(1);
    expect(statuses.filter((status) => status === 403)).toHaveLength(29);
    // One set of 10, the one answered (C11: never two sets at once).
    expect(await bus().request(getFactorsV1, { accountId })).toEqual({
      totp: false,
      backupCodes: 10,
    });
    const issued: string[] = answers.find((a) => a.statusCode === 201)?.json().codes;
    expect(await verify(accountId, 'backup_code', issued[0] as string)).toBe('approved');
  });

  it('of concurrent changes given one step-up, exactly one goes through', async () => {
    const accountId = randomUUID();
    expect((await reissue(accountId)).statusCode).toBe(201);
    const stepUpId = await approvedStepUp(accountId);
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => reissue(accountId, { stepUpId })),
    );
    const statuses = answers.map((a) => a.statusCode).sort();
    expect(statuses).toEqual([201, 403, 403, 403, 403, 403, 403, 403]);
    const issued: string[] = (answers.find((a) => a.statusCode === 201)?.json().codes ??
      []) as string[];
    expect(await bus().request(getFactorsV1, { accountId })).toEqual({
      totp: false,
      backupCodes: 10,
    });
    expect(await verify(accountId, 'backup_code', issued[0] as string)).toBe('approved');
  });
});
