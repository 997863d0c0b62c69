/**
 * Follows every code request from the moment it is sent to the moment its SMS reaches the
 * carrier simulator: request → simulator latency, lost (accepted, never arrived), duplicates
 * (the same code at the same destination twice), sent after expiry, errors by status and code.
 *
 * Reads the simulator's arrival-order feed (`GET /_sim/messages/feed?after=<cursor>`), so a poll
 * costs only what arrived since the last one. Latency uses the simulator's `receivedAt` (when the
 * carrier got the message), so the polling interval does not add to it.
 */
import http from 'node:http';
import { preciseNow, sleep, summarize, type Summary } from './stats';

export interface SentRequest {
  kind: string;
  destination: string;
  /** Epoch ms (with fraction) the request left the client. */
  requestedAt: number;
}

interface Tracked extends SentRequest {
  state: 'in_flight' | 'accepted' | 'failed';
  /** When the code stops being valid (epoch ms), from the answer. */
  expiresAt?: number;
  arrivedAt?: number;
  carrier?: string;
  code?: string;
  /** Epoch ms the answer was recorded (accepted or failed). */
  answeredAt?: number;
  /** Of a failed request: the HTTP status (0 = no answer) and the problem `code` (`-` = not a problem). */
  status?: number;
  problem?: string;
  /** What the answer named (a verification's id), when the mix reports it. */
  ref?: string;
  /** The same code arrived again (duplicates of this request) and when the last one did. */
  duplicateArrivals?: number;
  lastDuplicateAt?: number;
}

/** One tracked request as the tracker saw it (see `SmsTracker.requests()`). */
export type TrackedRequest = Readonly<Tracked>;

interface FeedMessage {
  seq: number;
  id: string;
  channel: string;
  to: string;
  carrier: string;
  receivedAt: number;
  body: string;
}

export interface KindReport {
  kind: string;
  sent: number;
  accepted: number;
  failed: number;
  arrived: number;
  latency: Summary;
}

export interface TrackerReport {
  sent: number;
  accepted: number;
  failed: number;
  /** Accepted and arrived (first arrival of each request). */
  arrived: number;
  /** request → simulator of the accepted requests that arrived, ms. */
  latency: Summary;
  byKind: KindReport[];
  /** `status code` → count, for answers that were not 2xx (status 0 = no answer). */
  errors: Record<string, number>;
  /** Accepted, never arrived by the time of the report. */
  notArrived: number;
  /** Of those, how many were already past their expiry (the notifier may have dropped them as expired). */
  notArrivedExpired: number;
  /** The same code at the same destination more than once. */
  duplicates: number;
  /** Arrived after the code's expiry. */
  sentAfterExpiry: number;
  /** An SMS arrived for a request that was answered with an error. */
  arrivedDespiteError: number;
  /** SMS to a tracked destination that matched no request. */
  unexpected: number;
  /** First arrivals of code SMS by carrier. */
  byCarrier: Record<string, number>;
  /** SMS at the simulator to destinations the tracker was not told about (e.g. order updates). */
  untracked: number;
  /** Records the simulator dropped before the tracker read them (SIM_MAX_MESSAGES too small). */
  missedByFeed: number;
  /** Arrivals (tracked, first) per second since start(). */
  arrivalsPerSecond: number[];
  /** Epoch ms of the first request and of the last first-arrival (NaN when none). */
  firstRequestAt: number;
  lastArrivalAt: number;
}

/** The code in an SMS body: the origin-bound last line `@host #123456`, else the first 4–10 digit run. */
export function codeOf(body: string): string | undefined {
  return /#(\d{4,10})\b/.exec(body)?.[1] ?? /(?<![\w-])(\d{4,10})(?![\w-])/.exec(body)?.[1];
}

