/**
 * The pipeline floor of the sale-day steady scenario, run as its own process: the least any
 * implementation of "a code request becomes an SMS at the carrier" does, on the same machine and
 * the same infrastructure. POST /floor/codes {to} → one Redis SET (the challenge) → one
 * confirmed, persistent publish → consumed from a quorum queue (prefetch 200) → one SMPP
 * submit_sm to the simulator (account smpp-c, window 64) → ack. No validation, no limits, no
 * log, no database, no encryption, no breaker. Prints `listening <port>` when ready.
 *
 * Env: PORT, RABBITMQ_URL (the stack's vhost), REDIS_URL, REDIS_KEY_PREFIX, SMPP_PORT.
 */
import { randomInt, randomUUID } from 'node:crypto';
import * as amqp from 'amqplib';
import Fastify from 'fastify';
import { Redis } from 'ioredis';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const smpp = require('smpp') as {
  connect(
    o: { host: string; port: number },
    cb: () => void,
  ): {
    bind_transceiver(p: Record<string, unknown>, cb: (pdu: { command_status: number }) => void): void;
    submit_sm(p: Record<string, unknown>, cb: (pdu: { command_status: number }) => void): void;
    send(pdu: unknown): void;
    on(event: string, cb: (...args: unknown[]) => void): void;
  };
};

const EXCHANGE = 'floor.events';
const QUEUE = 'floor.codes';
const WINDOW = 64;

async function main(): Promise<void> {
  const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', {
    keyPrefix: process.env['REDIS_KEY_PREFIX'] ?? 'floor:',
  });
  const connection = await amqp.connect(process.env['RABBITMQ_URL'] as string);
  const pub = await connection.createConfirmChannel();
  await pub.assertExchange(EXCHANGE, 'topic', { durable: true });
  const sub = await connection.createChannel();
  await sub.assertQueue(QUEUE, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await sub.bindQueue(QUEUE, EXCHANGE, 'code.#');
  await sub.prefetch(200);

  const session = await new Promise<ReturnType<typeof smpp.connect>>((resolve, reject) => {
    const s = smpp.connect({ host: '127.0.0.1', port: Number(process.env['SMPP_PORT']) }, () =>
      s.bind_transceiver({ system_id: 'smpp-c', password: 'sim-c' }, (pdu) =>
        pdu.command_status === 0 ? resolve(s) : reject(new Error('floor: bind refused')),
      ),
    );
    s.on('error', () => undefined);
    s.on('deliver_sm', (...args: unknown[]) => s.send((args[0] as { response(): unknown }).response()));
  });
  // At most WINDOW submits outstanding, like the notifier's SMPP window.
  let outstanding = 0;
  const waiting: (() => void)[] = [];
  const submit = (to: string, code: string): Promise<void> =>
    new Promise((resolve) => {
      const go = () => {
        outstanding++;
        session.submit_sm(
          {
            destination_addr: to.replace(/^\+/, ''),
            dest_addr_ton: 1,
            dest_addr_npi: 1,
            source_addr: 'Floor',
            short_message: `Your code is ${code}\n\n@localhost #${code}`,
            registered_delivery: 1,
          },
          () => {
            outstanding--;
            waiting.shift()?.();
            resolve();
          },
        );
      };
      if (outstanding < WINDOW) go();
      else waiting.push(go);
    });
  await sub.consume(QUEUE, (msg) => {
    if (!msg) return;
    const { to, code } = JSON.parse(msg.content.toString()) as { to: string; code: string };
    void submit(to, code).then(() => sub.ack(msg));
  });

  const app = Fastify({ logger: false });
  app.post('/floor/codes', async (request, reply) => {
    const { to } = request.body as { to: string };
    const id = randomUUID();
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    await redis.set(`c:${id}`, JSON.stringify({ to, code }), 'PX', 600_000);
    await new Promise<void>((resolve, reject) =>
      pub.publish(EXCHANGE, 'code.requested', Buffer.from(JSON.stringify({ id, to, code })), { persistent: true }, (err) =>
        err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(),
      ),
    );
    return reply.status(201).send({ id, expiresAt: new Date(Date.now() + 600_000).toISOString() });
  });
  await app.listen({ port: Number(process.env['PORT'] ?? 0), host: '127.0.0.1' });
  const address = app.server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : 0}\n`);
  process.on('SIGTERM', () => {
    void app.close().then(async () => {
      await connection.close().catch(() => undefined);
      redis.disconnect();
      process.exit(0);
    });
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`floor server failed: ${String(error)}\n`);
  process.exit(1);
});
