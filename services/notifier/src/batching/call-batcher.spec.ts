import { CallBatcher } from './call-batcher';

/** A batch runner whose batches finish when the test says so. */
function gatedRunner(fail: (item: number) => boolean = () => false) {
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  const run = async (items: readonly number[]): Promise<number[]> => {
    batches.push([...items]);
    await new Promise<void>((resolve) => gates.push(resolve));
    if (items.some(fail)) throw new Error(`bad item in ${items.join(',')}`);
    return items.map((i) => i * 10);
  };
  const openAll = async () => {
    while (gates.length) gates.shift()!();
    await new Promise((r) => setImmediate(r));
  };
  return { batches, run, openAll };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('CallBatcher', () => {
  it('runs a lone call at once and answers it', async () => {
    const runner = gatedRunner();
    const batcher = new CallBatcher(runner.run, { maxBatch: 10, maxInFlight: 1 });
    const answer = batcher.run(7);
    await tick();
    expect(runner.batches).toEqual([[7]]);
    await runner.openAll();
    await expect(answer).resolves.toBe(70);
  });

  it('gathers calls made while every slot is busy into one batch, in order', async () => {
    const runner = gatedRunner();
    const batcher = new CallBatcher(runner.run, { maxBatch: 10, maxInFlight: 2 });
    const answers = [batcher.run(1)];
    await tick();
    answers.push(batcher.run(2));
    await tick();
    for (let i = 3; i <= 8; i++) answers.push(batcher.run(i));
    await tick();
    expect(runner.batches).toEqual([[1], [2]]); // both slots busy: 3..8 wait
    while (runner.batches.length < 3) await runner.openAll();
    await runner.openAll();
    expect(runner.batches).toEqual([[1], [2], [3, 4, 5, 6, 7, 8]]);
    await expect(Promise.all(answers)).resolves.toEqual([10, 20, 30, 40, 50, 60, 70, 80]);
  });

  it('never puts more than maxBatch calls in one batch', async () => {
    const runner = gatedRunner();
    const batcher = new CallBatcher(runner.run, { maxBatch: 3, maxInFlight: 1 });
    const answers = Array.from({ length: 7 }, (_, i) => batcher.run(i));
    for (let i = 0; i < 5 && runner.batches.length < 3; i++) await runner.openAll();
    await runner.openAll();
    expect(runner.batches).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    await expect(Promise.all(answers)).resolves.toEqual([0, 10, 20, 30, 40, 50, 60]);
  });

  it('runs the items of a failed batch one by one, so only the bad one fails', async () => {
    const runner = gatedRunner((i) => i === 3);
    const batcher = new CallBatcher(runner.run, { maxBatch: 10, maxInFlight: 1 });
    const answers = [2, 3, 4].map((i) => batcher.run(i).catch((e: Error) => e.message));
    for (let i = 0; i < 5; i++) await runner.openAll();
    expect(await Promise.all(answers)).toEqual([20, 'bad item in 3', 40]);
    expect(runner.batches).toEqual([[2, 3, 4], [2], [3], [4]]);
  });

  it('refuses a zero size or zero slots', () => {
    expect(() => new CallBatcher(async () => [], { maxBatch: 0, maxInFlight: 1 })).toThrow(
      RangeError,
    );
    expect(() => new CallBatcher(async () => [], { maxBatch: 1, maxInFlight: 0 })).toThrow(
      RangeError,
    );
  });
});
