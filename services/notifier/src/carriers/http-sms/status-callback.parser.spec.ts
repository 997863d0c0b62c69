import { parseStatusCallback } from './status-callback.parser';

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

  it('answers unknown for an unknown status and nothing without a sid', () => {
    expect(parseStatusCallback('c', { MessageSid: 'SM1', MessageStatus: 'weird' })).toMatchObject({
      status: 'unknown',
      final: true,
    });
    expect(parseStatusCallback('c', { Foo: 'bar' })).toBeUndefined();
  });
});
