/**
 * `npm start` without infrastructure: all four services in ONE process on
 * embedded stand-ins — PGlite (PostgreSQL in WebAssembly) per service, an
 * in-memory Redis that runs the same Lua scripts (`memory://`), the in-memory
 * AMQP broker behind the same transport (`memory://`), and the notifier's dev
 * inbox carrier that keeps every SMS, e-mail and call — behind the one-origin
 * gateway on PORT (8080). FOR TRYING IT OUT ONLY: nothing survives a restart.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { startGateway, type Upstream } from '@phonegate/gateway';
import { createLogger, splitApiKeyEntry } from '@phonegate/platform';
import { freePort } from '@phonegate/stack';
import { startDevInbox } from './dev-inbox/dev-inbox.server';
import { startEmbeddedDatabase, type EmbeddedDatabase } from './pglite';

// Services are loaded from their builds (a tool may compose services; they may not import each other).
/* eslint-disable @typescript-eslint/no-require-imports */
const identity = require('../../../services/identity/dist/service.js') as typeof import('../../../services/identity/src/service');
const otp = require('../../../services/otp/dist/service.js') as typeof import('../../../services/otp/src/service');
const notifier = require('../../../services/notifier/dist/service.js') as typeof import('../../../services/notifier/src/service');
const delivery = require('../../../services/delivery-otp/dist/service.js') as typeof import('../../../services/delivery-otp/src/service');
/* eslint-enable @typescript-eslint/no-require-imports */

const WARNING = 'EMBEDDED MODE: in-memory stand-ins, dev keys, nothing persists. NOT FOR PRODUCTION.';