export class SmsTracker {
  private readonly byDestination = new Map<string, Tracked[]>();
  private readonly codesSeen = new Map<string, Set<string>>();
  private readonly all: Tracked[] = [];
  private readonly errors = new Map<string, number>();
  private readonly perSecond: number[] = [];
  private duplicates = 0;
  private unexpected = 0;
  private untracked = 0;
  /** Untracked arrivals since start(), never reset. */
  private untrackedTotal = 0;
  private missed = 0;
  private cursor = 0;
  private startedAt = 0;
  private polling?: Promise<void>;
  private running = false;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  /** Called on every tracked first arrival (for live counters). */
  onArrival?: (t: Readonly<Tracked>) => void;

  constructor(
    private readonly simControlUrl: string,
    private readonly pollMs = 100,
  ) {}

  /** Skips whatever the simulator already holds, then follows new arrivals. */
  async start(): Promise<void> {
    const first = await this.fetchFeed(Number.MAX_SAFE_INTEGER, 1);
    this.cursor = first.next;
    this.startedAt = preciseNow();
    this.running = true;
    this.polling = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.polling;
    this.agent.destroy();
  }

  /** A request was sent; returns a handle to report its answer with. */
  sent(request: SentRequest): Tracked {
    const t: Tracked = { ...request, state: 'in_flight' };
    this.all.push(t);
    const list = this.byDestination.get(request.destination);
    if (list) list.push(t);
    else this.byDestination.set(request.destination, [t]);
    return t;
  }

  accepted(t: Tracked, expiresAt?: number, ref?: string): void {
    t.state = 'accepted';
    t.answeredAt = preciseNow();
    if (ref !== undefined) t.ref = ref;
    if (expiresAt !== undefined && Number.isFinite(expiresAt)) t.expiresAt = expiresAt;
  }

  failed(t: Tracked, status: number, code: string): void {
    t.state = 'failed';
    t.answeredAt = preciseNow();
    t.status = status;
    t.problem = code;
    const key = `${status} ${code}`;
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
  }

  /** SMS to destinations the tracker was never told about, since start() (not reset by reset()). */
  untrackedSinceStart(): number {
    return this.untrackedTotal;
  }

  /** Every request tracked since the last reset(), in send order (a request-by-request timeline). */
  requests(): readonly TrackedRequest[] {
    return this.all;
  }

  /** Accepted requests still waiting for their SMS. */
  pending(): number {
    let n = 0;
    for (const t of this.all) if (t.state !== 'failed' && t.arrivedAt === undefined) n++;
    return n;
  }

