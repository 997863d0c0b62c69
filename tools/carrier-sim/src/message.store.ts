import { EventEmitter } from 'node:events';
import type { SimChannel, SimMessage } from './sim.types';

/** One entry of the arrival-order feed (`GET /_sim/messages/feed`). */
export interface FeedEntry {
  /** Arrival sequence number (1, 2, …; never reused, not even after `clear`). */
  seq: number;
  record: SimMessage;
}

export interface MessageQuery {
  to?: string;
  channel?: SimChannel;
  carrier?: string;
  limit?: number;
}

/**
 * Every message the simulated carriers accepted, in memory, bounded (oldest dropped first).
 * Emits `message(record)` on each new record and `status(record)` on each status change.
 */
export class MessageStore extends EventEmitter {
  private records: SimMessage[] = [];
  private readonly byId = new Map<string, SimMessage>();
  /** How many records were ever added (the seq of the newest); records[0] has seq added - length + 1. */
  private added = 0;

  constructor(private readonly maxMessages = 10_000) {
    super();
    this.setMaxListeners(0);
  }

  add(record: SimMessage): SimMessage {
    this.records.push(record);
    this.added++;
    this.byId.set(record.id, record);
    // Evicted in batches (a slack of 1/8): splicing one off the front of a full array on every
    // message cost O(n) each at load-test rates.
    if (this.records.length > this.maxMessages + Math.max(1, this.maxMessages >> 3)) {
      const dropped = this.records.splice(0, this.records.length - this.maxMessages);
      for (const old of dropped) if (this.byId.get(old.id) === old) this.byId.delete(old.id);
    }
    this.emit('message', record);
    return record;
  }

  get(id: string): SimMessage | undefined {
    return this.byId.get(id);
  }

  setStatus(id: string, status: SimMessage['status']): void {
    const record = this.byId.get(id);
    if (!record) return;
    record.status = status;
    this.emit('status', record);
  }

  /** Newest first, filtered. */
  list(query: MessageQuery = {}): SimMessage[] {
    const limit = Math.max(1, Math.min(query.limit ?? 50, this.maxMessages));
    const out: SimMessage[] = [];
    for (let i = this.records.length - 1; i >= 0 && out.length < limit; i--) {
      const r = this.records[i]!;
      if (query.to !== undefined && r.to.toLowerCase() !== query.to.toLowerCase()) continue;
      if (query.channel !== undefined && r.channel !== query.channel) continue;
      if (query.carrier !== undefined && r.carrier !== query.carrier) continue;
      out.push(r);
    }
    return out;
  }

  /**
   * Records in arrival order with a sequence number greater than `after` (a cursor), at most
   * `limit`. A reader that polls with the last seq it saw gets every record exactly once, as long
   * as it keeps up with `maxMessages`; `missed` says how many were dropped before it read them.
   * `since(Number.MAX_SAFE_INTEGER)` returns no records and the cursor of the newest one.
   */
  since(after: number, limit = 1_000): { entries: FeedEntry[]; next: number; missed: number } {
    const firstSeq = this.added - this.records.length + 1;
    const from = Math.max(after + 1, firstSeq);
    const missed = Math.max(0, firstSeq - (after + 1));
    const entries: FeedEntry[] = [];
    for (let seq = from; seq <= this.added && entries.length < limit; seq++)
      entries.push({ seq, record: this.records[seq - firstSeq]! });
    // A cursor past the newest record (e.g. Number.MAX_SAFE_INTEGER: "from now on") comes back to it.
    const next = entries.at(-1)?.seq ?? Math.min(Math.max(after, from - 1), this.added);
    return { entries, next, missed };
  }

  count(): number {
    return this.records.length;
  }

  clear(): void {
    this.records = [];
    this.byId.clear();
  }

  /** Resolves with the first record (already stored or arriving) that matches; rejects after timeoutMs. */
  waitFor(predicate: (m: SimMessage) => boolean, timeoutMs = 5000): Promise<SimMessage> {
    const existing = this.records.find(predicate);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const onMessage = (m: SimMessage): void => {
        if (!predicate(m)) return;
        cleanup();
        resolve(m);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no matching message within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('message', onMessage);
      };
      this.on('message', onMessage);
    });
  }
}
