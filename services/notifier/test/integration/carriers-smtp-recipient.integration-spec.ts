import { randomUUID } from 'node:crypto';
import type { CarrierSim } from '@phonegate/carrier-sim';
import { notificationRequestedV1 } from '@phonegate/contracts';
import type { Bus } from '@phonegate/messaging';
import { eventually } from '@phonegate/platform/testing';
import { type InProcessNotifier, type MessageJson, OPS, publish } from '../support/harness';
import type { OutcomeListener } from '../support/outcome-listener';
import { SimNotifier } from '../support/sim-notifier';

jest.setTimeout(60_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * QA's case end to end (B2): a handoff-code e-mail to an address the SMTP server refuses with
 * 501 at RCPT (a 300-octet local part). Before, the notifier retried it every few seconds until
 * notAfter and counted each try against the carrier; now the message fails at once with the
 * recipient's reason, after one try, and the carrier's error rate does not move.
 */
describe('notifier: an e-mail address the SMTP server refuses is the recipient’s fault', () => {
  let s: SimNotifier;
  let sim: CarrierSim;
  let notifier: InProcessNotifier;
  let publisher: Bus;
  let outcomes: OutcomeListener;

  beforeAll(async () => {
    s = await SimNotifier.start({
      carriers: {
        // One counted failure in two calls would open the breaker.
        'smtp-main': { breaker: { volumeThreshold: 2, errorThresholdPercentage: 40 } },
      },
      outcomes: true,
    });
    ({ sim, notifier, publisher, outcomes } = s);
  });

  afterAll(async () => {
    await s?.close();
  });

  const view = async (id: string) =>
    (
      await notifier.app.inject({ method: 'GET', url: `/v1/messages/${id}`, headers: OPS })
    ).json<MessageJson>();
  const smtpHealth = async () =>
    (await notifier.app.inject({ method: 'GET', url: '/v1/carriers', headers: OPS }))
      .json<{ carriers: { id: string; state: string; errorRate: number }[] }>()
      .carriers.find((c) => c.id === 'smtp-main');

  it('fails the message once with reason recipient:501, without retrying or counting it against the carrier', async () => {
    const shipment = randomUUID();
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const messageId = randomUUID();
      ids.push(messageId);
      await publish(publisher, notificationRequestedV1, {
        messageId,
        priority: 'critical',
        channel: 'email',
        to: `${'x'.repeat(300)}${i}@example.com`,
        template: 'delivery.handoff_code_email',
        locale: 'en',
        variables: { code: '482913', orderId: 'ord-qa-10', brand: 'Shop' },
        notAfter: new Date(Date.now() + 3 * 3600_000).toISOString(),
        dedupeKey: `delivery-otp:${shipment}:${i}:email`,
        origin: { service: 'delivery-otp', ref: shipment },
      });
    }
    for (const id of ids) {
      await eventually(async () => (await view(id)).status === 'failed', 15_000);
      const failed = await eventually(() => outcomes.of('notification.failed.v1', id)[0]);
      expect(failed.data).toMatchObject({ reason: 'recipient:501', carrier: 'smtp-main' });
    }
    // The old loop retried about every 4 s: give it the time to show.
    await sleep(5_000);
    for (const id of ids) {
      const v = await view(id);
      expect(v.status).toBe('failed');
      expect(v.attempts).toBe(1);
      expect(v.timeline.map((t) => t.status)).toEqual(['queued', 'sending', 'failed']);
      expect(v.timeline.at(-1)).toMatchObject({ reason: 'recipient:501' });
    }
    expect(await smtpHealth()).toMatchObject({ state: 'closed', errorRate: 0 });
    expect(sim.store.list({ channel: 'email' })).toEqual([]);
  });
});
