/**
 * The sale-day code requests, in a mix: what a storefront, a logistics system and customers
 * send through the gateway on a busy day. Each request goes to a destination of its own and is
 * handed to the tracker when it leaves.
 */
import { randomUUID } from 'node:crypto';
import type { Answer, LoadRequest } from './driver';
import { type DestinationPool, randomIp } from './numbers';
import type { SmsTracker } from './tracker';

export type CodeKind = 'verification' | 'phone_add' | 'out_for_delivery' | 'resend' | 'sign_in';

/**
 * Default shares. Phone verifications (otp's generic API and identity's add-a-number) dominate
 * on a sale day (new customers), then delivery codes; resends and challenged sign-ins are small.
 * Sign-ins cost an argon2id verification (~50 ms of a core, by design), so even 1 % of the load is
 * a visible share of the CPU.
 */
export const DEFAULT_MIX: Readonly<Record<CodeKind, number>> = {
  verification: 0.5,
  phone_add: 0.25,
  out_for_delivery: 0.2,
  resend: 0.04,
  sign_in: 0.01,
};

export const KIND_ROUTES: Readonly<Record<CodeKind, string>> = {
  verification: 'POST /v1/verifications (otp)',
  phone_add: 'POST /v1/accounts/:id/phones (identity → otp)',
  out_for_delivery: 'POST /v1/shipments/:id/out-for-delivery (delivery-otp)',
  resend: 'POST /v1/verifications/:id/resend (otp)',
  sign_in: 'POST /v1/sessions, two-step on, new device (identity → otp)',
};

export interface MixKeys {
  storefront: string;
  logistics: string;
}

export interface MixAccounts {
  /** Account ids without phones, one phone added to each (taken off the end: each used once across phases). */
  plain: string[];
  /** Accounts with two-step by SMS on a verified number: each signs in once from a new device. */
  twoStep: { email: string; password: string; phone: string }[];
}

export interface MixOptions {
  keys: MixKeys;
  accounts: MixAccounts;
  numbers: DestinationPool;
  tracker: SmsTracker;
  shares?: Partial<Record<CodeKind, number>>;
  /** A resend is sent for a verification at least this old (the otp resend cooldown + margin). */
  resendAfterMs?: number;
}

interface Resendable {
  id: string;
  destination: string;
  acceptedAt: number;
}

const json = (key: string, extra: Record<string, string> = {}): Record<string, string> => ({
  'content-type': 'application/json',
  authorization: `Bearer ${key}`,
  ...extra,
});

const time = (iso: unknown): number | undefined =>
  typeof iso === 'string' ? Date.parse(iso) : undefined;

