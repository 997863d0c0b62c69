import type { DevInboxMessage } from './dev-inbox.types';
import { codeOf, matches, newestFirst, normalizeDestination, parseInboxQuery, toItem } from './inbox-query';

const message = (over: Partial<DevInboxMessage> & { id: string }): DevInboxMessage => ({
  channel: 'sms',
  to: '+14155550123',
  body: 'hello',
  status: 'delivered',
  carrier: 'dev-inbox',
  createdAt: '2025-01-01T00:00:00.000Z',
  messageId: `m-${over.id}`,
  ...over,
});

describe('normalizeDestination', () => {
  it('gives back the + a query string turned into a space, and drops separators', () => {
    expect(normalizeDestination(' 14155550123')).toBe('+14155550123');
    expect(normalizeDestination('+1 (415) 555-0123')).toBe('+14155550123');
    expect(normalizeDestination('14155550123')).toBe('+14155550123');
  });
  it('lower-cases an e-mail address and keeps its dots', () => {
    expect(normalizeDestination(' Dev.Someone@Example.COM ')).toBe('dev.someone@example.com');
  });
});

describe('parseInboxQuery', () => {
  it('defaults the limit to 50 and treats empty values as absent', () => {
    expect(parseInboxQuery({ to: '', channel: '', limit: '' })).toEqual({ ok: true, query: { limit: 50 } });
  });
  it('reads to, channel and limit', () => {
    expect(parseInboxQuery({ to: '+14155550123', channel: 'email', limit: '7' })).toEqual({
      ok: true,
      query: { to: '+14155550123', channel: 'email', limit: 7 },
    });
  });
  it('names each bad field', () => {
    const parsed = parseInboxQuery({ channel: 'fax', limit: '0', to: ['a', 'b'] });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.errors.map((e) => e.field).sort()).toEqual(['channel', 'limit', 'to']);
  });
  it.each(['1001', '-1', '2.5', 'ten', '1e3'])('refuses limit=%s', (limit) => {
    expect(parseInboxQuery({ limit }).ok).toBe(false);
  });
});

describe('newestFirst', () => {
  const t = (s: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, s)).toISOString();

  it('sorts by createdAt whatever order the source keeps', () => {
    const a = message({ id: 'a', createdAt: t(1) });
    const b = message({ id: 'b', createdAt: t(3) });
    const c = message({ id: 'c', createdAt: t(2) });
    expect(newestFirst([a, b, c], () => undefined).map((m) => m.id)).toEqual(['b', 'c', 'a']);
  });

  it('breaks a same-millisecond tie by arrival order, then by the direction the source keeps', () => {
    const same = t(5);
    const x = message({ id: 'x', createdAt: same });
    const y = message({ id: 'y', createdAt: same });
    const seq = new Map([
      ['x', 1],
      ['y', 2],
    ]);
    expect(newestFirst([x, y], (id) => seq.get(id)).map((m) => m.id)).toEqual(['y', 'x']);
    expect(newestFirst([y, x], (id) => seq.get(id)).map((m) => m.id)).toEqual(['y', 'x']);
    // Unknown arrival: a source that is oldest first (older timestamps first) keeps its ties in order.
    const old = message({ id: 'old', createdAt: t(1) });
    expect(newestFirst([old, x, y], () => undefined).map((m) => m.id)).toEqual(['y', 'x', 'old']);
    // …and a newest-first source (like DevInboxCarrier.list) the other way round.
    expect(newestFirst([y, x, old], () => undefined).map((m) => m.id)).toEqual(['y', 'x', 'old']);
  });
});

describe('matches', () => {
  it('filters by channel and by destination in any accepted spelling', () => {
    const sms = message({ id: '1' });
    const mail = message({ id: '2', channel: 'email', to: 'Dev@Example.com' });
    expect(matches(sms, { limit: 1, to: normalizeDestination(' 14155550123') })).toBe(true);
    expect(matches(sms, { limit: 1, to: '+14155550124' })).toBe(false);
    expect(matches(sms, { limit: 1, channel: 'email' })).toBe(false);
    expect(matches(mail, { limit: 1, to: normalizeDestination('dev@example.COM'), channel: 'email' })).toBe(true);
  });
});

describe('codeOf', () => {
  it('reads the origin-bound last line of a code SMS', () => {
    expect(codeOf('Your sign-in code is 482913. Never share it: nobody at Shop will ask for it.\n@localhost #482913')).toBe('482913');
  });
  it('reads the last line of a code e-mail, after a report link', () => {
    const body = 'Your code is 123456. It expires in 10 minutes.\n\nNever share this code.\n\nDid not ask for it? Tell us: https://x.test/r/1\n\n@shop.example #123456\n';
    expect(codeOf(body)).toBe('123456');
  });
  it('reads a delivery code without the origin line, not the order number', () => {
    expect(codeOf('Your Shop delivery code for order ORD-1234567 is 0457. Only give it to the courier at your door (10:00-12:00).')).toBe('0457');
  });
  it('reads a voice code spelled digit by digit', () => {
    expect(codeOf('Your Shop sign-in code is 4, 8, 2, 9, 1, 3. Again, your code is 4, 8, 2, 9, 1, 3.')).toBe('482913');
  });
  it('finds nothing in a message without a code', () => {
    expect(codeOf('Shop: your order 12345 is packed and will ship soon.')).toBeUndefined();
    expect(codeOf('The number +1 ••• ••• ••23 was added to your account on 2025-01-01 at 10:00.')).toBeUndefined();
  });
});

describe('toItem', () => {
  it('has the API shape, the notifier status when known, and the code', () => {
    const m = message({ id: 'i', body: 'Code: 1.\n@localhost #654321', subject: 'S' });
    expect(toItem(m, 'sent')).toEqual({
      id: 'i',
      channel: 'sms',
      to: '+14155550123',
      body: m.body,
      status: 'sent',
      carrier: 'dev-inbox',
      createdAt: m.createdAt,
      messageId: 'm-i',
      subject: 'S',
      code: '654321',
    });
    expect(toItem(m).status).toBe('delivered');
  });
});
