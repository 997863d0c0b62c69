import { ConfigError } from '@phonegate/platform';
import { parseCarriersConfig, parseCompactCarriers, policyOf, routeOf } from './carriers.config';

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.variable}: ${p.message}`);
    throw err;
  }
  throw new Error('no ConfigError');
}

describe('parseCarriersConfig', () => {
  it('defaults to the simulator carriers with every carrier of a channel in order', () => {
    const config = parseCarriersConfig({ receiptCallbackBaseUrl: 'http://127.0.0.1:3003/' });
    expect(config.usingDefaults).toBe(true);
    expect(config.carriers.map((c) => [c.id, c.type])).toEqual([
      ['smpp-a', 'smpp'],
      ['http-b', 'http'],
      ['smtp-main', 'smtp'],
    ]);
    expect(config.preferences).toEqual({
      sms: ['smpp-a', 'http-b'],
      voice: ['http-b'],
      email: ['smtp-main'],
    });
    expect(config.carriers[0]).toMatchObject({
      host: '127.0.0.1',
      port: 2775,
      systemId: 'smpp-a',
      window: 10,
      timeoutMs: 3000,
    });
    expect(config.carriers[1]).toMatchObject({
      baseUrl: 'http://127.0.0.1:4010',
      statusCallbackUrl: 'http://127.0.0.1:3003/v1/carriers/http-b/receipts',
    });
    expect(config.carriers[2]).toMatchObject({ port: 2525, requireTls: false });
  });

  it('reads a JSON list with durations, policies and a preference order', () => {
    const config = parseCarriersConfig({
      carriers: JSON.stringify([
        {
          id: 'smpp-a',
          type: 'smpp',
          host: 'smsc',
          systemId: 'acme',
          password: 'pw',
          ratePerSec: 200,
          maxConcurrent: 20,
          timeoutMs: '2.5s',
          countries: ['+1', '+44'],
          breaker: { volumeThreshold: 5, resetTimeoutMs: '10s' },
        },
        {
          id: 'http-b',
          type: 'http',
          baseUrl: 'https://api.vendor.example',
          accountSid: 'AC1',
          authToken: 't',
          from: '+15005550006',
          statusCallbackUrl: 'https://hooks.example/b',
        },
      ]),
      sms: 'http-b, smpp-a',
    });
    expect(config.usingDefaults).toBe(false);
    expect(config.preferences.sms).toEqual(['http-b', 'smpp-a']);
    const [a, b] = config.carriers;
    expect(policyOf(a!)).toEqual({
      timeoutMs: 2500,
      ratePerSec: 200,
      maxConcurrent: 20,
      maxQueue: 100,
      queueWaitMs: 250,
      breaker: {
        volumeThreshold: 5,
        errorThresholdPercentage: 50,
        rollingCountTimeoutMs: 10_000,
        rollingCountBuckets: 10,
        resetTimeoutMs: 10_000,
      },
    });
    expect(routeOf(a!)).toEqual({
      carrierId: 'smpp-a',
      channels: ['sms'],
      countries: ['+1', '+44'],
    });
    expect(b).toMatchObject({
      statusCallbackUrl: 'https://hooks.example/b',
      channels: ['sms', 'voice'],
    });
  });

  it('reads the compact form', () => {
    const text =
      'smpp-a=smpp://acme:pw@smsc.example:2776?ratePerSec=150&countries=%2B1,%2B44&volumeThreshold=4;' +
      ' http-b=https://AC1:tok@api.vendor.example?from=%2B15005550006&channels=sms ' +
      'mail=smtps://u:p%40ss@mail.example:465?from=no-reply%40shop.example;inbox=dev-inbox:?channels=sms,email';
    expect(parseCompactCarriers(text)).toEqual([
      {
        id: 'smpp-a',
        type: 'smpp',
        host: 'smsc.example',
        port: 2776,
        systemId: 'acme',
        password: 'pw',
        ratePerSec: 150,
        countries: ['+1', '+44'],
        breaker: { volumeThreshold: 4 },
      },
      {
        id: 'http-b',
        type: 'http',
        baseUrl: 'https://api.vendor.example',
        accountSid: 'AC1',
        authToken: 'tok',
        from: '+15005550006',
        channels: ['sms'],
      },
      {
        id: 'mail',
        type: 'smtp',
        host: 'mail.example',
        port: 465,
        secure: true,
        user: 'u',
        password: 'p@ss',
        from: 'no-reply@shop.example',
      },
      { id: 'inbox', type: 'dev-inbox', channels: ['sms', 'email'] },
    ]);
    const config = parseCarriersConfig({ carriers: text });
    expect(config.preferences).toEqual({
      sms: ['smpp-a', 'http-b', 'inbox'],
      voice: [],
      email: ['mail', 'inbox'],
    });
  });

  it('names each bad variable and field', () => {
    expect(
      problems(() =>
        parseCarriersConfig({
          carriers:
            '[{"id":"x","type":"smpp","host":"h","systemId":"s","password":"p","timeoutMs":"soon"}]',
        }),
      ),
    ).toEqual(['CARRIERS[0].timeoutMs: expected a duration like 3s or 250ms, got "soon"']);
    expect(
      problems(() => parseCarriersConfig({ carriers: '[{"id":"x","type":"fax"}]' }))[0],
    ).toMatch(/^CARRIERS\[0\]\.type: /);
    expect(
      problems(() =>
        parseCarriersConfig({
          carriers: '[{"id":"x","type":"dev-inbox","breaker":{"volumeThreshold":0}}]',
        }),
      )[0],
    ).toMatch(/^CARRIERS\[0\]\.breaker\.volumeThreshold: /);
    expect(problems(() => parseCarriersConfig({ carriers: '[oops' }))[0]).toMatch(/^CARRIERS: /);
    expect(problems(() => parseCarriersConfig({ sms: 'smpp-a,nope', voice: 'smpp-a' }))).toEqual([
      'SMS_CARRIERS: unknown carrier nope',
      'VOICE_CARRIERS: carrier smpp-a does not send voice',
    ]);
    expect(
      problems(() =>
        parseCarriersConfig({
          carriers: '[{"id":"d","type":"dev-inbox"},{"id":"d","type":"dev-inbox"}]',
        }),
      ),
    ).toEqual(['CARRIERS: duplicate carrier id d']);
  });
});