/** Problem code of an error answer (`code` of application/problem+json), or `-`. */
export function problemCode(body: unknown): string {
  const code = (body as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : '-';
}

/**
 * Picks the next request by the shares (deterministically: the kind furthest behind its share
 * goes next), builds it, and tells the tracker. A kind whose pool is empty (no account left, no
 * verification old enough to resend) falls back to a verification, and is counted as one.
 */
export class CodeMix {
  readonly shares: Record<CodeKind, number>;
  private readonly counts: Record<CodeKind, number> = {
    verification: 0,
    phone_add: 0,
    out_for_delivery: 0,
    resend: 0,
    sign_in: 0,
  };
  private total = 0;
  private readonly resendable: Resendable[] = [];
  private resendHead = 0;
  private readonly resendAfterMs: number;

  constructor(private readonly o: MixOptions) {
    this.shares = { ...DEFAULT_MIX, ...o.shares };
    this.resendAfterMs = o.resendAfterMs ?? 6_000;
  }

  /** One line saying the mix, for the output. */
  describe(): string {
    return (Object.keys(this.shares) as CodeKind[])
      .filter((k) => this.shares[k] > 0)
      .map((k) => `${k} ${(this.shares[k] * 100).toFixed(1)}%`)
      .join(', ');
  }

  next(sentAt: number): { request: LoadRequest; onAnswer(answer: Answer): void } {
    const kind = this.pick();
    const built = this.build(kind, sentAt);
    // Counted as the kind picked, so a kind that fell back (no resendable verification yet) does
    // not keep winning the pick; the tracker counts what was actually sent.
    this.counts[kind]++;
    this.total++;
    const tracked = this.o.tracker.sent({
      kind: built.kind,
      destination: built.destination,
      requestedAt: sentAt,
    });
    return {
      request: built.request,
      onAnswer: (answer) => {
        if (answer.status >= 200 && answer.status < 300) {
          const expiresAt = built.expiresAt(answer.body);
          if (built.kind === 'sign_in' && expiresAt === undefined) {
            // A session without a code (device known or two-step off): nothing was sent.
            this.o.tracker.failed(tracked, answer.status, 'no_challenge');
            return;
          }
          const id = built.kind === 'verification' ? (answer.body as { id?: unknown } | undefined)?.id : undefined;
          this.o.tracker.accepted(tracked, expiresAt, typeof id === 'string' ? id : undefined);
          built.onAccepted?.(answer);
        } else {
          // No answer: the transport's error (ECONNRESET, timeout) stands in for the problem code.
          this.o.tracker.failed(tracked, answer.status, answer.error ?? problemCode(answer.body));
        }
      },
    };
  }

  private pick(): CodeKind {
    let pick: CodeKind = 'verification';
    let worst = Infinity;
    for (const kind of Object.keys(this.shares) as CodeKind[]) {
      const share = this.shares[kind];
      if (share <= 0) continue;
      const deficit = this.counts[kind] / share - this.total;
      if (deficit < worst) {
        worst = deficit;
        pick = kind;
      }
    }
    return pick;
  }

  private build(
    kind: CodeKind,
    sentAt: number,
  ): {
    kind: CodeKind;
    destination: string;
    request: LoadRequest;
    expiresAt(body: unknown): number | undefined;
    onAccepted?(answer: Answer): void;
  } {
    const { keys, accounts, numbers } = this.o;
    const accountId = kind === 'phone_add' ? accounts.plain.pop() : undefined;
    if (accountId) {
      const destination = numbers.next();
      return {
        kind,
        destination,
        request: {
          method: 'POST',
          path: `/v1/accounts/${accountId}/phones`,
          headers: json(keys.storefront, { 'x-client-ip': randomIp() }),
          body: JSON.stringify({ number: destination, channel: 'sms' }),
        },
        expiresAt: (b) => time((b as { verification?: { expiresAt?: string } }).verification?.expiresAt),
      };
    }
    const account = kind === 'sign_in' ? accounts.twoStep.pop() : undefined;
    if (account) {
      return {
        kind,
        destination: account.phone,
        request: {
          method: 'POST',
          path: '/v1/sessions',
          headers: json(keys.storefront),
          body: JSON.stringify({
            email: account.email,
            password: account.password,
            device: { id: `dev-${randomUUID()}`, ip: randomIp(), name: 'Sale-day phone' },
          }),
        },
        expiresAt: (b) => time((b as { challenge?: { expiresAt?: string } }).challenge?.expiresAt),
      };
    }
    if (kind === 'out_for_delivery') {
      const destination = numbers.next();
      const shipmentId = `shp_${randomUUID()}`;
      const end = new Date(Date.now() + 4 * 3_600_000);
      return {
        kind,
        destination,
        request: {
          method: 'POST',
          path: `/v1/shipments/${shipmentId}/out-for-delivery`,
          headers: json(keys.logistics),
          body: JSON.stringify({
            orderId: `ord_${randomUUID().slice(0, 8)}`,
            accountId: randomUUID(),
            contact: { phone: destination },
            courierId: `courier_${Math.floor(Math.random() * 500)}`,
            window: { start: new Date().toISOString(), end: end.toISOString() },
          }),
        },
        // The SMS must not arrive after the window ends (its notAfter).
        expiresAt: () => end.getTime(),
      };
    }
    if (kind === 'resend') {
      const candidate = this.resendable[this.resendHead];
      if (candidate && candidate.acceptedAt <= sentAt - this.resendAfterMs) {
        this.resendHead++;
        if (this.resendHead > 10_000) {
          this.resendable.splice(0, this.resendHead);
          this.resendHead = 0;
        }
        return {
          kind,
          destination: candidate.destination,
          request: {
            method: 'POST',
            path: `/v1/verifications/${candidate.id}/resend`,
            headers: json(keys.storefront),
            body: JSON.stringify({ clientIp: randomIp() }),
          },
          expiresAt: (b) => time((b as { expiresAt?: string }).expiresAt),
        };
      }
    }
    const destination = numbers.next();
    return {
      kind: 'verification',
      destination,
      request: {
        method: 'POST',
        path: '/v1/verifications',
        headers: json(keys.storefront),
        body: JSON.stringify({
          to: destination,
          channel: 'sms',
          purpose: 'phone_verification',
          clientIp: randomIp(),
        }),
      },
      expiresAt: (b) => time((b as { expiresAt?: string }).expiresAt),
      onAccepted: (answer) => {
        const id = (answer.body as { id?: string }).id;
        // One verification in five is kept as a candidate for a later resend.
        if (id && this.resendable.length - this.resendHead < 50_000 && Math.random() < 0.2)
          this.resendable.push({ id, destination, acceptedAt: answer.doneAt });
      },
    };
  }
}
