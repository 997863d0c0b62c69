import { randomUUID } from 'node:crypto';
import {
  accountCreatedV1,
  orderStatusChangedV1,
  phoneRemovedV1,
  phoneVerifiedV1,
} from '@phonegate/contracts';
import { eventually } from '@phonegate/platform/testing';
import { publish, STOREFRONT } from '../support/harness';
import { SimNotifier } from '../support/sim-notifier';

jest.setTimeout(90_000);

/**
 * Order updates follow the contact projection of identity's events: a number deregistered, or
 * moved to another account, stops getting an account's order updates, whatever order the
 * events arrive in (a delivery retried through the bus's delay queues comes after later ones).
 */
describe('notifier: order updates and the contact projection', () => {
  let s: SimNotifier;
  let seq = 0;
  const number = () => `+1415557${String(1000 + ++seq)}`;
  /** The outcome (sent or dropped) of the message whose origin ref is `ref`. */
  const outcomeOf = (ref: string) =>
    eventually(
      () =>
        s.outcomes.events.find(
          (e) =>
            ['notification.sent.v1', 'notification.dropped.v1'].includes(e.type) &&
            (e.data as { origin?: { ref?: string } }).origin?.ref === ref,
        ),
      15_000,
    );
  const account = async () => {
    const accountId = randomUUID();
    await publish(s.publisher, accountCreatedV1, {
      accountId,
      email: `${accountId.slice(0, 8)}@example.com`,
      locale: 'en',
    });
    return accountId;
  };
  /** Waits until the projection has taken every event published so far (a marker account's number). */
  const settle = async () => {
    const accountId = await account();
    const e164 = number();
    await publish(s.publisher, phoneVerifiedV1, {
      accountId,
      phoneId: randomUUID(),
      e164,
      primary: true,
    });
    await eventually(
      async () =>
        (
          await s.notifier.app.inject({
            method: 'POST',
            url: '/v1/notifications',
            headers: STOREFRONT,
            payload: {
              to: e164,
              channel: 'sms',
              template: 'order.status_changed.confirmed',
              variables: { orderId: 'marker' },
            },
          })
        ).statusCode === 202,
      10_000,
    );
  };

  beforeAll(async () => {
    s = await SimNotifier.start({ outcomes: true, numbers: '+1415557' });
  });

  afterAll(async () => {
    await s?.close();
  });

  it('a number removed before its verification event arrives stays removed: no order update goes to it', async () => {
    const accountId = await account();
    const phone = { phoneId: randomUUID(), e164: number() };
    await publish(s.publisher, phoneRemovedV1, {
      accountId,
      ...phone,
      primary: true,
      reason: 'deregistered',
    });
    await settle();
    await publish(s.publisher, phoneVerifiedV1, { accountId, ...phone, primary: true });
    await settle();

    const orderId = `ord_${randomUUID().slice(0, 8)}`;
    await publish(s.publisher, orderStatusChangedV1, {
      orderId,
      accountId,
      status: 'shipped',
      locale: 'en',
      priority: 'standard',
    });
    const outcome = await outcomeOf(orderId);
    expect(outcome.type).toBe('notification.dropped.v1');
    expect(outcome.data).toMatchObject({ reason: 'no_verified_number', attempts: 0 });
    expect(s.sim.store.list({ to: phone.e164 })).toEqual([]);
  });
});
