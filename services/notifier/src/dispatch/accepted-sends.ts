import type { Clock } from '@phonegate/platform';
import type { Acceptance } from './message-locks';

/**
 * This process's own note of carrier acceptances it could record nowhere (neither the message
 * log nor Redis took them): a redelivery of such a message to this process records it instead
 * of sending it again. Bounded: the oldest notes go first past `maxEntries`, and each is kept for
 * `ttlMs`. Lost with the process, like anything a crashed worker was doing.
 */
export class AcceptedSends {
  private readonly notes = new Map<string, { accepted: Acceptance; untilMs: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs = 24 * 3_600_000,
    private readonly maxEntries = 10_000,
  ) {}

  remember(messageId: string, accepted: Acceptance): void {
    this.notes.delete(messageId); // re-inserted last: the newest
    this.notes.set(messageId, { accepted, untilMs: this.clock.nowMs() + this.ttlMs });
    for (const oldest of this.notes.keys()) {
      if (this.notes.size <= this.maxEntries) break;
      this.notes.delete(oldest);
    }
  }

  get(messageId: string): Acceptance | undefined {
    const note = this.notes.get(messageId);
    if (!note) return undefined;
    if (note.untilMs <= this.clock.nowMs()) {
      this.notes.delete(messageId);
      return undefined;
    }
    return note.accepted;
  }

  forget(messageId: string): void {
    this.notes.delete(messageId);
  }

  get size(): number {
    return this.notes.size;
  }
}
