import { configuredKeyOf, namedClientLookup, parseApiKeys } from './api-key.guard';

describe('parseApiKeys', () => {
  it('gives every key of a named client the same id, and an unnamed key an id of its own', () => {
    const keys = parseApiKeys(
      'shop@k-one:storefront, shop@k-two:storefront+ops ,k-three:logistics',
    );
    expect(keys.map((k) => k.id)).toEqual([
      'client:shop',
      'client:shop',
      expect.stringMatching(/^key_[0-9a-f]{8}$/),
    ]);
    expect(keys.map((k) => k.client)).toEqual(['shop', 'shop', undefined]);
    // Each key keeps an id of its own (what an unnamed key's id was).
    expect(keys[0]?.keyId).toMatch(/^key_[0-9a-f]{8}$/);
    expect(keys[0]?.keyId).not.toBe(keys[1]?.keyId);
    expect(keys[2]?.keyId).toBe(keys[2]?.id);
    expect(keys[1]?.scopes).toEqual(['storefront', 'ops']);
    // The name is not part of the key: the token is what follows the @.
    expect(configuredKeyOf(keys, 'k-two')?.id).toBe('client:shop');
    expect(configuredKeyOf(keys, 'shop@k-two')).toBeUndefined();
  });

  it('reads an @ that does not follow a client name as part of the key', () => {
    const [key] = parseApiKeys('9x@abc:storefront');
    expect(key?.client).toBeUndefined();
    expect(key && configuredKeyOf([key], '9x@abc')).toBe(key);
  });

  it('refuses a key listed twice, named or not', () => {
    expect(() => parseApiKeys('shop@abc1:storefront,abc1:ops')).toThrow(/twice/);
    expect(() => parseApiKeys('shop@abc1:storefront,other@abc1:storefront')).toThrow(/twice/);
  });

  it('reads a key holding @ and : when its client is named', () => {
    const [key] = parseApiKeys('shop@a@b:c:storefront');
    expect(key?.client).toBe('shop');
    expect(key && configuredKeyOf([key], 'a@b:c')).toBe(key);
  });

  it('refuses entries without a key or scopes', () => {
    expect(() => parseApiKeys('shop@:storefront')).toThrow(/\[client@\]key:scope/);
    expect(() => parseApiKeys('shop@k-one:')).toThrow(/\[client@\]key:scope/);
    expect(() => parseApiKeys('nokey')).toThrow(/\[client@\]key:scope/);
  });

  it('names the client behind a credential for the Idempotency-Key store, only for named keys', () => {
    const callerOf = namedClientLookup(parseApiKeys('shop@k-one:storefront,k-three:logistics'));
    expect(callerOf?.('Bearer k-one')).toBe('client:shop');
    expect(callerOf?.('bearer   k-one ')).toBe('client:shop');
    expect(callerOf?.('Bearer k-three')).toBeUndefined();
    expect(callerOf?.('Bearer unknown')).toBeUndefined();
    expect(callerOf?.('Basic k-one')).toBeUndefined();
  });
});
