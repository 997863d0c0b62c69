import { Fifo } from './fifo';

describe('Fifo', () => {
  it('keeps order through pushes, shifts, put-backs and compaction', () => {
    const q = new Fifo<number>();
    for (let i = 0; i < 5_000; i++) q.push(i);
    for (let i = 0; i < 3_000; i++) expect(q.shift()).toBe(i);
    q.unshift(2_999);
    expect(q.length).toBe(2_001);
    expect([...q].slice(0, 3)).toEqual([2_999, 3_000, 3_001]);
    q.removeWhere((n) => n % 2 === 1);
    expect(q.shift()).toBe(3_000);
    expect(q.shift()).toBe(3_002);
    const empty = new Fifo<number>();
    expect(empty.shift()).toBeUndefined();
    empty.unshift(1);
    expect([...empty]).toEqual([1]);
  });
});
