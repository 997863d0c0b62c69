import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ChannelModel, connect } from 'amqplib';
import { eventContractOf, priority } from '@phonegate/contracts';
import { retryPolicy } from '@phonegate/messaging/backoff';
import { declareEventQueue, eventQueueArguments } from '@phonegate/messaging/topology';
import { TEST_INFRA, uniqueName } from '@phonegate/platform/testing';
import { eventually, readRepoFile, run } from './support/tools.helper';

interface Definitions {
  users: { name: string; password_hash: string; hashing_algorithm: string; tags: string[] }[];
  vhosts: { name: string }[];
  permissions: { user: string; vhost: string; configure: string; write: string; read: string }[];
  exchanges: {
    name: string;
    vhost: string;
    type: string;
    durable: boolean;
    auto_delete: boolean;
    internal: boolean;
  }[];
  queues: {
    name: string;
    vhost: string;
    durable: boolean;
    auto_delete: boolean;
    arguments: Record<string, unknown>;
  }[];
  bindings: {
    source: string;
    vhost: string;
    destination: string;
    destination_type: string;
    routing_key: string;
  }[];
  policies: {
    vhost: string;
    name: string;
    pattern: string;
    'apply-to': string;
    priority: number;
    definition: Record<string, unknown>;
  }[];
  [key: string]: unknown;
}

/** The queues the issue names, which exist before any consumer has started (deploy/k8s scales on them). */
const WORK_QUEUES = [
  'notifier.critical',
  'notifier.standard',
  'notifier.bulk',
  'delivery-otp.events',
];
/** What RabbitMqServer (libs/messaging) declares by default; the definitions must agree or the service gets a 406 at start. */
const LIB_DEFAULTS = {
  exchange: 'phonegate.events',
  queueType: 'quorum' as const,
  deliveryLimit: 20,
};

const definitions = JSON.parse(readRepoFile('deploy/rabbitmq/definitions.json')) as Definitions;

