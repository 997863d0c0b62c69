import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
} from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { DomainError } from '../errors/domain-error';
import { toProblem } from './problem.filter';

interface Stored {
  state: 'pending' | 'done';
  fingerprint: string;
  /** A pending claim's own random token: its value is told from any other claim's (released only by its request). */
  token?: string;
  status?: number;
  /** The answer (content type and payload), AES-256-GCM: base64 of IV (12 bytes) + tag (16) + ciphertext. */
  sealed?: string;
}

/** The answer as kept, before sealing. */
interface Answer {
  contentType: string;
  payload: string;
  /** The answer's headers a retry needs too (KEPT_HEADERS), by lower-case name. */
  headers?: Record<string, string>;
  /** When the answer was given (ms since the epoch): a replayed Retry-After counts from it. */
  at?: number;
}

/** What a claimed request carries to the onSend hook. */
interface Claim {
  storeKey: string;
  fingerprint: string;
  answerKey: Buffer;
  /** The pending claim exactly as stored: the answer replaces it, a 5xx removes it, only while it is still there. */
  pending: string;
}

/**
 * Headers an answer carries that a replay must carry too: Retry-After (a 429's, API.md; replayed
 * as the wait that remains), Location, and the caching rules of an answer holding a secret.
 */
const KEPT_HEADERS = ['retry-after', 'location', 'cache-control', 'referrer-policy'] as const;

/** How long a claim is held while its request runs: longer than any request may run (a retry meanwhile is 409). */
const PENDING_SECONDS = 120;

/** Deletes KEYS[1] only while it holds ARGV[1] (this request's own claim). */
const RELEASE_SCRIPT =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

/**
 * Sets KEYS[1] to ARGV[2] for ARGV[3] seconds while it holds ARGV[1] (this request's own claim) or
 * nothing (the claim expired under a long request: its answer is still kept); never over another
 * request's claim, nor over the answer an earlier attempt of this write stored.
 */
const SETTLE_SCRIPT =
  "local v = redis.call('get', KEYS[1]) if v == ARGV[1] or v == false then redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 end return 0";

/**
 * When a store write's outcome is unknown (timed out, connection lost), it is sent again after
 * these delays (about 30 s in all) until Redis answers it; at most MAX_RETRIED writes wait at once
 * per client, the rest are left to the claim's expiry.
 */
const RETRY_DELAYS_MS = [250, 500, 1_000, 2_000, 4_000, 8_000, 16_000] as const;
const MAX_RETRIED = 10_000;
const retrying = new WeakMap<Redis, number>();

type Marked = FastifyRequest & { idempotencyClaim?: Claim };

/** What a service tells the Idempotency-Key support about itself. */
export interface IdempotencyPolicy {
  /**
   * Key (at least 32 bytes, a secret of the service's own) of the HMAC-SHA256 that
   * fingerprints a request's body, so the store holds nothing a guess at the body (a
   * password, a code) can be checked against (C2); it also keys the store's key and,
   * with the client's Idempotency-Key, the answer's encryption. Without it the
   * caller's credential (its `Authorization` header) does. An anonymous request is
   * never kept.
   */
  fingerprintKey?: Buffer;
  /**
   * The service's earlier fingerprint keys (from keys still in its ring after a rotation):
   * entries stored under them are still found (replayed, or refused as a conflict) until they
   * expire; new entries use `fingerprintKey`.
   */
  previousFingerprintKeys?: readonly Buffer[];
  /**
   * Entries stored under the caller's credential (by a version of the service that had no key of
   * its own) are still found. For one release after a service gains `fingerprintKey`.
   */
  readCredentialKeyed?: boolean;
  /**
   * The caller a credential (the request's `Authorization` header) stands for, when that is
   * more lasting than the credential: a named client's id, the same for each of its keys, so a
   * retry sent with the client's new key after a rotation still finds its first answer.
   * Undefined (or no function): the credential itself is the caller. Set by the platform from
   * `API_KEYS`.
   */
  callerOf?: (credential: string) => string | undefined;
  /**
   * Whether the service accepts a credential (the `Authorization` header) now, whatever the
   * route's scopes: a request whose credential it does not (unknown, revoked, a key taken out of
   * `API_KEYS`) is neither claimed nor replayed, and its route's guard answers 401; a revoked
   * device is not replayed what it was answered before. Set by the platform from `API_KEYS` and
   * the service's principal resolver (device secrets). Undefined: every credential is a caller.
   */
  knows?: (credential: string) => boolean | Promise<boolean>;
}