  /** Waits until every accepted request has arrived, or `timeoutMs` passes. */
  async settle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.all.every((t) => t.state !== 'in_flight') && this.pending() === 0) break;
      await sleep(200);
    }
    // One more poll so that what arrived just now is counted.
    await sleep(this.pollMs * 2);
  }

  /** Forget everything tracked so far (the cursor stays): a new phase starts clean. */
  reset(): void {
    this.byDestination.clear();
    this.codesSeen.clear();
    this.all.length = 0;
    this.errors.clear();
    this.perSecond.length = 0;
    this.duplicates = this.unexpected = this.untracked = this.missed = 0;
    this.startedAt = preciseNow();
  }

  report(now = Date.now()): TrackerReport {
    const kinds = new Map<string, Tracked[]>();
    for (const t of this.all) {
      const list = kinds.get(t.kind);
      if (list) list.push(t);
      else kinds.set(t.kind, [t]);
    }
    const latencyOf = (list: Tracked[]) =>
      summarize(
        list
          .filter((t) => t.state === 'accepted' && t.arrivedAt !== undefined)
          .map((t) => t.arrivedAt! - t.requestedAt),
      );
    const accepted = this.all.filter((t) => t.state === 'accepted');
    const notArrived = accepted.filter((t) => t.arrivedAt === undefined);
    const byCarrier: Record<string, number> = {};
    for (const t of accepted)
      if (t.carrier) byCarrier[t.carrier] = (byCarrier[t.carrier] ?? 0) + 1;
    return {
      sent: this.all.length,
      accepted: accepted.length,
      failed: this.all.filter((t) => t.state === 'failed').length,
      arrived: accepted.length - notArrived.length,
      latency: latencyOf(this.all),
      byKind: [...kinds].map(([kind, list]) => ({
        kind,
        sent: list.length,
        accepted: list.filter((t) => t.state === 'accepted').length,
        failed: list.filter((t) => t.state === 'failed').length,
        arrived: list.filter((t) => t.state === 'accepted' && t.arrivedAt !== undefined).length,
        latency: latencyOf(list),
      })),
      errors: Object.fromEntries(this.errors),
      notArrived: notArrived.length,
      notArrivedExpired: notArrived.filter((t) => t.expiresAt !== undefined && t.expiresAt < now)
        .length,
      duplicates: this.duplicates,
      sentAfterExpiry: accepted.filter(
        (t) => t.arrivedAt !== undefined && t.expiresAt !== undefined && t.arrivedAt > t.expiresAt,
      ).length,
      arrivedDespiteError: this.all.filter((t) => t.state === 'failed' && t.arrivedAt !== undefined)
        .length,
      unexpected: this.unexpected,
      byCarrier,
      untracked: this.untracked,
      missedByFeed: this.missed,
      arrivalsPerSecond: [...this.perSecond].map((n) => n ?? 0),
      firstRequestAt: this.all.reduce((m, t) => Math.min(m, t.requestedAt), Infinity),
      lastArrivalAt: this.all.reduce((m, t) => Math.max(m, t.arrivedAt ?? -Infinity), -Infinity),
    };
  }

  private async loop(): Promise<void> {
    while (this.running) {
      try {
        for (;;) {
          const page = await this.fetchFeed(this.cursor, 20_000);
          this.missed += page.missed;
          this.cursor = page.next;
          for (const m of page.messages) this.onMessage(m);
          if (page.messages.length < 20_000) break;
        }
      } catch {
        // The simulator is restarting (a crash drill) or busy: try again at the next tick.
      }
      await sleep(this.pollMs);
    }
  }

  private onMessage(m: FeedMessage): void {
    if (m.channel !== 'sms') return;
    const list = this.byDestination.get(m.to);
    if (!list) {
      this.untracked++;
      this.untrackedTotal++;
      return;
    }
    const code = codeOf(m.body) ?? `?${m.id}`;
    let seen = this.codesSeen.get(m.to);
    if (!seen) this.codesSeen.set(m.to, (seen = new Set()));
    if (seen.has(code)) {
      this.duplicates++;
      const original = list.find((x) => x.code === code);
      if (original) {
        original.duplicateArrivals = (original.duplicateArrivals ?? 0) + 1;
        original.lastDuplicateAt = m.receivedAt;
      }
      return;
    }
    seen.add(code);
    // The oldest request to this destination that has not arrived yet (the answer may still be
    // on its way back: an SMS can beat the HTTP response).
    const t = list.find((x) => x.arrivedAt === undefined && x.requestedAt <= m.receivedAt + 5);
    if (!t) {
      this.unexpected++;
      return;
    }
    t.arrivedAt = m.receivedAt;
    t.carrier = m.carrier;
    t.code = code;
    const second = Math.max(0, Math.floor((m.receivedAt - this.startedAt) / 1000));
    this.perSecond[second] = (this.perSecond[second] ?? 0) + 1;
    this.onArrival?.(t);
  }

  private fetchFeed(
    after: number,
    limit: number,
  ): Promise<{ next: number; missed: number; messages: FeedMessage[] }> {
    const url = `${this.simControlUrl}/_sim/messages/feed?after=${after}&limit=${limit}&channel=sms`;
    return new Promise((resolve, reject) => {
      const req = http.get(url, { agent: this.agent, timeout: 5_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) {
            reject(new Error(`feed answered ${res.statusCode}`));
            return;
          }
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('feed timeout')));
      req.on('error', reject);
    });
  }
}