describe('deploy/rabbitmq/definitions.json', () => {
  it('declares the durable topic exchange of domain events and the request-reply exchange', () => {
    expect(definitions.exchanges).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          name: 'phonegate.events',
          vhost: '/',
          type: 'topic',
          durable: true,
          auto_delete: false,
          internal: false,
        }),
        expect.objectContaining({
          name: 'phonegate.rpc',
          vhost: '/',
          type: 'direct',
          durable: true,
          auto_delete: false,
        }),
      ]),
    );
  });

  it('declares each work queue as a durable quorum queue with x-delivery-limit, with the arguments libs/messaging declares', () => {
    for (const name of WORK_QUEUES) {
      const expected = eventQueueArguments({
        ...LIB_DEFAULTS,
        queue: name,
        bindings: [],
        retry: retryPolicy(),
      });
      const queue = definitions.queues.find((q) => q.name === name);
      expect(queue).toMatchObject({ vhost: '/', durable: true, auto_delete: false });
      expect(queue?.arguments).toEqual(expected.main);
      expect(queue?.arguments['x-queue-type']).toBe('quorum');
      expect(queue?.arguments['x-delivery-limit']).toEqual(expect.any(Number));
      const dlq = definitions.queues.find((q) => q.name === `${name}.dlq`);
      expect(dlq).toMatchObject({
        vhost: '/',
        durable: true,
        auto_delete: false,
        arguments: expected.dlq,
      });
    }
    // Nothing else: the services declare their other queues (and the retry tiers) themselves.
    expect(definitions.queues.map((q) => q.name).sort()).toEqual(
      [...WORK_QUEUES, ...WORK_QUEUES.map((q) => `${q}.dlq`)].sort(),
    );
  });

  it('binds only event types of the contracts catalogue (notification requests with their priority)', () => {
    for (const binding of definitions.bindings) {
      expect(binding).toMatchObject({
        source: 'phonegate.events',
        vhost: '/',
        destination_type: 'queue',
      });
      const key = binding.routing_key;
      const requested = /^(notification\.requested\.v1)\.([a-z]+)$/.exec(key);
      if (requested) {
        expect(priority.options).toContain(requested[2]);
        expect(binding.destination).toBe(`notifier.${requested[2]}`);
      } else {
        expect(eventContractOf(key)?.type).toBe(key);
      }
    }
    const bound = (queue: string) =>
      definitions.bindings
        .filter((b) => b.destination === queue)
        .map((b) => b.routing_key)
        .sort();
    for (const p of priority.options)
      expect(bound(`notifier.${p}`)).toEqual([`notification.requested.v1.${p}`]);
    expect(bound('delivery-otp.events')).toEqual([
      'shipment.cancelled.v1',
      'shipment.out_for_delivery.v1',
      'shipment.rescheduled.v1',
    ]);
  });

  it('limits deliveries of every work queue and the length of every dead-letter queue by policy', () => {
    const policy = (name: string) => {
      const matching = definitions.policies
        .filter((p) => new RegExp(p.pattern).test(name))
        .sort((a, b) => b.priority - a.priority);
      return matching[0];
    };
    for (const name of WORK_QUEUES) {
      expect(policy(name)?.definition).toMatchObject({ 'delivery-limit': expect.any(Number) });
      expect(policy(`${name}.dlq`)?.definition).toMatchObject({
        'max-length': expect.any(Number),
        'max-length-bytes': expect.any(Number),
        overflow: 'reject-publish',
      });
      // Retry tiers keep their own TTL arguments and get no policy of ours.
      expect(policy(`${name}.retry.1`)).toBeUndefined();
    }
    // "queues", not "quorum_queues": RabbitMQ 3.10 (the project's machines) knows no other value.
    for (const p of definitions.policies) expect(p['apply-to']).toBe('queues');
  });

  it('has the `phonegate` user that docker-compose.yml connects with, and no guest', () => {
    const user = definitions.users.find((u) => u.name === 'phonegate');
    expect(user?.hashing_algorithm).toBe('rabbit_password_hashing_sha256');
    const raw = Buffer.from(user!.password_hash, 'base64');
    const salt = raw.subarray(0, 4);
    const digest = createHash('sha256')
      .update(Buffer.concat([salt, Buffer.from('phonegate')]))
      .digest();
    expect(raw.subarray(4).equals(digest)).toBe(true);
    expect(definitions.users.map((u) => u.name)).not.toContain('guest');
    expect(definitions.permissions).toContainEqual({
      user: 'phonegate',
      vhost: '/',
      configure: '.*',
      write: '.*',
      read: '.*',
    });
    expect(readRepoFile('docker-compose.yml')).toContain(
      'RABBITMQ_URL: amqp://phonegate:phonegate@rabbitmq:5672',
    );
  });
});

