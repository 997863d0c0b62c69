import { ManualClock } from '@phonegate/platform';
import { AcceptedSends } from './accepted-sends';

const accepted = (n: number) => ({
  carrier: 'smpp-a',
  providerMessageId: `p-${n}`,
  at: new Date(1_000 + n),
});

describe('AcceptedSends', () => {
  it('hands back a noted acceptance until it is forgotten', () => {
    const notes = new AcceptedSends(new ManualClock(0));
    expect(notes.get('m1')).toBeUndefined();
    notes.remember('m1', accepted(1));
    expect(notes.get('m1')).toEqual(accepted(1));
    notes.forget('m1');
    expect(notes.get('m1')).toBeUndefined();
  });

  it('keeps a note for its ttl only', () => {
    const clock = new ManualClock(0);
    const notes = new AcceptedSends(clock, 1_000);
    notes.remember('m1', accepted(1));
    clock.advance(999);
    expect(notes.get('m1')).toEqual(accepted(1));
    clock.advance(1);
    expect(notes.get('m1')).toBeUndefined();
    expect(notes.size).toBe(0);
  });

  it('lets the oldest notes go past its bound, a note taken again counting as new', () => {
    const notes = new AcceptedSends(new ManualClock(0), 60_000, 2);
    notes.remember('m1', accepted(1));
    notes.remember('m2', accepted(2));
    notes.remember('m1', accepted(3));
    notes.remember('m3', accepted(4));
    expect(notes.size).toBe(2);
    expect(notes.get('m2')).toBeUndefined();
    expect(notes.get('m1')).toEqual(accepted(3));
    expect(notes.get('m3')).toEqual(accepted(4));
  });
});
