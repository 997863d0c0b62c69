import { notificationRequestedV1 } from '@phonegate/contracts';
import type { ShipmentRecord } from '../persistence/shipment.ledger';
import { codeNotifications, handedOffNotification } from './code-notifications';

const shipment = (over: Partial<ShipmentRecord> = {}): ShipmentRecord => ({
  id: 'shp_1',
  orderId: 'ord_1',
  accountId: 'acc_1',
  merchantId: null,
  courierId: 'cour_1',
  phone: '+14155550123',
  email: 'ana@example.com',
  locale: 'en',
  windowStart: new Date('2026-11-22T09:00:00Z'),
  windowEnd: new Date('2026-11-22T13:00:00Z'),
  expiresAt: new Date('2026-11-22T13:30:00Z'),
  status: 'awaiting_handoff',
  codeGeneration: 3,
  handedOffAt: null,
  handedOffDeviceId: null,
  handoffAttempts: 0,
  handoffLocked: false,
  regenerations: 0,
  lastCodeSentAt: null,
  ...over,
});

describe('codeNotifications', () => {
  it('sends a critical SMS and an e-mail on issue, valid against the contract, not after the window', () => {
    const [sms, email, ...rest] = codeNotifications(shipment(), '012345', 'out_for_delivery');
    expect(rest).toHaveLength(0);
    expect(sms).toMatchObject({
      priority: 'critical',
      channel: 'sms',
      to: '+14155550123',
      template: 'delivery.handoff_code',
      variables: { code: '012345', windowStart: '2026-11-22T09:00:00.000Z', windowEnd: '2026-11-22T13:00:00.000Z' },
      notAfter: '2026-11-22T13:00:00.000Z',
      dedupeKey: 'delivery-otp:shp_1:3:sms',
    });
    expect(email).toMatchObject({ channel: 'email', to: 'ana@example.com', template: 'delivery.handoff_code_email', notAfter: '2026-11-22T13:00:00.000Z' });
    for (const m of [sms, email]) expect(notificationRequestedV1.schema.safeParse(m).success).toBe(true);
    expect(notificationRequestedV1.sensitive).toContain('variables.code');
  });

  it('re-sends a regenerated code by SMS only, or by e-mail when there is no number', () => {
    expect(codeNotifications(shipment(), '111111', 'regenerated').map((m) => m.channel)).toEqual(['sms']);
    expect(codeNotifications(shipment({ phone: null }), '111111', 'regenerated').map((m) => m.channel)).toEqual(['email']);
  });

  it('falls back to the account id (when a uuid) for the notifier to resolve, and to nothing otherwise', () => {
    const accountId = '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10';
    const [sms] = codeNotifications(shipment({ phone: null, email: null, accountId }), '111111', 'out_for_delivery');
    expect(sms).toMatchObject({ channel: 'sms', accountId });
    expect(sms).not.toHaveProperty('to');
    expect(codeNotifications(shipment({ phone: null, email: null }), '111111', 'out_for_delivery')).toEqual([]);
  });
});

describe('handedOffNotification', () => {
  it('e-mails the customer without any code', () => {
    const mail = handedOffNotification(shipment(), new Date('2026-11-22T10:15:00Z'));
    expect(mail).toMatchObject({ channel: 'email', priority: 'standard', to: 'ana@example.com', template: 'delivery.handed_off' });
    expect(mail?.variables).toEqual({ orderId: 'ord_1', shipmentId: 'shp_1', handedOffAt: '2026-11-22T10:15:00.000Z' });
    expect(handedOffNotification(shipment({ email: null }), new Date())).toBeUndefined();
  });
});
