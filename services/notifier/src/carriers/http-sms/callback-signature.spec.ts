import { createHmac } from 'node:crypto';
import { computeCallbackSignature, verifyCallbackSignature } from './callback-signature';

const url = 'https://notifier.example/v1/carriers/http-b/receipts?k=1';
const params = {
  MessageStatus: 'delivered',
  MessageSid: 'SM123',
  AccountSid: 'ACsimb',
  ErrorCode: '',
};

describe('callback signature', () => {
  it('is base64 HMAC-SHA256 over the url and the sorted name+value pairs', () => {
    const data = `${url}AccountSidACsimbErrorCodeMessageSidSM123MessageStatusdelivered`;
    expect(computeCallbackSignature(url, params, 'sim-token-b')).toBe(
      createHmac('sha256', 'sim-token-b').update(data).digest('base64'),
    );
  });

  it('verifies a good signature', () => {
    const sig = computeCallbackSignature(url, params, 'sim-token-b');
    expect(verifyCallbackSignature(url, params, sig, 'sim-token-b')).toBe(true);
  });

  it('refuses another secret, url, parameter value, an extra parameter, or no signature', () => {
    const sig = computeCallbackSignature(url, params, 'sim-token-b');
    expect(verifyCallbackSignature(url, params, sig, 'other')).toBe(false);
    expect(verifyCallbackSignature(url.replace('k=1', 'k=2'), params, sig, 'sim-token-b')).toBe(
      false,
    );
    expect(
      verifyCallbackSignature(url, { ...params, MessageStatus: 'failed' }, sig, 'sim-token-b'),
    ).toBe(false);
    expect(verifyCallbackSignature(url, { ...params, Extra: 'x' }, sig, 'sim-token-b')).toBe(false);
    expect(verifyCallbackSignature(url, params, undefined, 'sim-token-b')).toBe(false);
    expect(verifyCallbackSignature(url, params, 'not base64 at all', 'sim-token-b')).toBe(false);
    expect(verifyCallbackSignature(url, params, sig, '')).toBe(false);
  });
});
