import { randomUUID } from 'node:crypto';
import { eventually } from '@phonegate/platform/testing';
import { containsCode, type MessageJson } from '../support/harness';
import { OwnRedisServer } from '../support/redis-server';
import { type CodeRequest, SimNotifier } from '../support/sim-notifier';

jest.setTimeout(120_000);

/**
 * A carrier took the code, then writing `sent` in the message log failed (its PostgreSQL
 * connection was terminated: 57P01, as a restart or failover does). The carrier's acceptance
 * must never be sent again because the record failed: the write is retried in process, and
 * when the database stays away longer, the acceptance is kept where the redelivery looks
 * first (the message's Redis record, and this process's memory when Redis is down too), so
 * the redelivered message records `sent` without sending. QA: /tmp/qa-outage/repro-dup-sms.js.
 *
 * The fault: a trigger on the `messages` row of one armed message id terminates its own
 * backend when the row is about to become `sent`, the first `max_hits` times (each hit counted
 * in a sequence, which a rollback does not undo).
 */
describe('notifier: the sent record fails after the carrier took the message', () => {
  let redisServer: OwnRedisServer;
  let s: SimNotifier;

  const submits = (to: string) => s.sim.store.list({ to, limit: 10 }).length;
  const wentOut = (status?: string) => status === 'sent' || status === 'delivered';
  const query = <T = Record<string, unknown>>(sql: string, params: unknown[] = []) =>
    s.notifier.dataSource.query<T[]>(sql, params);

  /** The next `maxHits` writes of `sent` on this message fail (connection terminated). */
  async function arm(messageId: string, maxHits: number): Promise<() => Promise<number>> {
    const seq = `test_hits_${randomUUID().replaceAll('-', '')}`;
    await query(`CREATE SEQUENCE ${seq}`);
    await query('INSERT INTO test_sent_faults (message_id, seq, max_hits) VALUES ($1, $2, $3)', [
      messageId,
      seq,
      maxHits,
    ]);
    /** How many times the write of `sent` was tried (and failed while armed) so far. */
    return async () => {
      const [row] = await query<{ last_value: string; is_called: boolean }>(
        `SELECT last_value, is_called FROM ${seq}`,
      );
      return row?.is_called ? Number(row.last_value) : 0;
    };
  }
  const disarm = (messageId: string) =>
    query('DELETE FROM test_sent_faults WHERE message_id = $1', [messageId]);

  async function finalView(code: CodeRequest): Promise<MessageJson> {
    const url = `/v1/messages/${code.messageId}`;
    await eventually(async () => wentOut((await s.get<MessageJson>(url)).status), 30_000);
    // Long enough for any second delivery still under way to reach the carrier.
    await new Promise((r) => setTimeout(r, 2_500));
    return s.get<MessageJson>(url);
  }

  function expectOneSendRecorded(view: MessageJson, code: CodeRequest): void {
    expect(submits(code.to)).toBe(1);
    expect(wentOut(view.status)).toBe(true);
    expect(view.carrier).toBe('smpp-a');
    expect(view.attempts).toBe(1);
    expect(view.timeline.filter((t) => t.status === 'sending')).toHaveLength(1);
    expect(view.timeline.filter((t) => t.status === 'sent')).toHaveLength(1);
    expect(view.timeline.some((t) => t.status === 'failed' || t.status === 'dropped')).toBe(false);
    // Other services hear of it once.
    expect(s.outcomes.of('notification.sent.v1', code.messageId)).toHaveLength(1);
    expect(s.outcomes.of('notification.sent.v1', code.messageId)[0]!.data.attempts).toBe(1);
    const logs = s.notifier.logs.text();
    expect(containsCode(logs, String(code.variables.code))).toBe(false);
    expect(logs).not.toContain(code.to);
  }

  beforeAll(async () => {
    redisServer = await OwnRedisServer.start();
    s = await SimNotifier.start({
      numbers: '+1415557',
      outcomes: true,
      env: {
        REDIS_URL: redisServer.url,
        NOTIFIER_BUS_RETRY_DELAYS: '1s',
        // How long a delivery holds on to an acceptance it could record nowhere.
        NOTIFIER_RETRY_HOLD: '10s',
      },
    });
    await query(`
      CREATE TABLE test_sent_faults (message_id uuid PRIMARY KEY, seq text NOT NULL, max_hits int NOT NULL);
      CREATE FUNCTION test_sent_fault() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE f test_sent_faults; hit bigint;
      BEGIN
        SELECT * INTO f FROM test_sent_faults WHERE message_id = NEW.id;
        IF FOUND THEN
          EXECUTE format('SELECT nextval(%L)', f.seq) INTO hit;
          IF hit <= f.max_hits THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_sent_fault BEFORE UPDATE ON messages FOR EACH ROW
        WHEN (NEW.status = 'sent' AND OLD.status IS DISTINCT FROM 'sent')
        EXECUTE FUNCTION test_sent_fault();
    `);
    // Warm: the SMPP session is bound and a code goes out.
    const warm = await s.publish(s.code());
    await eventually(() => submits(warm.to) === 1, 10_000);
  });

  afterAll(async () => {
    await s?.close();
    await redisServer?.stop();
  });

  it('records a send whose sent write failed once in the same delivery, without sending again', async () => {
    const code = s.code();
    const hits = await arm(code.messageId, 1);
    const envelopeId = randomUUID();
    await s.publish(code, envelopeId);

    const view = await finalView(code);
    expect(await hits()).toBeGreaterThanOrEqual(2); // it failed once, then went in
    expectOneSendRecorded(view, code);
    // Recorded within the delivery that sent it: no bus retry.
    expect(s.logLines(envelopeId).some((l) => l.includes('handler failed'))).toBe(false);
    expect(s.logLines(code.messageId).some((l) => l.includes('recorded late'))).toBe(false);
  });

  it('records a send whose sent write fails longer than the in-process retries from the redelivery, without sending again', async () => {
    const code = s.code();
    const hits = await arm(code.messageId, 100_000);
    const envelopeId = randomUUID();
    await s.publish(code, envelopeId);

    await eventually(() => submits(code.to) >= 1, 10_000);
    // The database refuses the write past the first delivery's own retries and into a redelivery's.
    await eventually(async () => (await hits()) >= 12 || submits(code.to) > 1, 40_000, 100);
    expect(submits(code.to)).toBe(1);
    expect(s.logLines(envelopeId).some((l) => l.includes('handler failed'))).toBe(true);
    expect(wentOut(await s.statusOf(code.messageId))).toBe(false);
    await disarm(code.messageId);

    const view = await finalView(code);
    expectOneSendRecorded(view, code);
    // The timeline says it went out once and was written down late, not that it was sent again.
    const sent = view.timeline.find((t) => t.status === 'sent')!;
    expect(sent.carrier).toBe('smpp-a');
    expect(sent.reason).toMatch(/^recorded_late: /);
    // Sent when the carrier took it: before the first redelivery was even made.
    const sending = view.timeline.find((t) => t.status === 'sending')!;
    expect(Date.parse(sent.at) - Date.parse(sending.at)).toBeLessThan(1_000);
  });

  it('with Redis down too, the delivery that sent it holds on and records it once the database is back, without sending again', async () => {
    await redisServer.stop();
    await expect(s.notifier.redis.ping()).rejects.toThrow();
    const code = s.code();
    // Past the in-process retries (7 tries), into the hold that follows when Redis cannot keep it.
    const hits = await arm(code.messageId, 8);
    const envelopeId = randomUUID();
    await s.publish(code, envelopeId);

    const view = await finalView(code);
    expect(await hits()).toBeGreaterThanOrEqual(9);
    expectOneSendRecorded(view, code);
    // The delivery that sent it recorded it: never handed back.
    expect(s.logLines(envelopeId).some((l) => l.includes('handler failed'))).toBe(false);
    expect(view.timeline.find((t) => t.status === 'sent')!.reason).toBeUndefined();
  });

  it('with Redis down too, past the hold the acceptance is kept in process and the redelivery records it, without sending again', async () => {
    await expect(s.notifier.redis.ping()).rejects.toThrow();
    const code = s.code();
    const hits = await arm(code.messageId, 100_000);
    const envelopeId = randomUUID();
    await s.publish(code, envelopeId);

    await eventually(() => submits(code.to) >= 1, 10_000);
    await eventually(
      () => s.logLines(envelopeId).some((l) => l.includes('handler failed')),
      40_000,
      100,
    );
    // Past the hand-back: the redelivery has been refused the write too.
    const handedBackAt = await hits();
    await eventually(
      async () => (await hits()) > handedBackAt + 2 || submits(code.to) > 1,
      20_000,
      100,
    );
    expect(submits(code.to)).toBe(1);
    await disarm(code.messageId);

    const view = await finalView(code);
    expectOneSendRecorded(view, code);
    expect(view.timeline.find((t) => t.status === 'sent')!.reason).toMatch(/^recorded_late: /);
  });
});
