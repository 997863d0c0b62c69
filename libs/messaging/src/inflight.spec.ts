import { Inflight } from './inflight';

describe('Inflight', () => {
  it('counts running work and drains when the last one settles, failed or not', async () => {
    const inflight = new Inflight();
    let finishA!: () => void;
    let failB!: (e: Error) => void;
    const a = inflight.track(() => new Promise<void>((r) => (finishA = r)));
    const b = inflight.track(() => new Promise<void>((_, j) => (failB = j)));
    expect(inflight.size).toBe(2);
    let drained: boolean | undefined;
    const waiting = inflight.drain(5_000).then((d) => (drained = d));
    finishA();
    await a;
    await new Promise((r) => setImmediate(r));
    expect(drained).toBeUndefined();
    failB(new Error('handler failed'));
    await expect(b).rejects.toThrow('handler failed');
    await waiting;
    expect(drained).toBe(true);
    expect(inflight.size).toBe(0);
  });

  it('gives up waiting at the timeout and says it did not drain', async () => {
    const inflight = new Inflight();
    let finish!: () => void;
    const stuck = inflight.track(() => new Promise<void>((r) => (finish = r)));
    const started = Date.now();
    expect(await inflight.drain(100)).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    finish();
    await stuck;
    expect(await inflight.drain(100)).toBe(true);
  });
});
