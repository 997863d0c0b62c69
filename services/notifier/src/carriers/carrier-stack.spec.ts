import { Registry } from 'prom-client';
import { CarrierStack } from './carrier-stack';
import { parseCarriersConfig } from './config/carriers.config';
import { DevInboxCarrier } from './dev/dev-inbox.carrier';
import { computeCallbackSignature } from './http-sms/callback-signature';

const config = parseCarriersConfig({
  carriers:
    'inbox=dev-inbox:?channels=sms,email http-b=http://ACsimb:tok@127.0.0.1:9?from=%2B15005550006',
  sms: 'inbox',
  receiptCallbackBaseUrl: 'https://notifier.example',
});

describe('CarrierStack', () => {
  let stack: CarrierStack;
  beforeEach(() => {
    stack = new CarrierStack({ config, registry: new Registry() });
  });
  afterEach(() => stack.close());

  it('builds the configured adapters and sends through them', async () => {
    expect(stack.carriers.map((c) => c.id)).toEqual(['inbox', 'http-b']);
    const out = await stack.sender.send({
      messageId: 'm1',
      channel: 'sms',
      to: '+14155550123',
      body: 'hi',
      signal: new AbortController().signal,
    });
    expect(out.carrierId).toBe('inbox');
    expect(stack.inbox()?.list()[0]).toMatchObject({ to: '+14155550123', body: 'hi' });
  });

  it('checks an HTTP carrier callback against its auth token and reads the receipt', () => {
    const url = 'https://notifier.example/v1/carriers/http-b/receipts';
    const params = { MessageSid: 'SM1', MessageStatus: 'undelivered', ErrorCode: '30003' };
    const headers = { 'x-sim-signature': computeCallbackSignature(url, params, 'tok') };
    expect(stack.readCallback({ carrier: 'http-b', url, params, headers })).toEqual({
      ok: true,
      receipt: expect.objectContaining({
        carrierId: 'http-b',
        providerMessageId: 'SM1',
        status: 'undelivered',
        errorCode: '30003',
        final: true,
      }),
    });
    expect(
      stack.readCallback({
        carrier: 'http-b',
        url,
        params,
        headers: { 'x-sim-signature': 'AAAA' },
      }),
    ).toEqual({ ok: false, error: 'invalid_signature' });
    expect(stack.readCallback({ carrier: 'inbox', url, params, headers })).toEqual({
      ok: false,
      error: 'unknown_carrier',
    });
  });

  it('refuses a replacement adapter without a definition', () => {
    expect(
      () =>
        new CarrierStack({
          config,
          registry: new Registry(),
          carriers: [new DevInboxCarrier({ id: 'other' })],
        }),
    ).toThrow(/other has no definition/);
  });
});
