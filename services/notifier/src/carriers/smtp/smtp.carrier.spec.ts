import { carrierErrorOfSmtp } from './smtp.carrier';

describe('carrierErrorOfSmtp', () => {
  it('maps a 550 at RCPT to a non-retryable recipient error', () => {
    expect(
      carrierErrorOfSmtp('smtp-main', { code: 'EENVELOPE', responseCode: 550, command: 'RCPT TO' }),
    ).toMatchObject({
      retryable: false,
      kind: 'recipient',
      providerCode: '550',
    });
  });

  it('maps 421 and 45x to throttled', () => {
    for (const responseCode of [421, 451, 452]) {
      expect(
        carrierErrorOfSmtp('c', { code: 'EMESSAGE', responseCode, command: 'DATA' }),
      ).toMatchObject({ retryable: true, kind: 'throttled' });
    }
  });

  it('maps connection and auth failures to unavailable and other 5xx to rejected', () => {
    expect(carrierErrorOfSmtp('c', { code: 'ECONNECTION' })).toMatchObject({
      kind: 'unavailable',
      providerCode: 'ECONNECTION',
    });
    expect(
      carrierErrorOfSmtp('c', { code: 'EAUTH', responseCode: 535, command: 'AUTH PLAIN' }),
    ).toMatchObject({ kind: 'unavailable' });
    expect(
      carrierErrorOfSmtp('c', { code: 'EMESSAGE', responseCode: 552, command: 'DATA' }),
    ).toMatchObject({ retryable: true, kind: 'rejected' });
  });
});
