import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as amqp from 'amqplib';

const run = promisify(execFile);

export interface BrokerConnection {
  name: string;
  vhost: string;
  connectionName: string | undefined;
  heartbeat: number;
}

/** Connections of one vhost as the broker sees them (name, client connection_name, heartbeat). */
export async function listConnections(vhost: string): Promise<BrokerConnection[]> {
  const { stdout } = await run('rabbitmqctl', [
    '-q',
    'list_connections',
    '--formatter',
    'json',
    'name',
    'vhost',
    'client_properties',
    'timeout',
  ]);
  const rows = JSON.parse(stdout || '[]') as {
    name: string;
    vhost: string;
    client_properties: [string, string, unknown][];
    timeout: number;
  }[];
  return rows
    .filter((r) => r.vhost === vhost)
    .map((r) => ({
      name: r.name,
      vhost: r.vhost,
      connectionName: r.client_properties.find((p) => p[0] === 'connection_name')?.[2] as
        string | undefined,
      heartbeat: r.timeout,
    }));
}

/** Closes (from the broker's side) every connection of `vhost` whose connection_name is `connectionName`. */
export async function closeConnectionsNamed(
  vhost: string,
  connectionName: string,
): Promise<number> {
  // One listing in text form: close_connection wants the pid as text (<rabbit@host.n.n.n>).
  const { stdout } = await run('rabbitmqctl', [
    '-q',
    'list_connections',
    '--no-table-headers',
    'pid',
    'vhost',
    'client_properties',
  ]);
  const pids = stdout
    .split('\n')
    .map((line) => line.split('\t'))
    .filter(
      ([, v, props]) => v === vhost && props?.includes(`{"connection_name","${connectionName}"}`),
    )
    .map(([pid]) => pid as string);
  await Promise.all(
    pids.map((pid) =>
      run('rabbitmqctl', ['-q', 'close_connection', pid, 'test: connection killed']),
    ),
  );
  return pids.length;
}

/** A plain amqplib connection for reading queues raw (what is at rest in the broker). */
export async function rawConnection(url: string): Promise<amqp.ChannelModel> {
  return amqp.connect(url);
}

/** Takes every message of a queue (basic.get, acked), as stored. */
export async function drainQueue(ch: amqp.Channel, queue: string): Promise<amqp.GetMessage[]> {
  const out: amqp.GetMessage[] = [];
  for (;;) {
    const msg = await ch.get(queue, { noAck: true });
    if (!msg) return out;
    out.push(msg);
  }
}

/** Message count of a queue. */
export async function depth(ch: amqp.Channel, queue: string): Promise<number> {
  return (await ch.checkQueue(queue)).messageCount;
}

/** Sum of the message counts of queues, read over a short-lived raw connection. */
export async function depths(url: string, queues: readonly string[]): Promise<number> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    let total = 0;
    for (const q of queues) total += await depth(ch, q);
    return total;
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/**
 * Kills a channel from the broker's side: acking an unknown delivery tag is a
 * channel error (406 PRECONDITION_FAILED), so the broker closes the channel and
 * requeues its unacked messages, exactly as if that consumer had died.
 */
export function killChannel(ch: amqp.Channel): void {
  ch.ack({ fields: { deliveryTag: 987_654_321 } } as amqp.Message);
}
