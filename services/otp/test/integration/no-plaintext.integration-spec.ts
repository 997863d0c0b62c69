import { createHash, createHmac, randomUUID } from 'node:crypto';
import { notificationFailedV1, startChallengeV1, verifyFactorV1 } from '@phonegate/contracts';
import { eventually, TEST_INFRA } from '@phonegate/platform/testing';
import * as amqp from 'amqplib';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { FACTOR_CHANGED_TEMPLATE } from '../../src/factors/factor.service';
import { OtpHarness, SF, usNumber, wrongCode } from '../support/otp-harness';
import { oathtool } from '../support/oathtool';
import { approvedStepUp } from './support/step-up';

/** Every key under the prefix, with its value read by type and its DUMP (SECURITY C2). */
async function dumpRedis(prefix: string): Promise<string> {
  const raw = new Redis(TEST_INFRA.redisUrl, { lazyConnect: true });
  await raw.connect();
  const out: string[] = [];
  try {
    let cursor = '0';
    do {
      const [next, keys] = await raw.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const type = await raw.type(key);
        let value: unknown;
        if (type === 'string') value = await raw.get(key);
        else if (type === 'hash') value = await raw.hgetall(key);
        else if (type === 'zset') value = await raw.zrange(key, 0, -1, 'WITHSCORES');
        else if (type === 'set') value = await raw.smembers(key);
        else if (type === 'list') value = await raw.lrange(key, 0, -1);
        const dump = await raw.dumpBuffer(key);
        out.push(`${key} ${type} ${JSON.stringify(value)} ${dump ? dump.toString('latin1') : ''}`);
      }
    } while (cursor !== '0');
  } finally {
    raw.disconnect();
  }
  return out.join('\n');
}

/** Every row of every table of the test database, as JSON (bytea as hex). */
async function dumpPostgres(url: string): Promise<string> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const tables = (
      await client.query<{ tablename: string }>(
        `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`,
      )
    ).rows.map((r) => r.tablename);
    const out: string[] = [];
    for (const table of tables) {
      const rows = await client.query(`SELECT row_to_json(t)::text AS j FROM "${table}" t`);
      out.push(`${table}: ${rows.rows.map((r: { j: string }) => r.j).join('\n')}`);
    }
    return out.join('\n');
  } finally {
    await client.end();
  }
}

/** A code is "present" only as a standalone run of digits (timestamps contain arbitrary digit runs). */
function containsCode(haystack: string, code: string): boolean {
  return new RegExp(`(?<![0-9])${code}(?![0-9])`).test(haystack);
}