const policies = new WeakMap<FastifyInstance, IdempotencyPolicy>();

/**
 * A service's Idempotency-Key fingerprint key, derived (HKDF-SHA256) from a secret of its own
 * (`seed`), labelled with the service's name: the same on every replica of the service.
 */
export function fingerprintKeyFrom(seed: Buffer, service: string): Buffer {
  return Buffer.from(
    hkdfSync(
      'sha256',
      seed,
      Buffer.alloc(0),
      `phonegate ${service}: Idempotency-Key fingerprints`,
      32,
    ),
  );
}

/**
 * Sets (part of) a Fastify instance's idempotency policy (the platform and a service's module
 * call it at start, before the first request; what is not given stays); read on every request.
 */
export function setIdempotencyPolicy(app: FastifyInstance, policy: IdempotencyPolicy): void {
  for (const key of [policy.fingerprintKey, ...(policy.previousFingerprintKeys ?? [])]) {
    if (key && key.length < 32)
      throw new Error('the Idempotency-Key fingerprint key needs at least 32 bytes');
  }
  policies.set(app, { ...policies.get(app), ...policy });
}

/**
 * A service's Idempotency-Key keys from a key ring of its own: the active key's for new
 * entries, the ring's other keys' to find what was stored before a rotation.
 */
export function fingerprintKeysFrom(
  ring: { activeKeyId: string; keys: ReadonlyMap<string, Buffer> },
  service: string,
): Pick<IdempotencyPolicy, 'fingerprintKey' | 'previousFingerprintKeys'> {
  const active = ring.keys.get(ring.activeKeyId);
  if (!active) throw new Error(`the active key ${ring.activeKeyId} is not in the key ring`);
  return {
    fingerprintKey: fingerprintKeyFrom(active, service),
    previousFingerprintKeys: [...ring.keys]
      .filter(([id]) => id !== ring.activeKeyId)
      .map(([, seed]) => fingerprintKeyFrom(seed, service)),
  };
}

/**
 * Where a request's entry may be: the first place is where a new one goes; the others (earlier
 * service keys, the credential-keyed store of an earlier version, a named client's caller
 * before it was named) are only looked in. Each with the secret its HMACs and seal are under.
 */
interface Place {
  base: Buffer;
  storeKey: string;
}

function placesOf(
  policy: IdempotencyPolicy,
  credential: string,
  method: string,
  url: string,
  idempotencyKey: string,
): Place[] {
  const bases: Buffer[] = [];
  if (policy.fingerprintKey) {
    bases.push(policy.fingerprintKey, ...(policy.previousFingerprintKeys ?? []));
    if (policy.readCredentialKeyed && credential) bases.push(Buffer.from(credential, 'utf8'));
  } else if (credential) {
    bases.push(Buffer.from(credential, 'utf8'));
  }
  const named = policy.callerOf?.(credential);
  // A named client's caller cannot collide with a credential: no header value holds a newline.
  const callers = named === undefined ? [credential] : [`\n${named}`, credential];
  const places: Place[] = [];
  for (const base of bases)
    for (const caller of callers)
      places.push({
        base,
        storeKey: idempotencyStoreKey(base, caller, method, url, idempotencyKey),
      });
  return places;
}

/** The secret the store's HMACs and the answer key derive from: the service's key, else the caller's credential. */
function baseKey(policy: IdempotencyPolicy, credential: string): Buffer | undefined {
  return policy.fingerprintKey ?? (credential ? Buffer.from(credential, 'utf8') : undefined);
}

function fingerprintUnder(base: Buffer, body: unknown): string {
  return createHmac('sha256', base)
    .update(JSON.stringify(body ?? null))
    .digest('hex');
}

/**
 * The fingerprint of a request's body: HMAC-SHA256 under the service's key, else
 * under the caller's credential; undefined when there is neither.
 */
export function requestFingerprint(
  body: unknown,
  policy: IdempotencyPolicy,
  credential: string,
): string | undefined {
  const key = baseKey(policy, credential);
  return key ? fingerprintUnder(key, body) : undefined;
}

