import { notificationRequestedV1 } from '@phonegate/contracts';
import { boundedRef, securityAlert } from './security-alerts';

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

  it('keeps a long reference (an account and a 200-character device id) within the contract, the same each time', () => {
    const target = { accountId: '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10', email: 'ana@example.com', locale: 'en' };
    const ref = `${target.accountId}:${'q'.repeat(200)}`;
    const one = notificationRequestedV1.schema.parse(securityAlert(target, 'security.new_device', {}, ref));
    const two = securityAlert(target, 'security.new_device', {}, ref);
    expect(one.dedupeKey).toBe(two.dedupeKey);
    expect(one.dedupeKey).toBe(`identity:security.new_device:${boundedRef(ref)}`);
    expect(boundedRef(ref)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(boundedRef('p1')).toBe('p1');
  });
});
