import type * as amqp from 'amqplib';

/**
 * Stands in for the notifier in the per-service benches: every event the service publishes
 * finds a queue (a length-bounded sink, so publishes are not dropped as unroutable and nothing
 * piles up), and the code messages (`notification.requested.v1`) go to a second queue the
 * bench reads between phases.
 */
export async function declareEventSink(
  ch: amqp.Channel,
  prefix = 'bench',
): Promise<{ sink: string; codes: string }> {
  const sink = `${prefix}.sink`;
  const codes = `${prefix}.codes`;
  await ch.assertExchange('phonegate.events', 'topic', { durable: true });
  await ch.assertQueue(sink, {
    durable: false,
    arguments: { 'x-max-length': 5000, 'x-overflow': 'drop-head' },
  });
  await ch.bindQueue(sink, 'phonegate.events', '#');
  await ch.assertQueue(codes, { durable: false });
  await ch.bindQueue(codes, 'phonegate.events', 'notification.requested.v1.#');
  return { sink, codes };
}