/**
 * The store's key for a request: `idem:http:<caller>:<HMAC(base, method, url, Idempotency-Key)>`,
 * so Redis never holds the client's Idempotency-Key in clear. `caller` is the named client
 * (IdempotencyPolicy.callerOf) or else the credential, kept as a hash.
 */
export function idempotencyStoreKey(
  base: Buffer,
  callerOrCredential: string,
  method: string,
  url: string,
  idempotencyKey: string,
): string {
  const caller = createHash('sha256').update(callerOrCredential).digest('hex').slice(0, 16);
  const id = createHmac('sha256', base)
    .update(`${method}\n${url}\n${idempotencyKey}`)
    .digest('hex');
  return `idem:http:${caller}:${id}`;
}

/**
 * The key that seals a kept answer: HMAC-SHA256 under base of the client's
 * Idempotency-Key (never stored), so the store, even with the service's keys, cannot
 * read an answer without the key the client holds.
 */
function answerKey(base: Buffer, method: string, url: string, idempotencyKey: string): Buffer {
  return createHmac('sha256', base).update(`answer\n${method}\n${url}\n${idempotencyKey}`).digest();
}

/** AES-256-GCM with a random 12-byte IV; the store key is the associated data (a sealed answer cannot be moved). */
function seal(key: Buffer, storeKey: string, answer: Answer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(storeKey, 'utf8'));
  const data = Buffer.concat([cipher.update(JSON.stringify(answer), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64');
}

/** The answer sealed by `seal`; undefined when it does not open under this key. */
function open(key: Buffer, storeKey: string, sealed: string): Answer | undefined {
  try {
    const raw = Buffer.from(sealed, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(storeKey, 'utf8'));
    decipher.setAuthTag(raw.subarray(12, 28));
    const text = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString(
      'utf8',
    );
    return JSON.parse(text) as Answer;
  } catch {
    return undefined;
  }
}

/**
 * `Idempotency-Key` for every POST: the first answer (2xx or 4xx) is kept for
 * `ttlSeconds` and replayed for a retry with the same key, caller and body; the
 * same key with another body is 409 `idempotency_conflict`; a retry while the
 * first is still running is 409 too, with Retry-After: 1. 5xx answers are not kept,
 * so a retry runs; nor is a claim whose store command failed (the request did not
 * run: 503 with Retry-After: 1), even if Redis runs that command late. A replay
 * carries the first answer's Location, caching headers and Retry-After (the wait
 * that remains).
 * The store holds the body only as an HMAC, the Idempotency-Key only inside an HMAC
 * (the store's key), and the answer AES-256-GCM sealed under a key derived from the
 * Idempotency-Key (see IdempotencyPolicy); anonymous calls (no `Authorization`) run
 * without it, as do calls whose credential the service does not accept (`knows`).
 */
export function registerIdempotency(
  app: FastifyInstance,
  redis: Redis,
  ttlSeconds = 86_400,
  policy?: IdempotencyPolicy,
): void {
  if (policy) setIdempotencyPolicy(app, policy);
  // Callback-style hooks: a request without the header (nearly all) costs no promise here.
  app.addHook(
    'preHandler',
    (request: Marked, reply: FastifyReply, done: (error?: Error) => void) => {
      if (request.method !== 'POST') return done();
      const key = request.headers['idempotency-key'];
      if (typeof key !== 'string' || key.length === 0) return done();
      claim(app, redis, request, reply, key).then(
        (answered) => {
          if (!answered) done();
        },
        (error: unknown) => done(error instanceof Error ? error : new Error(String(error))),
      );
    },
  );

  app.addHook(
    'onSend',
    (
      request: Marked,
      reply: FastifyReply,
      payload: unknown,
      done: (error: Error | null, payload?: unknown) => void,
    ) => {
      const claimed = request.idempotencyClaim;
      if (!claimed) return done(null, payload);
      request.idempotencyClaim = undefined;
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        done(null, payload);
      };
      // The answer goes out whatever happens to the store.
      keep(redis, claimed, reply, payload, ttlSeconds).then(finish).catch(finish);
    },
  );
}

/**
 * Claims the key for this request, or answers it (replay, conflict, malformed, store down);
 * true when it answered.
 */
async function claim(
  app: FastifyInstance,
  redis: Redis,
  request: Marked,
  reply: FastifyReply,
  key: string,
): Promise<boolean> {
  const current = policies.get(app) ?? {};
  if (key.length > 200)
    return answered(
      sendProblem(reply, 'malformed_request', 'Idempotency-Key is at most 200 characters.'),
    );
  const credential = String(request.headers.authorization ?? '');
  // An anonymous call is not kept: nothing tells its callers apart (one's answer would be
  // another's), and each made-up key would leave an entry in Redis for a day.
  if (credential === '') return false;
  if (current.knows && !(await current.knows(credential))) return false;
  const places = placesOf(current, credential, request.method, request.url, key);
  const [first, ...earlier] = places;
  if (!first) return false; // anonymous, and the service has no key: not kept
  const fingerprint = fingerprintUnder(first.base, request.body);
  const token = randomBytes(16).toString('base64url');
  const pending = JSON.stringify({ state: 'pending', fingerprint, token } satisfies Stored);
  let found: { place: Place; raw: string } | undefined;
  let claimMayBeStored = true;
  try {
    const claimed = await redis.set(first.storeKey, pending, 'EX', PENDING_SECONDS, 'NX');
    if (claimed !== 'OK') {
      claimMayBeStored = false; // another request's entry: nothing of ours to release
      const raw = await redis.get(first.storeKey);
      if (raw === null) return false; // expired in between: run it (unclaimed, as before)
      found = { place: first, raw };
    } else if (earlier.length > 0) {
      // Stored before a key rotation, an upgrade or the client's naming: that entry answers.
      const raws = await Promise.all(earlier.map((p) => redis.get(p.storeKey)));
      const at = raws.findIndex((r) => r !== null);
      if (at >= 0) {
        claimMayBeStored = false;
        void guardedWrite(redis, RELEASE_SCRIPT, first.storeKey, [pending]);
        found = { place: earlier[at] as Place, raw: raws[at] as string };
      }
    }
  } catch {
    // The claim may be stored, or be stored later (a timed-out command still runs when Redis
    // resumes): this request does not run, so its claim is released at once (sent on the same
    // connection, it runs after the claim) and until Redis answers, never left to hold the key.
    if (claimMayBeStored) void guardedWrite(redis, RELEASE_SCRIPT, first.storeKey, [pending]);
    // Without the store a retry could run twice: refuse clearly instead (R1).
    return answered(
      sendProblem(reply, 'service_unavailable', 'Idempotency store unavailable; retry shortly.', 1),
    );
  }
  if (!found) {
    request.idempotencyClaim = {
      storeKey: first.storeKey,
      fingerprint,
      answerKey: answerKey(first.base, request.method, request.url, key),
      pending,
    };
    return false;
  }
  const { place, raw } = found;
  const stored = JSON.parse(raw) as Stored;
  const expected = place === first ? fingerprint : fingerprintUnder(place.base, request.body);
  if (stored.fingerprint !== expected) {
    return answered(
      sendProblem(
        reply,
        'idempotency_conflict',
        'This Idempotency-Key was used with another request body.',
      ),
    );
  }
  if (stored.state === 'pending') {
    // The first request is running (most end within a second): a retry soon is replayed its answer.
    return answered(
      sendProblem(
        reply,
        'idempotency_conflict',
        'A request with this Idempotency-Key is still in progress.',
        1,
      ),
    );
  }
  const sealKey = answerKey(place.base, request.method, request.url, key);
  const answer =
    stored.sealed === undefined ? undefined : open(sealKey, place.storeKey, stored.sealed);
  if (!answer) {
    // Altered in the store: replaying nothing is safer than running the request twice.
    return answered(
      sendProblem(
        reply,
        'idempotency_conflict',
        'The first answer for this Idempotency-Key cannot be replayed.',
      ),
    );
  }
  void reply.header('idempotent-replayed', 'true');
  void reply.status(stored.status ?? 200);
  for (const [name, value] of Object.entries(answer.headers ?? {}))
    void reply.header(name, name === 'retry-after' ? remainingWait(value, answer.at) : value);
  if (answer.contentType) void reply.header('content-type', answer.contentType);
  return answered(reply.send(answer.payload));
}

/**
 * A kept Retry-After as it stands now: in seconds, what remains of the wait counted from when the
 * answer was given, rounded up and at least 1 (the replay itself does not change, so a 0 would
 * only invite a loop); an HTTP date, or an answer kept without its time, as it was.
 */
export function remainingWait(
  value: string,
  givenAt: number | undefined,
  now = Date.now(),
): string {
  if (givenAt === undefined || !/^\d+$/.test(value)) return value;
  return String(Math.max(1, Math.ceil(Number(value) - (now - givenAt) / 1_000)));
}

/**
 * Runs a write guarded by this request's claim (RELEASE_SCRIPT, SETTLE_SCRIPT); while its outcome
 * is unknown (an error: timed out, connection lost) it is sent again in the background
 * (RETRY_DELAYS_MS, bounded). Sent on the connection a failed command went on, it runs after that
 * command if Redis ever runs it (ioredis keeps a connection's order, and never sends a command
 * again after a reconnect). Resolves after the first attempt, whatever its outcome.
 */
async function guardedWrite(
  redis: Redis,
  script: string,
  storeKey: string,
  args: string[],
  attempt = 0,
): Promise<void> {
  try {
    await redis.eval(script, 1, storeKey, ...args);
  } catch {
    const delay = RETRY_DELAYS_MS[attempt];
    const waiting = retrying.get(redis) ?? 0;
    if (delay === undefined || waiting >= MAX_RETRIED || redis.status === 'end') return;
    retrying.set(redis, waiting + 1);
    setTimeout(() => {
      retrying.set(redis, (retrying.get(redis) ?? 1) - 1);
      void guardedWrite(redis, script, storeKey, args, attempt + 1);
    }, delay).unref();
  }
}

/**
 * Keeps the answer, sealed, for retries. A 5xx or a 429 is not kept: nothing was done, and the
 * answer itself asks for a retry (a 429's Retry-After: the same operation, the same key, after the
 * wait; kept, it would answer 429 to that retry for as long as answers are kept), so the claim is
 * released and a retry runs. Either write replaces only this request's own claim; one whose outcome is unknown is sent
 * again until Redis answers (bounded), so a lost write does not leave the claim to refuse retries
 * until it expires.
 */
async function keep(
  redis: Redis,
  claimed: Claim,
  reply: FastifyReply,
  payload: unknown,
  ttlSeconds: number,
): Promise<void> {
  // Not kept: a 5xx or a 429 (a retry must run again). A 401 is kept like any 4xx (a sign-in's
  // invalid_credentials retried is replayed, not counted twice): a credential the service does
  // not accept never gets here (IdempotencyPolicy.knows).
  if (reply.statusCode >= 500 || reply.statusCode === 429) {
    await guardedWrite(redis, RELEASE_SCRIPT, claimed.storeKey, [claimed.pending]);
    return;
  }
  const headers: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const value = reply.getHeader(name);
    if (value !== undefined)
      headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  const answer: Answer = {
    contentType: String(reply.getHeader('content-type') ?? 'application/json'),
    payload:
      typeof payload === 'string'
        ? payload
        : Buffer.isBuffer(payload)
          ? payload.toString('utf8')
          : '',
    headers,
    at: Date.now(),
  };
  const stored: Stored = {
    state: 'done',
    fingerprint: claimed.fingerprint,
    status: reply.statusCode,
    sealed: seal(claimed.answerKey, claimed.storeKey, answer),
  };
  // Only while the claim is still this request's (one that expired may be another's by now).
  await guardedWrite(redis, SETTLE_SCRIPT, claimed.storeKey, [
    claimed.pending,
    JSON.stringify(stored),
    String(ttlSeconds),
  ]);
}

function answered(_reply: FastifyReply): true {
  return true;
}

function sendProblem(
  reply: FastifyReply,
  code: 'idempotency_conflict' | 'malformed_request' | 'service_unavailable',
  detail: string,
  retryAfterSeconds?: number,
) {
  const body = toProblem(
    new DomainError(
      code,
      detail,
      retryAfterSeconds === undefined ? {} : { retryAfter: retryAfterSeconds },
    ),
  );
  if (retryAfterSeconds !== undefined) void reply.header('retry-after', String(retryAfterSeconds));
  return reply.status(body.status).header('content-type', 'application/problem+json').send(body);
}
