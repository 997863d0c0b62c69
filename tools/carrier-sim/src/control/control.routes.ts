import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { CarrierRegistry, SimCarrierState } from '../carrier.registry';
import { behaviourSchema } from '../behaviour.schema';
import type { MessageStore } from '../message.store';

/** A PATCH of a carrier's knobs: any of them, nothing else. */
export const behaviourPatchSchema = behaviourSchema.strict();

const messagesQuerySchema = z.object({
  to: z.string().max(320).optional(),
  channel: z.enum(['sms', 'voice', 'email']).optional(),
  carrier: z.string().max(100).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
});

const feedQuerySchema = z.object({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(50_000).default(5_000),
  channel: z.enum(['sms', 'voice', 'email']).optional(),
});

export interface ControlDeps {
  registry: CarrierRegistry;
  store: MessageStore;
  dropSessions(carrier: string): number;
  sessionCount(carrier: string): number;
}

function carrierView(state: SimCarrierState, deps: ControlDeps): Record<string, unknown> {
  const d = state.definition;
  const channels =
    d.protocol === 'smpp'
      ? ['sms']
      : d.protocol === 'smtp'
        ? ['email']
        : (d.channels ?? ['sms', 'voice']);
  return {
    name: d.name,
    protocol: d.protocol,
    channels,
    behaviour: state.behaviour,
    stats: state.stats,
    ...(d.protocol === 'smpp' ? { sessions: deps.sessionCount(d.name) } : {}),
  };
}

/**
 * `/_sim/*`: inspect what the simulated carriers received and change their behaviour at run time.
 * A `to` of `" 1415…"` is read as `"+1415…"` (an unencoded plus in a query string is a space).
 */
export function registerControlRoutes(app: FastifyInstance, deps: ControlDeps): void {
  const { registry, store } = deps;

  app.get('/_sim/health', async () => ({ status: 'ok' }));

  app.get('/_sim/messages', async (request, reply) => {
    const parsed = messagesQuerySchema.safeParse(request.query);
    if (!parsed.success)
      return reply.code(400).send({ error: 'invalid query', issues: parsed.error.issues });
    const to = parsed.data.to?.replace(/^ (?=\d)/, '+');
    // `{id, channel, to, body, status, carrier, createdAt}` plus the extras of SimMessage.
    return store.list({ ...parsed.data, to });
  });

  // Arrival order with a cursor, for load benches: `{next, missed, messages: [{seq, id, channel,
  // to, carrier, receivedAt, body}]}`; poll again with `after=next`. `channel` filters what is
  // returned (the cursor still moves past the rest).
  app.get('/_sim/messages/feed', async (request, reply) => {
    const parsed = feedQuerySchema.safeParse(request.query);
    if (!parsed.success)
      return reply.code(400).send({ error: 'invalid query', issues: parsed.error.issues });
    const { after, limit, channel } = parsed.data;
    const { entries, next, missed } = store.since(after, limit);
    const messages = [];
    for (const { seq, record: r } of entries) {
      if (channel !== undefined && r.channel !== channel) continue;
      messages.push({
        seq,
        id: r.id,
        channel: r.channel,
        to: r.to,
        carrier: r.carrier,
        receivedAt: r.receivedAt,
        body: r.body,
      });
    }
    return { next, missed, messages };
  });

  app.delete('/_sim/messages', async (_request, reply) => {
    store.clear();
    return reply.code(204).send();
  });

  app.get('/_sim/carriers', async () => registry.list().map((s) => carrierView(s, deps)));

  app.get('/_sim/carriers/:name', async (request, reply) => {
    const state = registry.get((request.params as { name: string }).name);
    if (!state) return reply.code(404).send({ error: 'unknown carrier' });
    return carrierView(state, deps);
  });

  app.put('/_sim/carriers/:name', async (request, reply) => {
    const { name } = request.params as { name: string };
    if (!registry.get(name)) return reply.code(404).send({ error: 'unknown carrier' });
    const parsed = behaviourPatchSchema.safeParse(request.body ?? {});
    if (!parsed.success)
      return reply.code(400).send({ error: 'invalid behaviour', issues: parsed.error.issues });
    registry.update(name, parsed.data);
    return carrierView(registry.get(name)!, deps);
  });

  app.post('/_sim/carriers/:name/drop-sessions', async (request, reply) => {
    const { name } = request.params as { name: string };
    if (!registry.get(name)) return reply.code(404).send({ error: 'unknown carrier' });
    return { dropped: deps.dropSessions(name) };
  });

  app.post('/_sim/reset', async (_request, reply) => {
    registry.reset();
    store.clear();
    return reply.code(204).send();
  });
}
