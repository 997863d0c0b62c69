import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { startGateway, type RunningGateway, type Upstream } from '@phonegate/gateway';
import { freePort } from './ports';
import { RUNTIME_ENV } from './runtime';

const run = promisify(execFile);
const ROOT = join(__dirname, '../../..');

export const SERVICES: readonly Upstream[] = ['identity', 'otp', 'notifier', 'delivery-otp'];

export interface StackOptions {
  /** Names the vhost, the databases and the Redis prefix of this stack. */
  namespace?: string;
  /** Reuse a fixed layout (npm start) instead of fresh, throw-away names (tests). */
  persistent?: boolean;
  gatewayPort?: number;
  pgUrl?: string;
  redisUrl?: string;
  amqpBase?: string;
  /** Extra environment per service (and `carrier-sim`). */
  env?: Partial<Record<Upstream | 'carrier-sim' | 'all', Record<string, string>>>;
  /** Where each process's output goes (one file each); default: artifacts/stack/<namespace>. */
  logDir?: string;
  /** Services to leave out (a test of one service's outage). */
  without?: Upstream[];
  /**
   * Fields merged into the notifier's `CARRIERS` entry of each simulated carrier (`smpp-a`,
   * `http-b`, `smtp-main`), e.g. `{ 'smpp-a': { ratePerSec: 5000, window: 64 } }` for a load
   * bench. The host, port and credentials stay the simulator's.
   */
  carriers?: Partial<Record<StackCarrier, Record<string, unknown>>>;
  /**
   * Extra Node.js arguments per process (before the script), e.g. `{ otp: ['--cpu-prof',
   * '--cpu-prof-dir=/tmp/prof'] }` (flags NODE_OPTIONS refuses, such as --cpu-prof).
   */
  nodeArgs?: Partial<Record<Upstream | 'carrier-sim' | 'all', string[]>>;
}

/** The notifier's carriers in a stack, all at the simulator. */
export type StackCarrier = 'smpp-a' | 'http-b' | 'smtp-main';

/** One more process of a service beside the first (same settings, its own port). */
export interface ReplicaHandle extends ProcessHandle {
  /** SIGTERM (or another signal); resolves when the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface ProcessHandle {
  name: string;
  port: number;
  url: string;
  child?: ChildProcess;
  logFile: string;
}

export interface Stack {
  namespace: string;
  gatewayUrl: string;
  /** A key with every client scope (storefront, logistics, ops). */
  apiKey: string;
  /** One key per client scope, and `all` (= apiKey); in a persistent stack all are `dev`. */
  keys: Record<'all' | 'storefront' | 'logistics' | 'ops', string>;
  busKeys: string;
  vhost: string;
  amqpUrl: string;
  redisPrefix: string;
  databases: Record<Upstream, string>;
  services: Record<Upstream, ProcessHandle>;
  sim: {
    controlUrl: string;
    smppPort: number;
    httpPort: number;
    smtpPort: number;
    handle: ProcessHandle;
  };
  /** SIGKILL (or another signal) one service. */
  kill(name: Upstream | 'carrier-sim', signal?: NodeJS.Signals): Promise<void>;
  /** Start a stopped service again with the same settings; resolves when ready. */
  start(name: Upstream | 'carrier-sim'): Promise<void>;
  /**
   * Starts one more process of a service with the first one's settings on its own port (the
   * replicas share the queues, the database and Redis); resolves when it is ready. The gateway
   * keeps routing HTTP to the first process. `stop()` stops the replicas too.
   */
  addReplica(name: Upstream): Promise<ReplicaHandle>;
  /** The replicas started with addReplica (stopped ones included), per service. */
  replicas: Record<Upstream, ReplicaHandle[]>;
  stop(): Promise<void>;
}

/** How long a stopping process may take after SIGTERM before it is killed. */
const STOP_GRACE_MS = 15_000;

const DEV_BUS_KEY = `dev1:${Buffer.from('phonegate-dev-bus-key-32-bytes!!').toString('base64')}`;
const DEV_HMAC_KEY = `dev1:${Buffer.from('phonegate-dev-hmac-key-32-bytes!').toString('base64')}`;
const DEV_SECRET_KEY = `dev1:${Buffer.from('phonegate-dev-secret-key-32-byte').toString('base64')}`;

