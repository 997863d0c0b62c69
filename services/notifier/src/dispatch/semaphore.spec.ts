import { Semaphore } from './semaphore';

describe('Semaphore', () => {
  it('runs at most `limit` tasks at once, the rest in arrival order', async () => {
    const sem = new Semaphore(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const releases: (() => void)[] = [];
    const task = (n: number) =>
      sem.run(async () => {
        running++;
        peak = Math.max(peak, running);
        order.push(n);
        await new Promise<void>((r) => releases.push(r));
        running--;
      });
    const all = [1, 2, 3, 4].map(task);
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual([1, 2]);
    expect(sem.waiting).toBe(2);
    while (releases.length) {
      releases.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(all);
    expect(order).toEqual([1, 2, 3, 4]);
    expect(peak).toBe(2);
    expect(sem.inUse).toBe(0);
  });

  it('frees its slot when a task throws', async () => {
    const sem = new Semaphore(1);
    await expect(sem.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(sem.run(async () => 7)).resolves.toBe(7);
  });

  it('tells when it is idle, or gives up waiting after the timeout', async () => {
    const sem = new Semaphore(1);
    await expect(
      Promise.race([
        sem.whenIdle(1_000).then(() => 'idle'),
        new Promise((r) => setTimeout(() => r('late'), 50)),
      ]),
    ).resolves.toBe('idle');
    let release!: () => void;
    const busy = sem.run(() => new Promise<void>((r) => (release = r)));
    const started = Date.now();
    await sem.whenIdle(30);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    const idle = sem.whenIdle(5_000).then(() => Date.now());
    const freedAt = Date.now();
    release();
    await busy;
    expect((await idle) - freedAt).toBeLessThan(1_000);
  });
});
