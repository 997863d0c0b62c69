import { type CarrierSim, startCarrierSim } from '@phonegate/carrier-sim';

/** A free TCP port (for a notifier whose receipt URL must be known before it starts): the stack's, outside the ephemeral range. */
export { freePort } from '@phonegate/stack';

/** The simulator with two SMS carriers (SMPP and HTTP) and SMTP, on ephemeral ports. */
export function startSim(maxMessages = 10_000): Promise<CarrierSim> {
  return startCarrierSim({
    maxMessages,
    carriers: [
      { name: 'smpp-a', protocol: 'smpp', systemId: 'smpp-a', password: 'sim-a' },
      {
        name: 'http-b',
        protocol: 'http',
        accountSid: 'ACsimb',
        authToken: 'sim-token-b',
        channels: ['sms', 'voice'],
      },
      { name: 'smtp-main', protocol: 'smtp', username: 'sim', password: 'sim-smtp' },
    ],
  });
}

export type CarrierOverrides = Partial<
  Record<'smpp-a' | 'http-b' | 'smtp-main', Record<string, unknown>>
>;

/** CARRIERS and the preferences for a notifier talking to this simulator. */
export function carriersEnv(
  sim: CarrierSim,
  overrides: CarrierOverrides = {},
  smsOrder = 'smpp-a,http-b',
): Record<string, string> {
  const carriers = [
    {
      id: 'smpp-a',
      type: 'smpp',
      host: '127.0.0.1',
      port: sim.ports.smpp,
      systemId: 'smpp-a',
      password: 'sim-a',
      ...overrides['smpp-a'],
    },
    {
      id: 'http-b',
      type: 'http',
      baseUrl: sim.urls.http,
      accountSid: 'ACsimb',
      authToken: 'sim-token-b',
      from: '+15005550006',
      ...overrides['http-b'],
    },
    {
      id: 'smtp-main',
      type: 'smtp',
      host: '127.0.0.1',
      port: sim.ports.smtp,
      requireTls: false,
      user: 'sim',
      password: 'sim-smtp',
      from: 'Shop <no-reply@shop.example.com>',
      ...overrides['smtp-main'],
    },
  ];
  return {
    CARRIERS: JSON.stringify(carriers),
    SMS_CARRIERS: smsOrder,
    VOICE_CARRIERS: 'http-b',
    EMAIL_CARRIERS: 'smtp-main',
  };
}

/** Percentile (nearest rank) of a list of numbers. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  ]!;
}
