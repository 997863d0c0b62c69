import { randomUUID } from 'node:crypto';
import {
  accountCreatedV1,
  notificationRequestedV1,
  orderStatusChangedV1,
  phonePrimaryChangedV1,
  phoneRemovedV1,
  phoneVerifiedV1,
} from '@phonegate/contracts';
import { eventually } from '@phonegate/platform/testing';
import { type MessageJson, publish, STOREFRONT } from '../support/harness';
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
  const view = (id: string) => s.get<MessageJson>(`/v1/messages/${id}`);
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
  /** An order.status_changed.v1 for `accountId`, and the outcome of its message. */
  const orderUpdate = async (
    accountId: string,
    status: 'packed' | 'shipped' | 'refunded',
    priority: 'standard' | 'bulk' = 'standard',
  ) => {
    const orderId = `ord_${randomUUID().slice(0, 8)}`;
    await publish(s.publisher, orderStatusChangedV1, {
      orderId,
      accountId,
      status,
      locale: 'en',
      priority,
    });
    return outcomeOf(orderId);
  };
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
  /** An account with one verified primary number, in the projection. */
  const accountWithNumber = async () => {
    const accountId = await account();
    const e164 = number();
    await publish(s.publisher, phoneVerifiedV1, {
      accountId,
      phoneId: randomUUID(),
      e164,
      primary: true,
    });
    await settle();
    return { accountId, e164 };
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

    const outcome = await orderUpdate(accountId, 'shipped');
    expect(outcome.type).toBe('notification.dropped.v1');
    expect(outcome.data).toMatchObject({ reason: 'no_verified_number', attempts: 0 });
    expect(s.sim.store.list({ to: phone.e164 })).toEqual([]);
  });

  it('an order update asked for one account never goes to its old number once another account verified it', async () => {
    const [ana, ben] = [await account(), await account()];
    const recycled = number();
    const anas = { phoneId: randomUUID(), e164: recycled };
    await publish(s.publisher, phoneVerifiedV1, { accountId: ana, ...anas, primary: true });
    await settle();
    // What POST /v1/notifications {accountId: ana} queued while the number was ana's.
    const queued = {
      messageId: randomUUID(),
      priority: 'bulk' as const,
      channel: 'sms' as const,
      to: recycled,
      accountId: ana,
      template: 'order.status_changed.shipped',
      locale: 'en',
      variables: { orderId: `ord_${randomUUID().slice(0, 8)}` },
      origin: { service: 'api', ref: `ref_${randomUUID()}` },
    };
    // ana gives the number up, ben gets it and verifies it, before the bulk lane reaches it.
    await publish(s.publisher, phoneRemovedV1, {
      accountId: ana,
      ...anas,
      primary: true,
      reason: 'deregistered',
    });
    await publish(s.publisher, phoneVerifiedV1, {
      accountId: ben,
      phoneId: randomUUID(),
      e164: recycled,
      primary: true,
    });
    await settle();
    await publish(s.publisher, notificationRequestedV1, queued);

    const outcome = await outcomeOf(queued.origin.ref);
    expect(outcome.type).toBe('notification.dropped.v1');
    expect(outcome.data).toMatchObject({ reason: 'destination_refused', attempts: 0 });
    expect(s.sim.store.list({ to: recycled })).toEqual([]);
    expect(await view(queued.messageId)).toMatchObject({ status: 'dropped', carrier: null });

    // Over HTTP the same: the number is not ana's.
    const res = await s.notifier.app.inject({
      method: 'POST',
      url: '/v1/notifications',
      headers: STOREFRONT,
      payload: {
        to: recycled,
        accountId: ana,
        channel: 'sms',
        template: 'order.status_changed.shipped',
        variables: { orderId: 'ord_http' },
      },
    });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({
      code: 'destination_refused',
      reason: 'destination_refused',
    });
    // ben's own order updates still reach him there.
    const bens = `ord_${randomUUID().slice(0, 8)}`;
    await publish(s.publisher, orderStatusChangedV1, {
      orderId: bens,
      accountId: ben,
      status: 'packed',
      locale: 'en',
      priority: 'standard',
    });
    expect((await outcomeOf(bens)).type).toBe('notification.sent.v1');
  });
  it('a verification event that comes after the number was made primary (or again) leaves it primary', async () => {
    const accountId = await account();
    const first = { phoneId: randomUUID(), e164: number() };
    const second = { phoneId: randomUUID(), e164: number() };
    await publish(s.publisher, phoneVerifiedV1, { accountId, ...first, primary: true });
    await settle();
    // identity: second verified (not primary), then made primary; the projection hears it the other way round.
    await publish(s.publisher, phonePrimaryChangedV1, { accountId, ...second, primary: true });
    await settle();
    await publish(s.publisher, phoneVerifiedV1, { accountId, ...second, primary: false });
    await settle();
    // And the first number's verification once more (a redelivery).
    await publish(s.publisher, phoneVerifiedV1, { accountId, ...first, primary: true });
    await settle();

    const outcome = await orderUpdate(accountId, 'packed', 'bulk');
    expect(outcome.type).toBe('notification.sent.v1');
    const sent = await view((outcome.data as { messageId: string }).messageId);
    expect(sent).toMatchObject({ to: `+1 ••• ••• ••${second.e164.slice(-2)}`, priority: 'bulk' });
    expect(s.sim.store.list({ to: second.e164 })).toHaveLength(1);
    expect(s.sim.store.list({ to: first.e164 })).toEqual([]);
  });
  it('matches an account id in any letter case, as the preferences route does', async () => {
    const { accountId, e164 } = await accountWithNumber();
    expect((await orderUpdate(accountId.toUpperCase(), 'shipped')).type).toBe(
      'notification.sent.v1',
    );

    const res = await s.notifier.app.inject({
      method: 'POST',
      url: '/v1/notifications',
      headers: STOREFRONT,
      payload: {
        accountId: accountId.toUpperCase(),
        channel: 'sms',
        template: 'order.status_changed.delivered',
        variables: { orderId: `ord_${randomUUID().slice(0, 8)}` },
      },
    });
    expect(res.statusCode).toBe(202);
    await eventually(() => s.sim.store.list({ to: e164 }).length === 2, 10_000);

    // An opt-out given with the id in upper case holds for the event in lower case too.
    const put = await s.notifier.app.inject({
      method: 'PUT',
      url: `/v1/accounts/${accountId.toUpperCase()}/notification-preferences`,
      headers: STOREFRONT,
      payload: { orderUpdates: false },
    });
    expect(put.statusCode).toBe(200);
    expect((await orderUpdate(accountId, 'refunded')).data).toMatchObject({ reason: 'opted_out' });
  });
  it('takes a number in national form with a country, or written with spaces, over HTTP (API conventions)', async () => {
    const { e164 } = await accountWithNumber();
    const national = `(${e164.slice(2, 5)}) ${e164.slice(5, 8)}-${e164.slice(8)}`;
    const spaced = `+1 ${e164.slice(2, 5)} ${e164.slice(5, 8)} ${e164.slice(8)}`;
    for (const to of [{ to: national, country: 'US' }, { to: spaced }]) {
      const res = await s.notifier.app.inject({
        method: 'POST',
        url: '/v1/notifications',
        headers: STOREFRONT,
        payload: {
          ...to,
          channel: 'sms',
          template: 'order.status_changed.shipped',
          variables: { orderId: `ord_${randomUUID().slice(0, 8)}` },
        },
      });
      expect(res.statusCode).toBe(202);
      const v = await view(res.json<{ messageId: string }>().messageId);
      expect(v.to).toBe(`+1 ••• ••• ••${e164.slice(-2)}`);
    }
    await eventually(() => s.sim.store.list({ to: e164 }).length === 2, 10_000);
    // Without the country a national number names nothing: 422 as before.
    const bare = await s.notifier.app.inject({
      method: 'POST',
      url: '/v1/notifications',
      headers: STOREFRONT,
      payload: {
        to: national,
        channel: 'sms',
        template: 'order.status_changed.shipped',
        variables: { orderId: 'ord_bare' },
      },
    });
    expect(bare.statusCode).toBe(422);
    expect(bare.json()).toMatchObject({ code: 'invalid_phone_number' });
  });
});
