/**
 * The floor the otp bench compares against: a bare Fastify route that does
 * one Redis write and one confirmed amqplib publish, and nothing else. Run as
 * its own process by bench/otp/run.ts; prints `listening <port>` when ready.
 */
import { randomUUID } from 'node:crypto';
import * as amqp from 'amqplib';
import Fastify from 'fastify';
import { Redis } from 'ioredis';

const PAD = 'x'.repeat(900);

async function main(): Promise<void> {
  const amqpUrl = process.env['RABBITMQ_URL'] as string;
  const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', {
    keyPrefix: process.env['REDIS_KEY_PREFIX'] ?? 'floor:',
  });
  const connection = await amqp.connect(amqpUrl);
  const channel = await connection.createConfirmChannel();
  await channel.assertExchange('phonegate.events', 'topic', { durable: true });
  const publish = (body: Buffer) =>
    new Promise<void>((resolve, reject) => {
      channel.publish(
        'phonegate.events',
        'bench.floor.v1',
        body,
        { persistent: true, mandatory: true, contentType: 'application/json' },
        (err) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()),
      );
    });

  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  app.post('/floor', async (request, reply) => {
    const id = randomUUID();
    await redis.set(`f:${id}`, JSON.stringify(request.body ?? {}), 'PX', 600_000);
    // About the size of a code notification's envelope (~1 KB), so the broker's work per message is alike.
    await publish(Buffer.from(JSON.stringify({ id, at: Date.now(), pad: PAD })));
    return reply.status(201).send({ id });
  });
  await app.listen({ port: Number(process.env['PORT'] ?? 0), host: '127.0.0.1' });
  const address = app.server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : 0}\n`);
  process.on('SIGTERM', () => {
    void (async () => {
      await app.close();
      await channel.close().catch(() => undefined);
      await connection.close().catch(() => undefined);
      redis.disconnect();
      process.exit(0);
    })();
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`floor server failed: ${String(error)}\n`);
  process.exit(1);
});
