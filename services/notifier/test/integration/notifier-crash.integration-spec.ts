import { randomUUID } from 'node:crypto';
import type { CarrierSim, SimMessage } from '@phonegate/carrier-sim';
import { eventually } from '@phonegate/platform/testing';
import { BulkPublisher } from '../support/bulk-publisher';
import { containsCode, createTestInfra, OPS, type TestInfra } from '../support/harness';
import { NotifierProcess } from '../support/process';
import { carriersEnv, freePort, startSim } from '../support/sim';

jest.setTimeout(180_000);

const STANDARD = 1_200;
const CODES = 300;

/**
 * M6 for the notifier: killed with SIGKILL mid-load and started again (a real process,
 * node services/notifier/dist/main.js), every accepted message is sent, at most a handful
 * twice, none lost; no code or full number in what the process logged.
 */
describe('notifier: SIGKILL mid-load and restart', () => {
  let infra: TestInfra;
  let sim: CarrierSim;
  let notifier: NotifierProcess;
  let publisher: BulkPublisher;
  const received = new Map<string, SimMessage[]>();

  beforeAll(async () => {
    sim = await startSim(20_000);
    sim.store.on('message', (m: SimMessage) =>
      received.set(m.to, [...(received.get(m.to) ?? []), m]),
    );
    const port = await freePort();
    infra = await createTestInfra({
      LOG_LEVEL: 'info',
      RECEIPT_CALLBACK_BASE_URL: `http://127.0.0.1:${port}`,
      NOTIFIER_BUS_RETRY_DELAYS: '1s,2s,5s',
      ...carriersEnv(sim, { 'smpp-a': { ratePerSec: 10_000 }, 'http-b': { ratePerSec: 10_000 } }),
    });
    notifier = new NotifierProcess(infra.env, port);
    await notifier.start();
    publisher = await BulkPublisher.connect(infra.vhost.url);
  });

  afterAll(async () => {
    await publisher?.close();
    await notifier?.stop();
    await sim?.stop();
    await infra?.drop();
  });

  it('sends every accepted message after a kill -9 and a restart, at most a handful twice', async () => {
    const codes = Array.from({ length: CODES }, (_, i) => ({
      messageId: randomUUID(),
      priority: 'critical' as const,
      channel: 'sms' as const,
      to: `+1917${String(2_000_000 + i)}`,
      template: 'otp.sign_in',
      locale: 'en',
      variables: { code: String(610_000 + i), host: 'shop.example.com' },
      notAfter: new Date(Date.now() + 300_000).toISOString(),
      dedupeKey: `crash:${i}:${randomUUID()}`,
      origin: { service: 'otp', ref: `c${i}` },
    }));
    const updates = Array.from({ length: STANDARD }, (_, i) => ({
      messageId: randomUUID(),
      priority: 'standard' as const,
      channel: 'sms' as const,
      to: `+1718${String(3_000_000 + i)}`,
      template: 'delivery.handed_off',
      locale: 'en',
      variables: { orderId: `crash_${i}` },
    }));
    // Accepted = confirmed by the broker.
    const all = [...updates, ...codes];
    await publisher.publish(updates);
    await publisher.publish(codes, 100);

    await eventually(() => received.size >= 300, 60_000, 20);
    await notifier.kill('SIGKILL');
    const killedAt = Date.now();
    const atKill = received.size;
    expect(atKill).toBeLessThan(all.length);

    await notifier.start();
    await eventually(() => all.every((m) => received.has(m.to)), 120_000, 100);

    const twice = all.filter((m) => (received.get(m.to)?.length ?? 0) > 1);
    process.stdout.write(
      `crash report ${JSON.stringify({
        accepted: all.length,
        sentBeforeKill: atKill,
        sentTwice: twice.length,
        twiceCodes: twice.filter((m) => m.priority === 'critical').length,
        gapsMs: twice.map((m) =>
          Math.round(received.get(m.to)![1]!.receivedAt - received.get(m.to)![0]!.receivedAt),
        ),
        firstVsKillMs: twice.map((m) => Math.round(received.get(m.to)![0]!.receivedAt - killedAt)),
      })}\n`,
    );
    // Only what a carrier had taken but the log had not yet recorded when the process died goes twice.
    expect(twice.length).toBeLessThanOrEqual(25);
    expect(all.every((m) => (received.get(m.to)?.length ?? 0) <= 2)).toBe(true);

    // The log agrees: sent (or delivered) once the carriers' receipts are in.
    for (const m of [all[0]!, all[STANDARD + 5]!, all[all.length - 1]!]) {
      const view = await eventually(async () => {
        const res = await fetch(`${notifier.url}/v1/messages/${m.messageId}`, { headers: OPS });
        const body = (await res.json()) as { status: string };
        return ['sent', 'delivered'].includes(body.status) ? body : undefined;
      }, 20_000);
      expect(view).toBeTruthy();
    }

    // Neither run logged a code or a full number.
    const text = notifier.text();
    expect(text).toContain('message sent');
    expect(codes.filter((c) => containsCode(text, String(c.variables.code)))).toEqual([]);
    expect(text).not.toMatch(/\+1(917|718)\d{7}/);
  });
});
