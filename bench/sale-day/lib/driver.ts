/**
 * An open-loop load driver: requests leave at the target rate whatever the answers do (a slow
 * platform is not given a break, unlike a closed loop of N connections), over keep-alive
 * node:http connections. Each request's answer goes to `onAnswer`.
 */
import http from 'node:http';
import { preciseNow, summarize, type Summary } from './stats';

export interface LoadRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface Answer {
  status: number;
  /** Parsed JSON body (undefined when empty or not JSON). */
  body: unknown;
  /** Epoch ms the request left / the answer was complete. */
  sentAt: number;
  doneAt: number;
  /** No answer (status 0): what went wrong, e.g. `ECONNRESET`, `timeout`. */
  error?: string;
}

export interface DriveOptions {
  /** Origin of the platform (the gateway). */
  baseUrl: string;
  /** Requests a second: fixed, or a function of the elapsed ms (a ramp). */
  rate: number | ((elapsedMs: number) => number);
  durationMs: number;
  /**
   * The next request to send (called at its send time). Return undefined to skip one slot
   * (nothing left to send). `sentAt` is the request's time.
   */
  next(sentAt: number): { request: LoadRequest; onAnswer(answer: Answer): void } | undefined;
  /** Requests in flight above which a due request is not sent but counted as `shed`. Default 4,000. */
  maxInFlight?: number;
  /** Sockets to the origin. Default 512. */
  sockets?: number;
  /** Called once a second with the last second's figures. */
  onSecond?(s: { second: number; sent: number; answered: number; inFlight: number }): void;
}

export interface DriveResult {
  sent: number;
  answered: number;
  /** Due but not sent because `maxInFlight` requests were already waiting: the driver could not offer the rate. */
  shed: number;
  /** No answer (connection error, timeout). */
  transportErrors: number;
  /** Achieved send rate over the run. */
  sentPerSecond: number;
  /** HTTP answer time (sent → answered), ms. */
  httpLatency: Summary;
  /** How late requests left against their schedule (the bench process's own lag), ms. */
  sendLag: Summary;
  seconds: number;
}

/** Drives `rate` requests a second for `durationMs`; resolves when every answer is in. */
export async function drive(options: DriveOptions): Promise<DriveResult> {
  const url = new URL(options.baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.sockets ?? 512 });
  const maxInFlight = options.maxInFlight ?? 4_000;
  const rateAt = typeof options.rate === 'number' ? () => options.rate as number : options.rate;
  const latencies: number[] = [];
  const lags: number[] = [];
  let sent = 0;
  let answered = 0;
  let shed = 0;
  let transportErrors = 0;
  let inFlight = 0;
  let lastSecond = { sent: 0, answered: 0 };
  let settleAll: () => void = () => undefined;
  const allAnswered = new Promise<void>((resolve) => (settleAll = resolve));
  let ticking = true;

  const send = (scheduledAt: number) => {
    const sentAt = preciseNow();
    const item = options.next(sentAt);
    if (!item) return;
    lags.push(Math.max(0, sentAt - scheduledAt));
    const { request, onAnswer } = item;
    sent++;
    inFlight++;
    const body = request.body === undefined ? undefined : Buffer.from(request.body);
    const finish = (status: number, raw: string, error?: Error) => {
      const doneAt = preciseNow();
      inFlight--;
      answered++;
      latencies.push(doneAt - sentAt);
      let parsed: unknown;
      if (raw) {
        try {
          parsed = JSON.parse(raw);
        } catch {
          parsed = undefined;
        }
      }
      onAnswer({
        status,
        body: parsed,
        sentAt,
        doneAt,
        ...(error ? { error: transportError(error) } : {}),
      });
      if (!ticking && inFlight === 0) settleAll();
    };
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: request.method,
        path: request.path,
        agent,
        headers: {
          ...request.headers,
          ...(body ? { 'content-length': String(body.length) } : {}),
        },
        timeout: 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => finish(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
        res.on('error', (error) => {
          transportErrors++;
          finish(0, '', error);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => {
      transportErrors++;
      finish(0, '', error);
    });
    req.end(body);
  };

  const started = preciseNow();
  // Schedule: the i-th request is due when the integral of the rate reaches i.
  let due = 0;
  let last = started;
  let secondMark = started;
  let second = 0;
  let prevTick = started - 2;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = preciseNow();
      // Due at the tick it should have been (2 ms after the last): lateness = the process's lag.
      const scheduledAt = Math.min(now, prevTick + 2);
      prevTick = now;
      const elapsed = now - started;
      const end = Math.min(elapsed, options.durationMs);
      due += (rateAt(elapsed) * (started + end - last)) / 1000;
      last = started + end;
      while (sent + shed < Math.floor(due)) {
        if (inFlight >= maxInFlight) shed++;
        else send(scheduledAt);
      }
      if (now - secondMark >= 1000) {
        secondMark += 1000;
        options.onSecond?.({
          second: ++second,
          sent: sent - lastSecond.sent,
          answered: answered - lastSecond.answered,
          inFlight,
        });
        lastSecond = { sent, answered };
      }
      if (elapsed >= options.durationMs) resolve();
      else setTimeout(tick, 2);
    };
    tick();
  });
  ticking = false;
  if (inFlight === 0) settleAll();
  await allAnswered;
  agent.destroy();
  const seconds = options.durationMs / 1000;
  return {
    sent,
    answered,
    shed,
    transportErrors,
    sentPerSecond: sent / seconds,
    httpLatency: summarize(latencies),
    sendLag: summarize(lags),
    seconds,
  };
}

/** A short name for a transport failure: the errno code, and whether the socket hung up before any answer. */
export function transportError(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code ?? error.message;
  return error.message === 'socket hang up' ? `${code} (hang up)` : code;
}
