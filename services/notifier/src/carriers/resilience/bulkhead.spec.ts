import { Bulkhead, BulkheadRejectedError } from './bulkhead';

describe('Bulkhead', () => {
  it('lets maxConcurrent in, queues up to maxQueue and refuses the rest at once', async () => {
    const b = new Bulkhead(2, 1);
    const r1 = await b.acquire(1000);
    await b.acquire(1000);
    const third = b.acquire(1000);
    await expect(b.acquire(1000)).rejects.toEqual(new BulkheadRejectedError('queue_full'));
    expect([b.inFlight, b.queued]).toEqual([2, 1]);
    r1();
    const r3 = await third;
    expect([b.inFlight, b.queued]).toEqual([2, 0]);
    r3();
    r3(); // a second call is a no-op
    expect(b.inFlight).toBe(1);
  });

  it('gives up waiting after the wait time', async () => {
    const b = new Bulkhead(1, 5);
    await b.acquire(0);
    await expect(b.acquire(30)).rejects.toMatchObject({ reason: 'wait_timeout' });
    expect(b.queued).toBe(0);
  });

  it('stops waiting when aborted', async () => {
    const b = new Bulkhead(1, 5);
    await b.acquire(0);
    const ac = new AbortController();
    const waiting = b.acquire(10_000, ac.signal);
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ reason: 'aborted' });
  });

  it('serves waiters first in, first out', async () => {
    const b = new Bulkhead(1, 5);
    const release = await b.acquire(0);
    const order: number[] = [];
    const waits = [1, 2, 3].map((i) => b.acquire(1000).then((r) => (order.push(i), r())));
    release();
    await Promise.all(waits);
    expect(order).toEqual([1, 2, 3]);
    expect(b.inFlight).toBe(0);
  });

  it('keeps slots for urgent calls that ordinary calls cannot take', async () => {
    const b = new Bulkhead(4, 10); // one slot reserved
    expect(b.ordinaryLimit).toBe(3);
    for (let i = 0; i < 3; i++) await b.acquire(0);
    await expect(b.acquire(0)).rejects.toMatchObject({ reason: 'queue_full' });
    const urgent = await b.acquire(0, undefined, true);
    expect(b.inFlight).toBe(4);
    urgent();
    expect(b.inFlight).toBe(3);
  });

  it('gives a freed slot to an urgent waiter before ordinary ones that waited longer', async () => {
    const b = new Bulkhead(2, 10, 0);
    const releases = [await b.acquire(0), await b.acquire(0)];
    const order: string[] = [];
    const ordinary = b.acquire(1000).then((r) => (order.push('ordinary'), r));
    const urgent = b.acquire(1000, undefined, true).then((r) => (order.push('urgent'), r));
    releases[0]!();
    (await urgent)();
    releases[1]!();
    (await ordinary)();
    expect(order).toEqual(['urgent', 'ordinary']);
    expect(b.inFlight).toBe(0);
  });

  it('lets no new ordinary call in while urgent ones wait', async () => {
    const b = new Bulkhead(2, 10, 0);
    const first = await b.acquire(0, undefined, true);
    await b.acquire(0, undefined, true);
    const waitingUrgent = b.acquire(1000, undefined, true);
    first();
    const release = await waitingUrgent;
    expect(b.inFlight).toBe(2);
    // A third urgent call waits; an ordinary one arriving now queues behind it.
    const urgent2 = b.acquire(1000, undefined, true);
    const ordinary = b.acquire(1000);
    release();
    (await urgent2)();
    (await ordinary)();
    expect(b.queued).toBe(0);
  });
});
