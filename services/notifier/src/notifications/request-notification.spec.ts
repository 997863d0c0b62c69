import { notificationRequestedV1 } from '@phonegate/contracts';
import { notificationBody } from './request-notification';

/** A valid body and the event it becomes, for one field changed at a time. */
const body = {
  to: 'ana@example.com',
  accountId: '3c2d1e0f-2222-4a57-9a52-1d1c0f6a3b10',
  channel: 'email',
  template: 'security.new_device',
  priority: 'standard',
  variables: { device: 'Pixel 9' },
};
const eventOf = (b: Record<string, unknown>) => ({
  ...b,
  messageId: '7e6d5c4b-3333-4a57-9a52-1d1c0f6a3b10',
  locale: 'en',
});

describe('notificationBody', () => {
  it('accepts the body whose event the contract accepts', () => {
    expect(notificationBody.safeParse(body).success).toBe(true);
    expect(notificationRequestedV1.schema.safeParse(eventOf(body)).success).toBe(true);
  });

  // Each field the body hands on to notification.requested.v1; accountId was the looser one
  // (any 1-100 characters): the body passed, the event failed, and the caller got a 500.
  it.each([
    ['accountId', 'not a UUID', 'acct_42'],
    ['accountId', 'a UUID without dashes', '3c2d1e0f22224a579a521d1c0f6a3b10'],
    ['to', 'over 320 characters', 'x'.repeat(321)],
    ['template', 'with capitals', 'Security.New'],
    ['channel', 'unknown', 'fax'],
    ['priority', 'unknown', 'urgent'],
  ])('refuses %s: %s, as the contract does', (field, _what, value) => {
    const bad = { ...body, [field]: value };
    expect(notificationRequestedV1.schema.safeParse(eventOf(bad)).success).toBe(false);
    const parsed = notificationBody.safeParse(bad);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path.join('.'))).toEqual([field]);
  });
});
