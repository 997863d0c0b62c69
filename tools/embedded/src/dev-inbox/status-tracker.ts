import type { MessageStatusLookup, MessageStatusView, TimelineStep } from './dev-inbox.types';

/** A message's story ends here (a `failed` attempt may still be retried). */
const FINAL = new Set(['delivered', 'dropped']);
/** After a message reaches the inbox, ask the notifier again at these delays until its status is final. */
export const FOLLOW_UP_MS = [100, 400, 1_500, 5_000, 15_000] as const;

export interface StatusSnapshot {
  status: string;
  carrier: string | null;
  timeline: TimelineStep[];
}

export interface StatusTrackerOptions {
  lookup?: MessageStatusLookup;
  /** Called when a followed message's status or timeline changed. */
  onChange(messageId: string, snapshot: StatusSnapshot): void;
  onError(error: unknown): void;
  followUpMs?: readonly number[];
  /** Snapshots kept (oldest forgotten). */
  maxEntries?: number;
}

/**
 * The notifier's view of inbox messages (status, timeline, carrier), asked
 * for through the given lookup and kept, so that a page load does not ask
 * again for messages whose story is over. Messages that arrive are followed
 * for a while so the page sees queued → sent → delivered without asking.
 */
export class StatusTracker {
  private readonly cache = new Map<string, StatusSnapshot>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly followUpMs: readonly number[];
  private readonly maxEntries: number;
  private closed = false;

  constructor(private readonly options: StatusTrackerOptions) {
    this.followUpMs = options.followUpMs ?? FOLLOW_UP_MS;
    this.maxEntries = options.maxEntries ?? 2_000;
  }

  cached(messageId: string): StatusSnapshot | undefined {
    return this.cache.get(messageId);
  }

  /** The latest known status: from the cache when final, else asked for now. */
  async get(messageId: string): Promise<StatusSnapshot | undefined> {
    const known = this.cache.get(messageId);
    if (known && FINAL.has(known.status)) return known;
    return (await this.refresh(messageId)) ?? known;
  }

  /** Follow a message that just arrived, reporting each change. */
  follow(messageId: string): void {
    if (!this.options.lookup) return;
    const step = (i: number) => {
      const delay = this.followUpMs[i];
      if (delay === undefined || this.closed) return;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        void this.refresh(messageId).then((s) => {
          if (!s || !FINAL.has(s.status)) step(i + 1);
        });
      }, delay);
      timer.unref();
      this.timers.add(timer);
    };
    step(0);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private async refresh(messageId: string): Promise<StatusSnapshot | undefined> {
    if (!this.options.lookup || this.closed) return undefined;
    let view: MessageStatusView | undefined;
    try {
      view = await this.options.lookup(messageId);
    } catch (error) {
      this.options.onError(error);
      return undefined;
    }
    if (!view || this.closed) return undefined;
    const next: StatusSnapshot = {
      status: view.status,
      carrier: view.carrier ?? null,
      timeline: view.timeline.map((t) => ({
        status: t.status,
        at: t.at,
        ...(t.carrier ? { carrier: t.carrier } : {}),
        ...(t.reason ? { reason: t.reason } : {}),
      })),
    };
    const before = this.cache.get(messageId);
    this.remember(messageId, next);
    if (!before || before.status !== next.status || before.timeline.length !== next.timeline.length) {
      this.options.onChange(messageId, next);
    }
    return next;
  }

  private remember(messageId: string, snapshot: StatusSnapshot): void {
    this.cache.delete(messageId);
    this.cache.set(messageId, snapshot);
    while (this.cache.size > this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }
}
