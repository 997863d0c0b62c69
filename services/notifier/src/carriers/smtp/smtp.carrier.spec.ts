import { carrierErrorOfSmtp, enhancedStatusOf } from './smtp.carrier';

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

  it('maps every "this address is bad" answer at RCPT to a recipient error (B2), 501 included', () => {
    for (const responseCode of [501, 550, 551, 553, 554]) {
      const error = carrierErrorOfSmtp('smtp-main', {
        code: 'EENVELOPE',
        responseCode,
        command: 'RCPT TO',
        response: `${responseCode} Error: Bad recipient address syntax`,
      });
      expect(error).toMatchObject({
        retryable: false,
        kind: 'recipient',
        providerCode: String(responseCode),
      });
      expect(error.message).toBe(
        `smtp-main: SMTP ${responseCode} at RCPT: recipient address refused`,
      );
    }
  });

  it('names the enhanced status in the reason and never the address', () => {
    const error = carrierErrorOfSmtp('smtp-main', {
      code: 'EENVELOPE',
      responseCode: 501,
      command: 'RCPT TO',
      response: '501 5.1.3 <ann..x@example.com>: Bad recipient address syntax',
    });
    expect(error.message).toBe('smtp-main: SMTP 501 5.1.3 at RCPT: recipient address refused');
    expect(error.message).not.toContain('example.com');
  });

  it('maps a destination-address enhanced status (5.1.x) after DATA to a recipient error, but not a sender one', () => {
    for (const status of ['5.1.1', '5.1.2', '5.1.3', '5.1.10']) {
      expect(
        carrierErrorOfSmtp('c', {
          code: 'EMESSAGE',
          responseCode: 550,
          command: 'DATA',
          response: `550 ${status} Recipient address rejected`,
        }),
      ).toMatchObject({ retryable: false, kind: 'recipient' });
    }
    for (const status of ['5.1.7', '5.1.8', '5.7.1', '5.6.0']) {
      expect(
        carrierErrorOfSmtp('c', {
          code: 'EMESSAGE',
          responseCode: 550,
          command: 'DATA',
          response: `550 ${status} refused`,
        }),
      ).toMatchObject({ retryable: true, kind: 'rejected' });
    }
  });

  it('keeps a refused MAIL FROM (our sender address) against the carrier', () => {
    for (const responseCode of [501, 550, 553]) {
      expect(
        carrierErrorOfSmtp('c', {
          code: 'EENVELOPE',
          responseCode,
          command: 'MAIL FROM',
          response: `${responseCode} 5.1.7 Bad sender address syntax`,
        }),
      ).toMatchObject({ retryable: true, kind: 'rejected' });
    }
  });

  it('keeps 4xx at RCPT transient, even with a 4.1.x status', () => {
    expect(
      carrierErrorOfSmtp('c', {
        code: 'EENVELOPE',
        responseCode: 450,
        command: 'RCPT TO',
        response: '450 4.1.1 Mailbox temporarily unavailable',
      }),
    ).toMatchObject({ retryable: true, kind: 'throttled' });
    expect(
      carrierErrorOfSmtp('c', { code: 'EENVELOPE', responseCode: 441, command: 'RCPT TO' }),
    ).toMatchObject({ retryable: true, kind: 'unavailable' });
  });

  it('maps "no recipients defined" / "invalid recipient" (an address nodemailer cannot use) to a recipient error, an invalid sender or DSN (ours) not', () => {
    for (const message of ['No recipients defined', 'Invalid recipient "a@@b"'])
      expect(carrierErrorOfSmtp('c', { code: 'EENVELOPE', command: 'API', message })).toMatchObject(
        {
          retryable: false,
          kind: 'recipient',
          providerCode: 'EENVELOPE',
        },
      );
    for (const message of ['Invalid sender "noreply@"', 'Invalid DSN bad notify'])
      expect(
        carrierErrorOfSmtp('c', { code: 'EENVELOPE', command: 'API', message }),
      ).not.toMatchObject({
        kind: 'recipient',
      });
  });
});

describe('enhancedStatusOf', () => {
  it('reads the RFC 3463 status after the reply code', () => {
    expect(enhancedStatusOf('550 5.1.1 user unknown')).toBe('5.1.1');
    expect(enhancedStatusOf('556-5.1.10 null MX')).toBe('5.1.10');
    expect(enhancedStatusOf('501 Error: Bad recipient address syntax')).toBeUndefined();
    expect(enhancedStatusOf('550 5.1.1.1 nonsense')).toBeUndefined();
    expect(enhancedStatusOf(undefined)).toBeUndefined();
  });
});
