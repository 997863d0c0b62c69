import { callbackStatusOf, parseStatusCallback } from './status-callback.parser';

const at = new Date('2025-01-01T00:00:00Z');

describe('parseStatusCallback', () => {
  it('reads a delivered message', () => {
    expect(
      parseStatusCallback('http-b', { MessageSid: 'SM1', MessageStatus: 'delivered' }, at),
    ).toEqual({
      carrierId: 'http-b',
      providerMessageId: 'SM1',
      status: 'delivered',
      final: true,
      at,
    });
  });

  it('reads undelivered with its error code and sent as intermediate', () => {
    expect(
      parseStatusCallback('c', {
        MessageSid: 'SM1',
        MessageStatus: 'undelivered',
        ErrorCode: '30003',
      }),
    ).toMatchObject({
      status: 'undelivered',
      final: true,
      errorCode: '30003',
    });
    expect(parseStatusCallback('c', { MessageSid: 'SM1', MessageStatus: 'sent' })).toMatchObject({
      status: 'sent',
      final: false,
    });
  });

  it('reads calls: completed is delivered, no-answer is undelivered', () => {
    expect(parseStatusCallback('c', { CallSid: 'CA1', CallStatus: 'completed' })).toMatchObject({
      providerMessageId: 'CA1',
      status: 'delivered',
    });
    expect(parseStatusCallback('c', { CallSid: 'CA1', CallStatus: 'no-answer' })).toMatchObject({
      status: 'undelivered',
      errorCode: 'no-answer',
    });
  });

  // An unknown or empty status used to be final (a failure): notification.failed, and otp could
  // fall back to another channel and send the code twice for a message still on its way.
  it.each(['scheduled', 'receiving', 'read', 'partially_delivered', 'weird', ''])(
    'reads the unknown message status %j as unknown and not final',
    (word) => {
      expect(parseStatusCallback('c', { MessageSid: 'SM1', MessageStatus: word })).toMatchObject({
        status: 'unknown',
        final: false,
      });
    },
  );

  it('reads an unknown or missing call status as not final', () => {
    expect(parseStatusCallback('c', { CallSid: 'CA1', CallStatus: 'answered' })).toMatchObject({
      status: 'unknown',
      final: false,
    });
    expect(parseStatusCallback('c', { CallSid: 'CA1' })).toMatchObject({ final: false });
  });

  it.each([
    ['MessageSid', 'MessageStatus', 'failed', 'failed'],
    ['MessageSid', 'MessageStatus', 'canceled', 'failed'],
    ['MessageSid', 'MessageStatus', 'undelivered', 'undelivered'],
    ['CallSid', 'CallStatus', 'busy', 'undelivered'],
    ['CallSid', 'CallStatus', 'failed', 'failed'],
  ])('keeps the known failure %s %s=%s final', (sid, field, word, status) => {
    expect(parseStatusCallback('c', { [sid]: 'X1', [field]: word })).toMatchObject({
      status,
      final: true,
    });
  });

  it('reads the status word of messages, SMS (old names) and calls', () => {
    expect(callbackStatusOf({ MessageSid: 'SM1', MessageStatus: 'Scheduled' })).toBe('scheduled');
    expect(callbackStatusOf({ SmsSid: 'SM1', SmsStatus: 'sent' })).toBe('sent');
    expect(callbackStatusOf({ CallSid: 'CA1', CallStatus: 'ringing' })).toBe('ringing');
    expect(callbackStatusOf({ CallSid: 'CA1' })).toBe('');
  });

  it('answers nothing without a sid', () => {
    expect(parseStatusCallback('c', { Foo: 'bar' })).toBeUndefined();
  });
});
