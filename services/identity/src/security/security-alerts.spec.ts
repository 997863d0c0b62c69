import { notificationRequestedV1 } from '@phonegate/contracts';
import { securityAlert } from './security-alerts';

describe('securityAlert', () => {
  it('is a valid critical e-mail to the account address, deduplicated by template and reference', () => {
    const data = securityAlert({ accountId: '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10', email: 'ana@example.com', locale: 'en' }, 'security.phone_removed', { number: '+1 ••• ••• ••23' }, 'p1');
    expect(notificationRequestedV1.schema.parse(data)).toMatchObject({
      priority: 'critical',
      channel: 'email',
      to: 'ana@example.com',
      template: 'security.phone_removed',
      dedupeKey: 'identity:security.phone_removed:p1',
      origin: { service: 'identity', ref: 'p1' },
    });
  });
});
