import { createHmac } from 'node:crypto';
import { signCallback } from './callback-signature';

describe('signCallback', () => {
  it('signs the url followed by the parameters sorted by name', () => {
    const url = 'http://127.0.0.1:3000/v1/carriers/http-b/receipts?x=1';
    const params = { MessageStatus: 'delivered', MessageSid: 'SM1', AccountSid: 'AC1' };
    const expected = createHmac('sha256', 'token')
      .update(`${url}AccountSidAC1MessageSidSM1MessageStatusdelivered`)
      .digest('base64');
    expect(signCallback(url, params, 'token')).toBe(expected);
  });

  it('changes when a parameter, the url or the token changes', () => {
    const base = signCallback('http://a/cb', { A: '1' }, 't');
    expect(signCallback('http://a/cb', { A: '2' }, 't')).not.toBe(base);
    expect(signCallback('http://a/cb2', { A: '1' }, 't')).not.toBe(base);
    expect(signCallback('http://a/cb', { A: '1' }, 'u')).not.toBe(base);
  });
});
