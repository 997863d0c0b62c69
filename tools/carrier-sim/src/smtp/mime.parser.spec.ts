import {
  decodeEncodedWords,
  decodeQuotedPrintable,
  parseAddresses,
  parseMime,
} from './mime.parser';

describe('parseMime', () => {
  it('reads a plain 7bit message', () => {
    const raw = [
      'From: Shop <no-reply@shop.example>',
      'To: ann@example.com',
      'Subject: Your order',
      'Message-ID: <abc@shop.example>',
      '',
      'Hello Ann,',
      'your order shipped.',
      '',
    ].join('\r\n');
    expect(parseMime(raw)).toEqual({
      from: 'no-reply@shop.example',
      to: ['ann@example.com'],
      subject: 'Your order',
      messageId: 'abc@shop.example',
      text: 'Hello Ann,\nyour order shipped.',
      html: undefined,
    });
  });

  it('decodes quoted-printable with soft line breaks and utf-8 bytes', () => {
    const raw =
      'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n' +
      'Caf=C3=A9 cr=C3=A8me, a very long line that nodemailer folds at seventy-si=\r\nx characters.\r\n';
    expect(parseMime(raw).text).toBe(
      'Café crème, a very long line that nodemailer folds at seventy-six characters.',
    );
  });

  it('picks text and html out of a nested multipart with base64 parts', () => {
    const text = Buffer.from('Код 123456 — ok', 'utf8').toString('base64');
    const html = Buffer.from('<p>Код <b>123456</b></p>', 'utf8').toString('base64');
    const raw = [
      'Subject: =?UTF-8?B?0JrQvtC0?= =?UTF-8?Q?_caf=C3=A9?=',
      'Content-Type: multipart/mixed; boundary="outer"',
      '',
      'preamble',
      '--outer',
      'Content-Type: multipart/alternative; boundary=inner',
      '',
      '--inner',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: base64',
      '',
      text,
      '--inner',
      'Content-Type: text/html; charset=utf-8',
      'Content-Transfer-Encoding: base64',
      '',
      html,
      '--inner--',
      '--outer',
      'Content-Type: text/plain',
      'Content-Disposition: attachment; filename=a.txt',
      '',
      'attached',
      '--outer--',
      '',
    ].join('\r\n');
    const mail = parseMime(raw);
    expect(mail.subject).toBe('Код café');
    expect(mail.text).toBe('Код 123456 — ok');
    expect(mail.html).toBe('<p>Код <b>123456</b></p>');
  });

  it('falls back to the html without tags when there is no text part', () => {
    const raw = 'Content-Type: text/html; charset=utf-8\r\n\r\n<p>Hi <b>there</b></p>';
    expect(parseMime(raw).text).toBe('Hi there');
  });
});

describe('header helpers', () => {
  it('decodes adjacent encoded words without the space between them', () => {
    expect(decodeEncodedWords('=?utf-8?Q?a?= =?utf-8?Q?b?= c')).toBe('ab c');
  });
  it('removes soft line breaks and trailing spaces in quoted-printable', () => {
    expect(decodeQuotedPrintable('a=\r\nb  \r\nc=3D')).toBe('ab\r\nc=');
  });
  it('lists addresses with display names and quoted commas', () => {
    expect(parseAddresses('"Doe, Ann" <ann@x.test>, bob@y.test')).toEqual([
      'ann@x.test',
      'bob@y.test',
    ]);
  });
});
