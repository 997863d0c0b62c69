import type * as amqp from 'amqplib';
import { decodeEnvelope, SensitiveCipher } from '@phonegate/messaging';

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

/** A code the service sent, as the notifier would read it: the challenge id (origin ref) and the code. */
export interface SentCode {
  id: string;
  code: string;
}

/**
 * Reads the code messages queued by `declareEventSink` and decrypts their code (bus key
 * `b1`, base64), as the notifier would. Benches call it between phases, so the reading stays
 * out of the measured ones.
 */
export class CodeReader {
  private readonly cipher: SensitiveCipher;

  constructor(
    private readonly ch: amqp.Channel,
    private readonly queue: string,
    busKeyBase64: string,
  ) {
    this.cipher = new SensitiveCipher({ keys: { b1: busKeyBase64 }, activeKeyId: 'b1' });
  }

  /** Every code queued now (possibly none). */
  async drain(): Promise<SentCode[]> {
    const out: SentCode[] = [];
    for (;;) {
      const msg = await this.ch.get(this.queue, { noAck: true });
      if (!msg) return out;
      const envelope = decodeEnvelope(msg.content);
      const data = this.cipher.decryptPaths(
        envelope.data,
        envelope.sensitive ?? [],
        envelope.type,
      ) as {
        variables: { code?: string };
        origin?: { ref?: string };
      };
      if (data.variables.code && data.origin?.ref)
        out.push({ id: data.origin.ref, code: data.variables.code });
    }
  }
}