describe('no code, secret or token in plaintext at rest, in logs or in metrics (SECURITY C2, L1, L2)', () => {
  const h = new OtpHarness({
    OTP_AUTO_FALLBACK: 'true',
    OTP_FACTOR_ALERTS: 'true',
    OTP_EMAIL_SIGNIN_FALLBACK: 'true',
  });
  const AT_REST = 'test.at-rest';
  let broker: amqp.ChannelModel;
  let ch: amqp.Channel;

  beforeAll(async () => {
    await h.start();
    broker = await amqp.connect(h.vhost.url);
    ch = await broker.createChannel();
    await ch.assertQueue(AT_REST, { durable: true });
    await ch.bindQueue(AT_REST, 'phonegate.events', 'notification.requested.v1.#');
  }, 60_000);

  afterAll(async () => {
    await broker?.close().catch(() => undefined);
    await h.stop();
  }, 60_000);

  it('runs every flow, then finds none of its secrets in Redis, PostgreSQL, queued messages, logs or /metrics', async () => {
    const secrets: string[] = ['sf-test-key'];
    const numbers: string[] = [];
    const accountId = randomUUID();

    // Verifications: start, wrong code, resend on another channel, failure + automatic fallback
    // (to the account's e-mail: a custom flow may use it), approve.
    const to = usNumber();
    numbers.push(to);
    const a = await h.startVerification({
      to,
      channel: 'sms',
      purpose: 'custom',
      accountId,
      ref: 'login-1',
    });
    await h.inject('POST', `/v1/verifications/${a.id}/check`, { code: wrongCode(a.code) });
    h.clock.advance(30_000);
    await h.inject('POST', `/v1/verifications/${a.id}/resend`, { channel: 'voice' });
    const second = await h.codeMessage(a.id, 2);
    await h.identity.events.publish(notificationFailedV1, {
      messageId: second.messageId,
      carrier: 'voice-a',
      attempts: 1,
      origin: { service: 'otp', ref: a.id },
    });
    const third = await h.codeMessage(a.id, 3);
    // Checked with an Idempotency-Key: the store keeps the answer, and of the body (the code)
    // only an HMAC under otp's own key — not a hash anyone with the body's guess or the caller's
    // key could match.
    const checkBody = { code: String(third.variables['code']) };
    const approved = await h.inject('POST', `/v1/verifications/${a.id}/check`, checkBody, {
      ...SF,
      'idempotency-key': `check-${a.id}`,
    });
    expect(approved.statusCode).toBe(200);
    const bodyText = JSON.stringify(checkBody);
    secrets.push(
      createHash('sha256').update(bodyText).digest('hex'),
      createHmac('sha256', SF.authorization).update(bodyText).digest('hex'),
    );

    // Over the bus, then reported as unrequested; plus one left pending and one locked.
    const busTo = usNumber();
    numbers.push(busTo);
    const b = await h.identity.events.request(startChallengeV1, {
      purpose: 'phone_verification',
      channel: 'sms',
      to: busTo,
      accountId,
    });
    const reportUrl = await h.reportLink(b.id);
    secrets.push(reportUrl.searchParams.get('t') as string);
    await h.app.inject({ method: 'POST', url: `${reportUrl.pathname}${reportUrl.search}` });
    const pendingTo = usNumber();
    numbers.push(pendingTo);
    await h.startVerification({ to: pendingTo, channel: 'sms', purpose: 'step_up' });
    const lockedTo = usNumber();
    numbers.push(lockedTo);
    const locked = await h.startVerification({ to: lockedTo, channel: 'sms', purpose: 'custom' });
    for (let i = 0; i < 5; i++)
      await h.inject('POST', `/v1/verifications/${locked.id}/check`, {
        code: wrongCode(locked.code),
      });

    // TOTP and backup codes, sent with an Idempotency-Key: the store keeps their answers
    // (sealed under a key derived from the Idempotency-Key) and replays them.
    const enrolHeaders = { ...SF, 'idempotency-key': `enrol-${accountId}` };
    const enrolFirst = await h.inject(
      'POST',
      `/v1/accounts/${accountId}/authenticators/totp`,
      {},
      enrolHeaders,
    );
    const enrolAgain = await h.inject(
      'POST',
      `/v1/accounts/${accountId}/authenticators/totp`,
      {},
      enrolHeaders,
    );
    expect(enrolFirst.statusCode).toBe(201);
    expect(enrolAgain.statusCode).toBe(201);
    expect(enrolAgain.headers['idempotent-replayed']).toBe('true');
    const enrolled = enrolFirst.json();
    expect(enrolAgain.json()).toEqual(enrolled);
    secrets.push(`enrol-${accountId}`);
    const totpSecret: string = enrolled.secret;
    secrets.push(totpSecret, new URL(enrolled.otpauthUri).searchParams.get('secret') as string);
    const totpCode = oathtool(totpSecret, h.clock.nowMs());
    secrets.push(totpCode);
    expect(
      (
        await h.inject(
          'POST',
          `/v1/accounts/${accountId}/authenticators/totp/${enrolled.id}/confirm`,
          { code: totpCode },
        )
      ).statusCode,
    ).toBe(200);
    h.clock.advance(30_000);
    const totpCode2 = oathtool(totpSecret, h.clock.nowMs());
    secrets.push(totpCode2);
    await h.identity.events.request(verifyFactorV1, {
      accountId,
      kind: 'totp',
      code: totpCode2,
      purpose: 'sign_in',
    });
    const backupHeaders = { ...SF, 'idempotency-key': `backup-${accountId}` };
    const backupFirst = await h.inject(
      'POST',
      `/v1/accounts/${accountId}/backup-codes`,
      undefined,
      backupHeaders,
    );
    const backupAgain = await h.inject(
      'POST',
      `/v1/accounts/${accountId}/backup-codes`,
      undefined,
      backupHeaders,
    );
    expect(backupFirst.statusCode).toBe(201);
    expect(backupAgain.headers['idempotent-replayed']).toBe('true');
    expect(backupAgain.json()).toEqual(backupFirst.json());
    const backup: string[] = backupFirst.json().codes;
    secrets.push(`backup-${accountId}`);
    secrets.push(...backup, ...backup.map((c) => c.replace('-', '')));
    await h.identity.events.request(verifyFactorV1, {
      accountId,
      kind: 'backup_code',
      code: backup[0] as string,
      purpose: 'sign_in',
    });
    // A new set, with a step-up of the account (S8), tells the e-mail: that alert is scanned too.
    const reissued = await h.inject('POST', `/v1/accounts/${accountId}/backup-codes`, {
      stepUpId: await approvedStepUp(h, accountId),
    });
    expect(reissued.statusCode).toBe(201);
    const newSet: string[] = reissued.json().codes;
    secrets.push(...newSet, ...newSet.map((c) => c.replace('-', '')));
    await eventually(
      () => h.alerts(FACTOR_CHANGED_TEMPLATE).some((x) => x.accountId === accountId) || undefined,
    );

    // Every one-time code that was issued (as the notifier decrypts them).
    const codes = h.caught.flatMap((c) => {
      const v = (c.data as { variables?: Record<string, unknown> }).variables;
      return v && typeof v['code'] === 'string' ? [v['code']] : [];
    });
    expect(codes.length).toBeGreaterThanOrEqual(6);
    const everyCode = [...codes, totpCode, totpCode2];

    const redis = await dumpRedis(h.prefix);
    const postgres = await dumpPostgres(h.config.databaseUrl);
    const atRest = [];
    for (;;) {
      const msg = await ch.get(AT_REST, { noAck: true });
      if (!msg) break;
      atRest.push(msg.content.toString('utf8'));
    }
    expect(atRest.length).toBeGreaterThanOrEqual(6);
    const queued = [...atRest, ...h.caught.map((c) => c.raw)].join('\n');
    const logs = h.logs.text();
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(redis.length).toBeGreaterThan(1000);
    // The Idempotency-Key store holds its entries, none under a key in clear.
    expect(redis).toContain('idem:http:');
    expect(redis).not.toContain(`check-${a.id}`);
    expect(postgres).toContain('totp_authenticators');
    expect(postgres).toContain('backup_codes');
    expect(logs.length).toBeGreaterThan(1000);

    // Positive controls: the detectors do find these values where they legitimately are.
    expect(containsCode(JSON.stringify(h.caught.map((c) => c.data)), codes[0] as string)).toBe(
      true,
    );
    expect(h.alerts(FACTOR_CHANGED_TEMPLATE).some((x) => x.accountId === accountId)).toBe(true);

    const places = { redis, postgres, queued, logs, metrics };
    for (const [where, text] of Object.entries(places)) {
      for (const code of everyCode)
        expect({ where, found: containsCode(text, code) }).toEqual({ where, found: false });
      for (const secret of secrets)
        expect({ where, found: text.includes(secret) }).toEqual({ where, found: false });
      // The TOTP secret's raw bytes (hex, as a bytea would show) are not there either.
      const hex = Buffer.from(base32Decode(totpSecret)).toString('hex');
      expect({ where, found: text.includes(hex) }).toEqual({ where, found: false });
    }
    // Logs and metrics never hold a whole phone number (L1).
    for (const n of numbers) {
      expect(logs).not.toContain(n.slice(1));
      expect(metrics).not.toContain(n.slice(1));
    }
  });
});

function base32Decode(text: string): number[] {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const c of text) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return out;
}