async function main(): Promise<void> {
  const port = Number(process.env['PORT'] ?? 8080);
  // Loopback only unless asked: the dev inbox shows every code and the key `dev` holds every scope.
  const host = process.env['EMBEDDED_HOST'] ?? '127.0.0.1';
  const level = process.env['LOG_LEVEL'] ?? 'info';
  const logger = createLogger({ service: 'embedded', level });
  logger.warn(WARNING);
  // Before the services take their ten seconds to start: a port in use otherwise ended in the
  // gateway's unhandled EADDRINUSE stack trace, with no word on how to choose another.
  const taken = await portProblem(port, host);
  if (taken) {
    logger.fatal({ port, reason: taken }, `port ${port} is not available (${taken}): stop what holds it, or choose another port: PORT=9090 npm start`);
    logger.flush?.();
    setTimeout(() => process.exit(1), 50);
    return;
  }

  const started = Date.now();
  const names: Upstream[] = ['identity', 'otp', 'notifier', 'delivery-otp'];
  const databases = Object.fromEntries(
    await Promise.all(names.map(async (n) => [n, await startEmbeddedDatabase(n)] as const)),
  ) as Record<Upstream, EmbeddedDatabase>;
  const ports = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await freePort()] as const))) as Record<Upstream, number>;

  const common = {
    NODE_ENV: 'development',
    LOG_LEVEL: level,
    HOST: '127.0.0.1',
    REDIS_URL: 'memory://',
    RABBITMQ_URL: 'memory://embedded',
    ...(process.env['API_KEYS'] ? { API_KEYS: process.env['API_KEYS'] } : {}),
  };
  const envOf = (name: Upstream, extra: Record<string, string>): NodeJS.ProcessEnv => ({
    ...common,
    PORT: String(ports[name]),
    DATABASE_URL: databases[name].url,
    // PGlite is single-session: one connection per service.
    DATABASE_POOL_SIZE: '1',
    REDIS_KEY_PREFIX: `${name}:`,
    ...extra,
  });
  const publicUrl = `http://localhost:${port}`;
  const inboxCarrier = JSON.stringify([{ id: 'dev-inbox', type: 'dev-inbox', channels: ['sms', 'voice', 'email'] }]);

  const apps: NestFastifyApplication[] = [];
  // otp first: identity's first requests call it over the bus.
  apps.push(await otp.startOtpService(envOf('otp', { OTP_PUBLIC_BASE_URL: publicUrl, OTP_ORIGIN_HOST: 'localhost' }), { handleSignals: false }));
  const runningNotifier = await notifier.startNotifierService(
    envOf('notifier', {
      NOTIFIER_DB_POOL_SIZE: '1',
      CARRIERS: inboxCarrier,
      SMS_CARRIERS: 'dev-inbox',
      VOICE_CARRIERS: 'dev-inbox',
      EMAIL_CARRIERS: 'dev-inbox',
      NOTIFIER_ORIGIN_HOST: 'localhost',
      RECEIPT_CALLBACK_BASE_URL: publicUrl,
    }),
    { handleSignals: false },
  );
  apps.push(runningNotifier.app);
  apps.push(await identity.startIdentityService(envOf('identity', {}), { handleSignals: false }));
  apps.push(await delivery.startDeliveryOtpService(envOf('delivery-otp', {}), { handleSignals: false }));

  const upstreams = Object.fromEntries(names.map((n) => [n, `http://127.0.0.1:${ports[n]}`])) as Record<Upstream, string>;
  const inbox = runningNotifier.carriers.stack.inbox();
  if (!inbox) throw new Error('the dev inbox carrier is not configured');
  const devInbox = await startDevInbox({
    source: inbox,
    logger,
    messageStatus: async (messageId: string) => {
      const res = await fetch(`${upstreams.notifier}/v1/messages/${encodeURIComponent(messageId)}`, {
        headers: { authorization: `Bearer ${devKey()}` },
      });
      return res.ok ? ((await res.json()) as never) : undefined;
    },
  });
  const health = await startHealth(upstreams);
  const gateway = await startGateway({
    port,
    host,
    upstreams,
    extra: [
      { prefix: '/dev', target: devInbox.url },
      { prefix: '/health', target: health.url },
    ],
  });

  const lines = [
    '',
    `  ${WARNING}`,
    '',
    `  phonegate (embedded) is up in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    `  API, every route:   ${publicUrl}/v1/...   (Authorization: Bearer ${devKey()} holds every scope)`,
    `  dev inbox:          ${publicUrl}/dev/inbox`,
    `  health:             ${publicUrl}/health`,
    ...names.map((n) => `  ${`${n} docs:`.padEnd(19)} ${upstreams[n]}/docs`),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (!['127.0.0.1', 'localhost', '::1'].includes(host)) {
    logger.warn({ host }, 'EMBEDDED_HOST opens the embedded mode beyond this machine: anyone who reaches it reads every code in the dev inbox');
  }
  if (!process.env['API_KEYS']) logger.warn({ key: 'dev' }, 'no API_KEYS configured: the key "dev" holds every scope');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    await gateway.close();
    await devInbox.close();
    await new Promise((r) => health.server.close(r));
    for (const app of apps.reverse()) await app.close().catch((err: unknown) => logger.warn({ err }, 'close failed'));
    for (const db of Object.values(databases)) await db.close().catch(() => undefined);
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

/** Why the gateway could not listen on `host`:`port`: `EADDRINUSE`, `EACCES`…; undefined when it can. */
function portProblem(port: number, host: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const probe = http.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    probe.listen(port, host, () => probe.close(() => resolve(undefined)));
  });
}

function devKey(): string {
  const first = process.env['API_KEYS']?.split(',')[0]?.trim();
  if (!first) return 'dev';
  try {
    return splitApiKeyEntry(first).key;
  } catch {
    return 'dev';
  }
}

/** `/health`: each service's readiness, and loudly that this is not for production. */
async function startHealth(upstreams: Record<Upstream, string>): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer((_req, res) => {
    void (async () => {
      const services: Record<string, string> = {};
      for (const [name, url] of Object.entries(upstreams)) {
        try {
          const r = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(2_000) });
          services[name] = r.ok ? 'up' : 'down';
        } catch {
          services[name] = 'down';
        }
      }
      const ok = Object.values(services).every((s) => s === 'up');
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: ok ? 'ok' : 'degraded', mode: 'embedded', production: false, warning: WARNING, services }));
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

main().catch((error: unknown) => {
  createLogger({ service: 'embedded' }).fatal({ err: error }, 'embedded mode failed to start');
  setTimeout(() => process.exit(1), 50);
});
