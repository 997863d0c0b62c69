import { MessageStore } from './message.store';
import type { SimMessage } from './sim.types';

const message = (n: number): SimMessage => ({
  id: `m${n}`,
  channel: 'sms',
  to: `+1415555${String(n).padStart(4, '0')}`,
  from: 'Shop',
  body: `#${n}`,
  status: 'accepted',
  carrier: 'smpp-a',
  protocol: 'smpp',
  createdAt: new Date(0).toISOString(),
  receivedAt: n,
});

describe('MessageStore.since (the arrival-order feed)', () => {
  it('hands out every record once, in arrival order, page by page', () => {
    const store = new MessageStore(100);
    for (let n = 1; n <= 7; n++) store.add(message(n));
    const first = store.since(0, 3);
    expect(first.entries.map((e) => [e.seq, e.record.id])).toEqual([
      [1, 'm1'],
      [2, 'm2'],
      [3, 'm3'],
    ]);
    const second = store.since(first.next, 10);
    expect(second.entries.map((e) => e.seq)).toEqual([4, 5, 6, 7]);
    expect(store.since(second.next)).toEqual({ entries: [], next: 7, missed: 0 });
    expect(store.since(Number.MAX_SAFE_INTEGER).next).toBe(7);
    store.add(message(8));
    expect(store.since(7).entries.map((e) => e.record.id)).toEqual(['m8']);
  });

  it('says how many records were dropped before the reader got to them', () => {
    const store = new MessageStore(3);
    for (let n = 1; n <= 5; n++) store.add(message(n));
    const page = store.since(0);
    expect(page.missed).toBe(2);
    expect(page.entries.map((e) => e.seq)).toEqual([3, 4, 5]);
  });

  it('keeps counting after a clear, so an old cursor never re-reads', () => {
    const store = new MessageStore(10);
    store.add(message(1));
    store.add(message(2));
    store.clear();
    expect(store.since(2)).toEqual({ entries: [], next: 2, missed: 0 });
    store.add(message(3));
    expect(store.since(2).entries.map((e) => [e.seq, e.record.id])).toEqual([[3, 'm3']]);
  });

  it('stays bounded (evicting in batches) and the feed still says what was missed', () => {
    const store = new MessageStore(80);
    for (let n = 1; n <= 1_000; n++) {
      store.add(message(n));
      expect(store.count()).toBeLessThanOrEqual(90);
    }
    expect(store.count()).toBeGreaterThanOrEqual(80);
    const page = store.since(0, 10_000);
    expect(page.missed + page.entries.length).toBe(1_000);
    expect(page.entries.at(-1)?.record.id).toBe('m1000');
    expect(store.get('m1')).toBeUndefined();
    expect(store.list({ limit: 1 })[0]?.id).toBe('m1000');
  });
});