/**
 * Runs the whole platform as separate processes on the real RabbitMQ, Redis and
 * PostgreSQL, with the carrier simulator and the one-origin gateway: what
 * `npm start` runs on the real stack, and what end-to-end tests and benchmarks
 * use (kill and restart a service mid-load).
 */
/** Stacks this process started and has not stopped yet. */
const running = new Set<Stack>();

/**
 * Stops every stack this process started and has not stopped (a scenario interrupted by a
 * signal: its services, simulator, vhost, databases and Redis keys go, as with stop()).
 */
export async function stopStartedStacks(): Promise<void> {
  await Promise.allSettled([...running].map((stack) => stack.stop()));
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const namespace =
    options.namespace ?? `st_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const pgUrl = options.pgUrl ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const amqpBase = options.amqpBase ?? 'amqp://guest:guest@127.0.0.1:5672';
  const redisUrl = options.redisUrl ?? 'redis://127.0.0.1:6379';
  const logDir = options.logDir ?? join(ROOT, 'artifacts', 'stack', namespace);
  mkdirSync(logDir, { recursive: true });

  const vhost = namespace;
  await run('rabbitmqctl', ['-q', 'add_vhost', vhost]).catch(() => undefined);
  await run('rabbitmqctl', ['-q', 'set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*']);
  const amqpUrl = `${amqpBase}/${encodeURIComponent(vhost)}`;

  const databases = {} as Record<Upstream, string>;
  const admin = new Client({ connectionString: pgUrl });
  await admin.connect();
  try {
    for (const service of SERVICES) {
      const db = `${namespace}_${service.replace('-', '_')}`.toLowerCase();
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db]);
      if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${db}"`);
      databases[service] = pgUrl.replace(/\/[^/]*$/, `/${db}`);
    }
  } finally {
    await admin.end();
  }

  const apiKey = options.persistent ? 'dev' : `k_${randomBytes(12).toString('hex')}`;
  const scopedKey = (scope: string) =>
    options.persistent ? apiKey : `k${scope[0]}_${randomBytes(12).toString('hex')}`;
  const keys = {
    all: apiKey,
    storefront: scopedKey('storefront'),
    logistics: scopedKey('logistics'),
    ops: scopedKey('ops'),
  };
  const apiKeys = options.persistent
    ? `${apiKey}:storefront+logistics+ops`
    : [
        `${apiKey}:storefront+logistics+ops`,
        `${keys.storefront}:storefront`,
        `${keys.logistics}:logistics`,
        `${keys.ops}:ops`,
      ].join(',');
  const redisPrefix = `${namespace}:`;
  const simPorts = {
    control: await freePort(),
    smpp: await freePort(),
    http: await freePort(),
    smtp: await freePort(),
  };
  const ports = {} as Record<Upstream, number>;
  for (const s of SERVICES) ports[s] = await freePort();
  const url = (port: number) => `http://127.0.0.1:${port}`;

  const gatewayPort = options.gatewayPort ?? (await freePort());
  const gatewayUrl = url(gatewayPort);

  // The notifier's CARRIERS format (services/notifier/src/carriers/config/carriers.config.ts),
  // pointed at the simulator's default carriers (tools/carrier-sim: smpp-a, http-b, smtp-main).
  const carrierList: { id: StackCarrier; [field: string]: unknown }[] = [
    {
      id: 'smpp-a',
      type: 'smpp',
      channels: ['sms'],
      countries: ['*'],
      host: '127.0.0.1',
      port: simPorts.smpp,
      systemId: 'smpp-a',
      password: 'sim-a',
      ratePerSec: 200,
    },
    {
      id: 'http-b',
      type: 'http',
      channels: ['sms', 'voice'],
      countries: ['*'],
      baseUrl: url(simPorts.http),
      accountSid: 'ACsimb',
      authToken: 'sim-token-b',
      from: '+15005550006',
      ratePerSec: 100,
    },
    // The simulator speaks plain SMTP (no STARTTLS), so TLS is not required.
    {
      id: 'smtp-main',
      type: 'smtp',
      channels: ['email'],
      countries: ['*'],
      host: '127.0.0.1',
      port: simPorts.smtp,
      user: 'sim',
      password: 'sim-smtp',
      requireTls: false,
      from: 'Phonegate <no-reply@phonegate.test>',
    },
  ];
  const carriers = JSON.stringify(
    carrierList.map((c) => ({ ...c, ...options.carriers?.[c.id], id: c.id, type: c.type })),
  );

  const common: Record<string, string> = {
    NODE_ENV: 'development',
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'info',
    RABBITMQ_URL: amqpUrl,
    REDIS_URL: redisUrl,
    API_KEYS: apiKeys,
    BUS_ENCRYPTION_KEYS: DEV_BUS_KEY,
    CODE_HMAC_KEYS: DEV_HMAC_KEY,
    ...options.env?.all,
  };
  const perService: Record<Upstream, Record<string, string>> = {
    identity: { JWT_KEYS: DEV_SECRET_KEY },
    otp: {
      OTP_SECRET_KEYS: DEV_SECRET_KEY,
      OTP_PUBLIC_BASE_URL: gatewayUrl,
      OTP_ORIGIN_HOST: 'localhost',
    },
    notifier: {
      CARRIERS: carriers,
      SMS_CARRIERS: 'smpp-a,http-b',
      VOICE_CARRIERS: 'http-b',
      EMAIL_CARRIERS: 'smtp-main',
      NOTIFIER_DESTINATION_HASH_KEYS: DEV_HMAC_KEY,
      NOTIFIER_ORIGIN_HOST: 'localhost',
      RECEIPT_CALLBACK_BASE_URL: url(ports.notifier),
    },
    'delivery-otp': { DELIVERY_CODE_KEYS: DEV_SECRET_KEY },
  };

  const handles = {} as Record<Upstream, ProcessHandle>;
  const simHandle: ProcessHandle = {
    name: 'carrier-sim',
    port: simPorts.control,
    url: url(simPorts.control),
    logFile: join(logDir, 'carrier-sim.log'),
  };
  const simEnv = {
    SIM_HOST: '127.0.0.1',
    SIM_CONTROL_PORT: String(simPorts.control),
    SIM_SMPP_PORT: String(simPorts.smpp),
    SIM_HTTP_PORT: String(simPorts.http),
    SIM_SMTP_PORT: String(simPorts.smtp),
    ...options.env?.['carrier-sim'],
  };
  const envOf = (name: Upstream): Record<string, string> => ({
    ...common,
    PORT: String(ports[name]),
    DATABASE_URL: databases[name],
    REDIS_KEY_PREFIX: `${redisPrefix}${name}:`,
    ...perService[name],
    ...options.env?.[name],
  });
  for (const s of SERVICES)
    handles[s] = { name: s, port: ports[s], url: url(ports[s]), logFile: join(logDir, `${s}.log`) };

  const streams: WriteStream[] = [];
  // Every process launched, so none outlives the one that started it (an exception, Ctrl-C or
  // process.exit before stop(): left running, the services went on polling and holding ports).
  const launched = new Set<ChildProcess>();
  const killLaunched = () => {
    for (const child of launched)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.on('exit', killLaunched);
  const launch = (handle: ProcessHandle, script: string, env: Record<string, string>) => {
    const out = createWriteStream(handle.logFile, { flags: 'a' });
    streams.push(out);
    const service = handle.name.split('#')[0] as Upstream | 'carrier-sim';
    const extraArgs = [...(options.nodeArgs?.all ?? []), ...(options.nodeArgs?.[service] ?? [])];
    // As the image runs it (RUNTIME_ENV); `env` may override, `nodeArgs` add flags.
    const child = spawn(process.execPath, [...extraArgs, join(ROOT, script)], {
      cwd: ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        TZ: 'UTC',
        ...RUNTIME_ENV,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(out, { end: false });
    child.stderr?.pipe(out, { end: false });
    handle.child = child;
    launched.add(child);
    child.once('exit', () => launched.delete(child));
  };
  const scriptOf = (name: Upstream | 'carrier-sim') =>
    name === 'carrier-sim' ? 'tools/carrier-sim/dist/main.js' : `services/${name}/dist/main.js`;

  const startOne = async (name: Upstream | 'carrier-sim') => {
    if (name === 'carrier-sim') {
      launch(simHandle, scriptOf(name), simEnv);
      await waitFor(`${simHandle.url}/_sim/carriers`, simHandle);
    } else {
      launch(handles[name], scriptOf(name), envOf(name));
      await waitFor(`${handles[name].url}/health/ready`, handles[name]);
    }
  };

  const stopHandle = async (handle: ProcessHandle, signal: NodeJS.Signals) => {
    const child = handle.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    // A process that ignores SIGTERM for too long is killed outright, so stop() always ends.
    const forced = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(forced);
  };
  const kill = (name: Upstream | 'carrier-sim', signal: NodeJS.Signals = 'SIGKILL') =>
    stopHandle(name === 'carrier-sim' ? simHandle : handles[name], signal);

  const replicas = Object.fromEntries(SERVICES.map((s) => [s, []])) as unknown as Record<
    Upstream,
    ReplicaHandle[]
  >;
  const addReplica = async (name: Upstream): Promise<ReplicaHandle> => {
    const port = await freePort();
    const n = replicas[name].length + 2;
    const replica: ReplicaHandle = {
      name: `${name}#${n}`,
      port,
      url: url(port),
      logFile: join(logDir, `${name}-${n}.log`),
      stop: (signal: NodeJS.Signals = 'SIGTERM') => stopHandle(replica, signal),
    };
    replicas[name].push(replica);
    launch(replica, scriptOf(name), { ...envOf(name), PORT: String(port) });
    try {
      await waitFor(`${replica.url}/health/ready`, replica);
    } catch (error) {
      await replica.stop('SIGKILL');
      throw error;
    }
    return replica;
  };
  const dropResources = async () => {
    if (options.persistent) return;
    await run('rabbitmqctl', ['-q', 'delete_vhost', vhost]).catch(() => undefined);
    const c = new Client({ connectionString: pgUrl });
    await c.connect();
    try {
      for (const s of SERVICES)
        await c.query(`DROP DATABASE IF EXISTS "${databases[s].split('/').pop()}" WITH (FORCE)`);
    } finally {
      await c.end();
    }
    const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.unlink(...keys);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  };

  try {
    await startOne('carrier-sim');
  } catch (error) {
    await kill('carrier-sim', 'SIGKILL');
    for (const out of streams) out.end();
    await dropResources();
    throw error;
  }
  const wanted = SERVICES.filter((s) => !options.without?.includes(s));
  // In parallel: no service needs another to become ready (calls between them go over the bus,
  // and every queue is declared before startStack returns).
  const started = await Promise.allSettled(wanted.map((s) => startOne(s)));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all([...wanted.map((s) => kill(s, 'SIGKILL')), kill('carrier-sim', 'SIGKILL')]);
    for (const out of streams) out.end();
    await dropResources();
    throw failed.reason;
  }

  const gateway: RunningGateway = await startGateway({
    port: gatewayPort,
    host: '127.0.0.1',
    upstreams: Object.fromEntries(SERVICES.map((s) => [s, handles[s].url])) as Record<
      Upstream,
      string
    >,
  });

  const stack: Stack = {
    namespace,
    gatewayUrl: url(gateway.port),
    apiKey,
    keys,
    busKeys: DEV_BUS_KEY,
    vhost,
    amqpUrl,
    redisPrefix,
    databases,
    services: handles,
    sim: {
      controlUrl: simHandle.url,
      smppPort: simPorts.smpp,
      httpPort: simPorts.http,
      smtpPort: simPorts.smtp,
      handle: simHandle,
    },
    kill,
    start: startOne,
    addReplica,
    replicas,
    async stop() {
      running.delete(stack);
      await gateway.close();
      // Services first, so none of them sees its carriers vanish while it shuts down.
      await Promise.all([
        ...SERVICES.map((s) => kill(s, 'SIGTERM')),
        ...SERVICES.flatMap((s) => replicas[s].map((r) => r.stop('SIGTERM'))),
      ]);
      await kill('carrier-sim', 'SIGTERM');
      process.off('exit', killLaunched);
      for (const s of streams) s.end();
      await dropResources();
    },
  };
  running.add(stack);
  return stack;
}

async function waitFor(url: string, handle: ProcessHandle, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (handle.child && (handle.child.exitCode !== null || handle.child.signalCode !== null)) {
      throw new Error(
        `${handle.name} exited with ${handle.child.exitCode ?? handle.child.signalCode} during start; see ${handle.logFile}`,
      );
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline)
      throw new Error(
        `${handle.name} not ready at ${url} in ${timeoutMs} ms; see ${handle.logFile}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}
