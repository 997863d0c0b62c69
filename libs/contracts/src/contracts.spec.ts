import { COMMAND_CATALOGUE, EVENT_CATALOGUE, envelopeSchema, routingKeyOf } from './index';

function valueAt(data: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), data);
}

describe('event catalogue', () => {
  it.each(EVENT_CATALOGUE.map((c) => [c.type, c] as const))('%s: its example passes its schema', (_type, contract) => {
    const result = contract.schema.safeParse(contract.example);
    expect(result.error?.issues ?? []).toEqual([]);
    expect(result.success).toBe(true);
  });

  it.each(EVENT_CATALOGUE.map((c) => [c.type, c] as const))('%s: sensitive paths exist in the example', (_type, contract) => {
    for (const path of contract.sensitive) expect(valueAt(contract.example, path)).toBeDefined();
  });

  it('has unique, versioned types that follow <domain>.<entity>.<event>.v<n>', () => {
    const types = EVENT_CATALOGUE.map((c) => c.type);
    expect(new Set(types).size).toBe(types.length);
    for (const t of types) expect(t).toMatch(/^[a-z_]+\.[a-z_]+(\.[a-z_]+)?\.v\d+$/);
  });

  it('routes notification requests by priority so that codes get their own queue', () => {
    const contract = EVENT_CATALOGUE.find((c) => c.type === 'notification.requested.v1');
    expect(contract).toBeDefined();
    expect(routingKeyOf(contract!, contract!.example)).toBe('notification.requested.v1.critical');
  });

  it('rejects an example with a wrong field', () => {
    const contract = EVENT_CATALOGUE.find((c) => c.type === 'identity.phone.added.v1')!;
    expect(contract.schema.safeParse({ ...(contract.example as object), e164: '4155550123' }).success).toBe(false);
  });
});

describe('command catalogue', () => {
  it.each(COMMAND_CATALOGUE.map((c) => [c.pattern, c] as const))('%s: example request and response pass', (_p, c) => {
    expect(c.request.safeParse(c.exampleRequest).success).toBe(true);
    expect(c.response.safeParse(c.exampleResponse).success).toBe(true);
  });
});

describe('envelope', () => {
  it('accepts a CloudEvents 1.0 envelope and refuses one without a version suffix', () => {
    const ok = {
      specversion: '1.0',
      id: 'e1',
      source: 'identity',
      type: 'identity.phone.added.v1',
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      data: {},
    };
    expect(envelopeSchema.safeParse(ok).success).toBe(true);
    expect(envelopeSchema.safeParse({ ...ok, type: 'identity.phone.added' }).success).toBe(false);
  });
});
