import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { SIGNATURE_HEADER, signCallback } from '../callback-signature';
import type { CarrierRegistry, SimCarrierState } from '../carrier.registry';
import { providerId } from '../ids';
import type { MessageStore } from '../message.store';
import type { SimHttpCarrier, SimMessage, SimReceiptStatus } from '../sim.types';
import { preciseNow } from '../smpp/smpp.server';
import type { TimerSet } from '../timers';
import { textOfTwiml } from './twiml';

type HttpCarrierState = SimCarrierState & { definition: SimHttpCarrier };
type Form = Record<string, string | undefined>;

const E164 = /^\+[1-9]\d{6,14}$/;

/**
 * Vendor error codes in answers and callbacks (CPaaS style). WIRE VALUES: the notifier maps
 * them (21211 and friends are the recipient's fault, never retried elsewhere).
 */
export const HTTP_SIM_ERROR = {
  AUTH: 20003,
  NOT_FOUND: 20404,
  THROTTLED: 20429,
  INTERNAL: 20500,
  UNAVAILABLE: 20503,
  INVALID_TO: 21211,
  MISSING_BODY: 21602,
  MISSING_FROM: 21603,
  UNREACHABLE: 30003,
  UNKNOWN_FAILURE: 30008,
  VALIDITY_EXPIRED: 30036,
} as const;

const MESSAGE_FINAL: Record<SimReceiptStatus, { status: string; errorCode?: number }> = {
  delivered: { status: 'delivered' },
  undelivered: { status: 'undelivered', errorCode: HTTP_SIM_ERROR.UNREACHABLE },
  failed: { status: 'failed', errorCode: HTTP_SIM_ERROR.UNKNOWN_FAILURE },
  expired: { status: 'failed', errorCode: HTTP_SIM_ERROR.VALIDITY_EXPIRED },
};

const CALL_FINAL: Record<SimReceiptStatus, { status: string; errorCode?: number }> = {
  delivered: { status: 'completed' },
  undelivered: { status: 'no-answer' },
  failed: { status: 'failed', errorCode: HTTP_SIM_ERROR.UNKNOWN_FAILURE },
  expired: { status: 'no-answer' },
};

export interface HttpApiDeps {
  registry: CarrierRegistry;
  store: MessageStore;
  timers: TimerSet;
  logger: Logger;
  /** Aborted on stop, so no callback outlives the simulator. */
  shutdown: AbortSignal;
}

function vendorError(
  reply: FastifyReply,
  status: number,
  code: number,
  message: string,
): FastifyReply {
  return reply.code(status).send({ code, message, status });
}

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

function authorized(request: FastifyRequest, carrier: SimHttpCarrier): boolean {
  const header = request.headers.authorization ?? '';
  if (!header.startsWith('Basic ')) return false;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  return safeEqual(decoded, `${carrier.accountSid}:${carrier.authToken}`);
}

