import { randomUUID } from 'node:crypto';
import type { CarrierSim, SimMessage } from '@phonegate/carrier-sim';
import { connect } from 'amqplib';
import { eventually } from '@phonegate/platform/testing';
import { BulkPublisher } from '../support/bulk-publisher';
import { createTestInfra, type TestInfra } from '../support/harness';
import { NotifierProcess } from '../support/process';
import { carriersEnv, freePort, percentile, startSim } from '../support/sim';

jest.setTimeout(180_000);

const BULK = Number(process.env['NOTIFIER_TEST_BULK'] ?? 50_000);
const CODES = 500;
const FAST = { ratePerSec: 100_000, maxConcurrent: 64, maxQueue: 1_000 };

/**
 * Priorities are separate queues with their own consumers: with a backlog of 50,000 bulk
 * messages queued, 500 code messages requested one after another each reach the carrier
 * simulator within a second of being requested (p99), while bulk goes on. The notifier runs as
 * its own process (node services/notifier/dist/main.js).
 */
describe('notifier: codes overtake a bulk backlog', () => {
  let infra: TestInfra;
  let sim: CarrierSim;
  let notifier: NotifierProcess;
  let publisher: BulkPublisher;
  const arrivals = new Map<string, SimMessage>();
  let bulkArrived = 0;

  beforeAll(async () => {
    sim = await startSim(BULK + CODES + 1_000);
    sim.store.on('message', (m: SimMessage) => {
      if (m.to.startsWith('+1646')) arrivals.set(m.to, m);
      else bulkArrived++;
    });
    const port = await freePort();
    infra = await createTestInfra({
      LOG_LEVEL: 'warn',
      RECEIPT_CALLBACK_BASE_URL: `http://127.0.0.1:${port}`,
      ...carriersEnv(sim, { 'smpp-a': { ...FAST, window: 64 }, 'http-b': FAST }),
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

  it('sends every code within 1 s (p99) of its request while 50,000 bulk messages are queued', async () => {
    const bulk = Array.from({ length: BULK }, (_, i) => ({
      messageId: randomUUID(),
      priority: 'bulk' as const,
      channel: 'sms' as const,
      to: `+1212${String(5_000_000 + i).padStart(7, '0')}`,
      template: 'delivery.handed_off',
      locale: 'en',
      variables: { orderId: `bulk_${i}` },
    }));
    const publishStarted = Date.now();
    await publisher.publish(bulk);
    const publishMs = Date.now() - publishStarted;

    const conn = await connect(infra.vhost.url);
    const ch = await conn.createChannel();
    const backlog = (await ch.checkQueue('notifier.bulk')).messageCount;
    expect(backlog).toBeGreaterThan(BULK / 2);

    // 500 codes, one every 10 ms, while the bulk backlog is being worked off.
    const bulkBefore = bulkArrived;
    const codeStarted = Date.now();
    const requested = new Map<string, number>();
    for (let i = 0; i < CODES; i++) {
      const to = `+1646${String(1_000_000 + i)}`;
      const [time] = await publisher.publish(
        [
          {
            messageId: randomUUID(),
            priority: 'critical',
            channel: 'sms',
            to,
            template: 'otp.sign_in',
            locale: 'en',
            variables: { code: String(200_000 + i), host: 'shop.example.com' },
            notAfter: new Date(Date.now() + 300_000).toISOString(),
            dedupeKey: `prio:${i}:${randomUUID()}`,
            origin: { service: 'otp', ref: `c${i}` },
          },
        ],
        1,
      );
      requested.set(to, time!);
      await new Promise((r) => setTimeout(r, 10));
    }
    await eventually(() => arrivals.size === CODES, 60_000, 100);
    const codeMs = Date.now() - codeStarted;
    const bulkDuring = bulkArrived - bulkBefore;
    const backlogAfter = (await ch.checkQueue('notifier.bulk')).messageCount;
    await ch.close();
    await conn.close();

    const latencies = [...requested].map(([to, t]) => arrivals.get(to)!.receivedAt - t);
    const report = {
      bulkQueued: BULK,
      publishMs,
      bulkBacklogAtCodes: backlog,
      bulkBacklogAfter: backlogAfter,
      bulkSentDuringCodes: bulkDuring,
      bulkPerSecond: Math.round((bulkDuring / codeMs) * 1000),
      codeP50Ms: Math.round(percentile(latencies, 50)),
      codeP99Ms: Math.round(percentile(latencies, 99)),
      codeMaxMs: Math.round(Math.max(...latencies)),
    };
    const metrics = await (await fetch(`${notifier.url}/metrics`)).text();
    const lag = histogramMean(metrics, 'bus_queue_lag_seconds', 'queue="notifier.critical"');
    const send = histogramMean(metrics, 'notifier_send_latency_seconds', 'priority="critical"');
    process.stdout.write(
      `priority report ${JSON.stringify({ ...report, criticalQueueLagMeanMs: lag, criticalSendLatencyMeanMs: send })}\n`,
    );
    expect(report.codeP99Ms).toBeLessThan(1_000);
    // Bulk went on meanwhile, and is still going.
    expect(bulkDuring).toBeGreaterThan(0);
    const later = bulkArrived;
    await eventually(() => bulkArrived > later + 100, 20_000);
  });
});

/** Mean of a Prometheus histogram series, in ms (for the report). */
function histogramMean(text: string, name: string, label: string): number | undefined {
  const line = (suffix: string) =>
    text.split('\n').find((l) => l.startsWith(`${name}_${suffix}{`) && l.includes(label));
  const sum = Number(line('sum')?.split(' ').pop());
  const count = Number(line('count')?.split(' ').pop());
  return count ? Math.round((sum / count) * 1000) : undefined;
}
