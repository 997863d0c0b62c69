import { normalizeMessageId, parseDeliveryReceipt } from './delivery-receipt.parser';

const text = (stat: string, err = '000') =>
  `id:0a1b2c sub:001 dlvrd:001 submit date:2511221200 done date:2511221201 stat:${stat} err:${err} text:Your code is 123456`;

describe('parseDeliveryReceipt', () => {
  it('reads a DELIVRD receipt from its text', () => {
    expect(parseDeliveryReceipt({ esmClass: 0x04, shortMessage: text('DELIVRD') })).toEqual({
      id: '0a1b2c',
      status: 'delivered',
      final: true,
    });
  });

  it('reads UNDELIV with its error code and never keeps the text', () => {
    const r = parseDeliveryReceipt({ esmClass: 0x04, shortMessage: text('UNDELIV', '001') });
    expect(r).toEqual({
      id: '0a1b2c',
      status: 'undelivered',
      final: true,
      errorCode: 'UNDELIV/001',
    });
    expect(JSON.stringify(r)).not.toContain('123456');
  });

  it('prefers the receipted_message_id and message_state TLVs', () => {
    expect(
      parseDeliveryReceipt({
        esmClass: 0x04,
        shortMessage: text('DELIVRD'),
        receiptedMessageId: 'FF00',
        messageState: 8,
      }),
    ).toMatchObject({ id: 'ff00', status: 'rejected', final: true });
  });

  it('treats ENROUTE/ACCEPTD as intermediate', () => {
    expect(parseDeliveryReceipt({ esmClass: 0x04, shortMessage: text('ENROUTE') })).toMatchObject({
      status: 'sent',
      final: false,
    });
  });

  it('reads a state it does not know as unknown and not final, and UNKNOWN (state 7) as final', () => {
    for (const input of [
      { shortMessage: text('PENDING') },
      { shortMessage: text('PENDING'), messageState: 42 },
      { shortMessage: 'id:0a1b2c sub:001 dlvrd:000' },
    ])
      expect(parseDeliveryReceipt({ esmClass: 0x04, ...input })).toMatchObject({
        status: 'unknown',
        final: false,
      });
    expect(
      parseDeliveryReceipt({ esmClass: 0x04, shortMessage: text('UNKNOWN'), messageState: 7 }),
    ).toMatchObject({ status: 'unknown', final: true });
  });

  it.each([
    // SMPP 3.4 §5.2.28 / SMPP 5.0 §4.7.15: message_state, its stat word, what it means here.
    [0, 'SCHEDULED', 'sent', false],
    [1, 'ENROUTE', 'sent', false],
    [2, 'DELIVRD', 'delivered', true],
    [3, 'EXPIRED', 'expired', true],
    [4, 'DELETED', 'failed', true],
    [5, 'UNDELIV', 'undelivered', true],
    [6, 'ACCEPTD', 'sent', false],
    [7, 'UNKNOWN', 'unknown', true],
    [8, 'REJECTD', 'rejected', true],
    [9, 'SKIPPED', 'failed', true],
  ] as const)('message_state %i and stat:%s read %s (final: %s)', (state, word, status, final) => {
    expect(parseDeliveryReceipt({ esmClass: 0x04, shortMessage: text(word) })).toMatchObject({
      status,
      final,
    });
    // The TLV decides, whatever the text says.
    expect(
      parseDeliveryReceipt({ esmClass: 0x04, shortMessage: text('PENDING'), messageState: state }),
    ).toMatchObject({ status, final });
  });

  it('reads SKIPPED (accepted, never transmitted) as a failure that ends the message', () => {
    expect(
      parseDeliveryReceipt({ esmClass: 0x04, shortMessage: text('SKIPPED', '002'), messageState: 9 }),
    ).toEqual({ id: '0a1b2c', status: 'failed', final: true, errorCode: 'SKIPPED/002' });
  });

  it.each([
    ['FAILED', 'failed'],
    ['UNDELIVERABLE', 'undelivered'],
    ['UNDELIVERED', 'undelivered'],
    ['REJECTED', 'rejected'],
    ['DELIVERED', 'delivered'],
    ['failed', 'failed'],
  ] as const)('reads the non-standard final word %s as %s, final', (word, status) => {
    expect(parseDeliveryReceipt({ esmClass: 0x04, shortMessage: text(word) })).toMatchObject({
      status,
      final: true,
    });
  });

  it('ignores a deliver_sm that is not a receipt', () => {
    expect(parseDeliveryReceipt({ esmClass: 0x00, shortMessage: 'hello' })).toBeUndefined();
    expect(parseDeliveryReceipt({ esmClass: 0x04, shortMessage: 'no id here' })).toBeUndefined();
  });

  it('normalises ids for matching', () => {
    expect(normalizeMessageId(' 00ABC ')).toBe('00abc');
  });
});