/** Adds the CPaaS-style API: `POST /v1/accounts/:sid/messages` and `/calls`, form-encoded, basic auth. */
export function registerHttpApiRoutes(app: FastifyInstance, deps: HttpApiDeps): void {
  const { registry, store, timers, logger } = deps;

  if (!app.hasContentTypeParser('application/x-www-form-urlencoded')) {
    app.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string' },
      (_req, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(body as string)));
      },
    );
  }

  const submit =
    (channel: 'sms' | 'voice') => async (request: FastifyRequest, reply: FastifyReply) => {
      const receivedAt = preciseNow();
      const { sid } = request.params as { sid: string };
      const state = registry.httpByAccount(sid);
      if (!state || !(state.definition.channels ?? ['sms', 'voice']).includes(channel)) {
        return vendorError(
          reply,
          404,
          HTTP_SIM_ERROR.NOT_FOUND,
          'The requested resource was not found',
        );
      }
      if (!authorized(request, state.definition)) {
        return vendorError(reply, 401, HTTP_SIM_ERROR.AUTH, 'Authenticate');
      }
      if (state.behaviour.down) {
        state.stats.refused++;
        return vendorError(reply, 503, HTTP_SIM_ERROR.UNAVAILABLE, 'Service unavailable');
      }
      const form = (request.body ?? {}) as Form;
      const to = form['To'] ?? '';
      const from = form['From'] ?? '';
      const body =
        channel === 'sms'
          ? (form['Body'] ?? '')
          : (form['Say'] ?? textOfTwiml(form['Twiml'] ?? ''));
      if (!E164.test(to)) {
        state.stats.invalid++;
        return vendorError(
          reply,
          400,
          HTTP_SIM_ERROR.INVALID_TO,
          `The 'To' number is not a valid phone number.`,
        );
      }
      if (!from)
        return vendorError(
          reply,
          400,
          HTTP_SIM_ERROR.MISSING_FROM,
          `A 'From' phone number is required.`,
        );
      if (!body)
        return vendorError(reply, 400, HTTP_SIM_ERROR.MISSING_BODY, 'Message body is required.');

      await timers.sleep(state.behaviour.latencyMs);
      if (timers.isStopped)
        return vendorError(reply, 503, HTTP_SIM_ERROR.UNAVAILABLE, 'Simulator stopping');
      // The client gave up before the answer: like an unacknowledged SMPP submit, not recorded.
      // (request.raw.destroyed is no signal: a fully read request body is destroyed too.)
      if (request.raw.socket.destroyed) return reply;
      const decision = registry.decide(state, to);
      switch (decision) {
        case 'down':
          return vendorError(reply, 503, HTTP_SIM_ERROR.UNAVAILABLE, 'Service unavailable');
        case 'invalid':
          return vendorError(
            reply,
            400,
            HTTP_SIM_ERROR.INVALID_TO,
            `The 'To' number is not a valid phone number.`,
          );
        case 'throttled':
          return vendorError(
            reply.header('retry-after', '1'),
            429,
            HTTP_SIM_ERROR.THROTTLED,
            'Too Many Requests',
          );
        case 'error':
          return vendorError(reply, 500, HTTP_SIM_ERROR.INTERNAL, 'Internal error');
        case 'accept':
          break;
      }
      const record = store.add({
        id: providerId(channel === 'sms' ? 'SM' : 'CA', 16),
        channel,
        to,
        from,
        body,
        status: 'accepted',
        carrier: state.definition.name,
        protocol: 'http',
        createdAt: new Date().toISOString(),
        receivedAt,
      });
      const callbackUrl = form['StatusCallback'];
      if (callbackUrl) void sendCallbacks(state, record, callbackUrl);
      else
        timers.after(state.behaviour.receiptDelayMs, () =>
          store.setStatus(record.id, state.behaviour.receiptStatus),
        );
      return reply.code(201).send({
        sid: record.id,
        account_sid: state.definition.accountSid,
        to,
        from,
        status: 'queued',
        date_created: record.createdAt,
      });
    };

  async function postCallback(
    state: HttpCarrierState,
    url: string,
    params: Record<string, string>,
  ): Promise<void> {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          [SIGNATURE_HEADER]: signCallback(url, params, state.definition.authToken),
        },
        body: new URLSearchParams(params).toString(),
        signal: AbortSignal.any([deps.shutdown, AbortSignal.timeout(5000)]),
      });
      await res.arrayBuffer();
      if (res.ok) state.stats.callbacksSent++;
      else state.stats.callbacksFailed++;
    } catch (err) {
      state.stats.callbacksFailed++;
      logger.debug(
        { carrier: state.definition.name, err: (err as Error).message },
        'status callback failed',
      );
    }
  }

  /** `sent` at once, then the final status after `receiptDelayMs`, in that order. */
  async function sendCallbacks(
    state: HttpCarrierState,
    record: SimMessage,
    url: string,
  ): Promise<void> {
    const common = { AccountSid: state.definition.accountSid, To: record.to, From: record.from };
    const final = state.behaviour.receiptStatus;
    const delay = state.behaviour.receiptDelayMs;
    if (record.channel === 'sms') {
      await postCallback(state, url, { ...common, MessageSid: record.id, MessageStatus: 'sent' });
      store.setStatus(record.id, 'sent');
      await timers.sleep(delay);
      if (timers.isStopped) return;
      const f = MESSAGE_FINAL[final];
      await postCallback(state, url, {
        ...common,
        MessageSid: record.id,
        MessageStatus: f.status,
        ...(f.errorCode ? { ErrorCode: String(f.errorCode) } : {}),
      });
    } else {
      await timers.sleep(delay);
      if (timers.isStopped) return;
      const f = CALL_FINAL[final];
      await postCallback(state, url, {
        ...common,
        CallSid: record.id,
        CallStatus: f.status,
        ...(f.errorCode ? { ErrorCode: String(f.errorCode) } : {}),
      });
    }
    store.setStatus(record.id, final);
  }

  app.post('/v1/accounts/:sid/messages', submit('sms'));
  app.post('/v1/accounts/:sid/calls', submit('voice'));
  app.get('/v1/accounts/:sid/messages/:id', async (request, reply) => {
    const { sid, id } = request.params as { sid: string; id: string };
    const state = registry.httpByAccount(sid);
    if (!state || !authorized(request, state.definition))
      return vendorError(reply, 401, HTTP_SIM_ERROR.AUTH, 'Authenticate');
    const record = store.get(id);
    if (!record || record.carrier !== state.definition.name) {
      return vendorError(
        reply,
        404,
        HTTP_SIM_ERROR.NOT_FOUND,
        'The requested resource was not found',
      );
    }
    return {
      sid: record.id,
      to: record.to,
      from: record.from,
      status: record.status,
      date_created: record.createdAt,
    };
  });
}