describe('the definitions imported into a real RabbitMQ', () => {
  const vhost = uniqueName('t_deploy');
  let dir: string;
  let connection: ChannelModel;

  const listQueues = async (): Promise<Map<string, { type: string; policy: string }>> => {
    const result = await run('rabbitmqctl', [
      '-q',
      'list_queues',
      '-p',
      vhost,
      'name',
      'type',
      'policy',
      '--no-table-headers',
    ]);
    if (result.code !== 0) throw new Error(result.stderr);
    const rows = result.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t'));
    return new Map(rows.map(([name = '', type = '', policy = '']) => [name, { type, policy }]));
  };

  beforeAll(async () => {
    // The same file, moved to a private vhost and without its user (the test connects as guest).
    const text = JSON.stringify({
      ...definitions,
      users: [],
      permissions: [],
      vhosts: [{ name: vhost }],
    });
    const moved = JSON.parse(
      text.replaceAll('"vhost":"/"', `"vhost":${JSON.stringify(vhost)}`),
    ) as Definitions;
    moved.permissions = [{ user: 'guest', vhost, configure: '.*', write: '.*', read: '.*' }];
    dir = mkdtempSync(join(tmpdir(), 'definitions-'));
    chmodSync(dir, 0o755); // rabbitmqctl may run as the rabbitmq user
    const file = join(dir, 'definitions.json');
    writeFileSync(file, JSON.stringify(moved), { mode: 0o644 });
    const imported = await run('rabbitmqctl', ['-q', 'import_definitions', file], {
      timeoutMs: 60_000,
    });
    if (imported.code !== 0) throw new Error(`import_definitions failed: ${imported.stderr}`);
    await eventually(
      async () => {
        const queues = await listQueues();
        return definitions.queues.every((q) => queues.get(q.name)?.policy);
      },
      20_000,
      250,
    );
    connection = await connect(`${TEST_INFRA.amqpBase}/${encodeURIComponent(vhost)}`);
  }, 60_000);

  afterAll(async () => {
    await connection?.close().catch(() => undefined);
    await run('rabbitmqctl', ['-q', 'delete_vhost', vhost]);
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('creates every queue as a quorum queue under its policy', async () => {
    const queues = await listQueues();
    for (const name of WORK_QUEUES) {
      expect(queues.get(name)).toEqual({ type: 'quorum', policy: 'phonegate-work-queues' });
      expect(queues.get(`${name}.dlq`)).toEqual({
        type: 'quorum',
        policy: 'phonegate-dead-letter-queues',
      });
    }
  });

  it('lets libs/messaging declare its topology over it without a 406 (same arguments)', async () => {
    const ch = await connection.createChannel();
    try {
      for (const queue of WORK_QUEUES) {
        const bindings = definitions.bindings
          .filter((b) => b.destination === queue)
          .map((b) => b.routing_key);
        await declareEventQueue(ch, { ...LIB_DEFAULTS, queue, bindings, retry: retryPolicy() });
      }
    } finally {
      await ch.close();
    }
  }, 20_000);

  it('routes each notification priority to its own queue, and shipment events to delivery-otp', async () => {
    const ch = await connection.createConfirmChannel();
    try {
      const cases: [string, string][] = [
        ['notification.requested.v1.critical', 'notifier.critical'],
        ['notification.requested.v1.standard', 'notifier.standard'],
        ['notification.requested.v1.bulk', 'notifier.bulk'],
        ['shipment.out_for_delivery.v1', 'delivery-otp.events'],
      ];
      for (const [key, queue] of cases) {
        for (const q of WORK_QUEUES) await ch.purgeQueue(q);
        ch.publish('phonegate.events', key, Buffer.from('{}'), { persistent: true });
        await ch.waitForConfirms();
        const counts = await Promise.all(
          WORK_QUEUES.map(async (q) => [q, (await ch.checkQueue(q)).messageCount] as const),
        );
        await eventually(async () => (await ch.checkQueue(queue)).messageCount === 1, 5_000);
        expect(Object.fromEntries(counts.map(([q, n]) => [q, q === queue ? 1 : n]))).toEqual(
          Object.fromEntries(WORK_QUEUES.map((q) => [q, q === queue ? 1 : 0])),
        );
      }
    } finally {
      await ch.close();
    }
  }, 20_000);

  it('dead-letters a rejected code message into notifier.critical.dlq', async () => {
    const ch = await connection.createConfirmChannel();
    try {
      await ch.purgeQueue('notifier.critical');
      await ch.purgeQueue('notifier.critical.dlq');
      ch.publish(
        'phonegate.events',
        'notification.requested.v1.critical',
        Buffer.from('{"poison":true}'),
        { persistent: true },
      );
      await ch.waitForConfirms();
      const message = await eventually(
        async () => ch.get('notifier.critical', { noAck: false }),
        5_000,
      );
      ch.reject(message, false);
      await eventually(
        async () => (await ch.checkQueue('notifier.critical.dlq')).messageCount === 1,
        5_000,
      );
      const parked = await eventually(
        async () => ch.get('notifier.critical.dlq', { noAck: true }),
        5_000,
      );
      expect(parked.content.toString()).toBe('{"poison":true}');
    } finally {
      await ch.close();
    }
  }, 20_000);
});
