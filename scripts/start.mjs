#!/usr/bin/env node
// `npm start`: builds, then runs the platform.
//  - With RABBITMQ_URL, REDIS_URL and DATABASE_URL set: the real stack — the
//    four services as separate processes, the carrier simulator, and a gateway
//    on PORT (8080) serving every public route from one origin. DATABASE_URL
//    names the server; each service gets its own database on it.
//  - Without them: everything in one process on embedded stand-ins (see
//    tools/embedded), for trying it out. Not for production.
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const build = spawnSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const { RABBITMQ_URL, REDIS_URL, DATABASE_URL } = process.env;

// `npm start` runs this script through a shell; a SIGTERM to npm (a supervisor, `kill`) ends npm
// and the shell without passing the signal on, which left this process and the platform running
// unseen, holding the port. Orphaned (the parent gone), stop as on SIGTERM.
function onOrphaned(stop) {
  const parent = process.ppid;
  if (parent <= 1) return; // started by init or as a container's first process: nothing to watch
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    stop();
  }, 500);
  timer.unref();
}
const port = Number(process.env.PORT ?? 8080);

if (RABBITMQ_URL && REDIS_URL && DATABASE_URL) {
  const { startStack } = require(join(root, 'tools/stack/dist/index.js'));
  const amqp = new URL(RABBITMQ_URL);
  const stack = await startStack({
    namespace: process.env.PHONEGATE_NAMESPACE ?? 'phonegate',
    persistent: true,
    gatewayPort: port,
    pgUrl: DATABASE_URL,
    redisUrl: REDIS_URL,
    amqpBase: `${amqp.protocol}//${amqp.username}:${amqp.password}@${amqp.host}`,
  });
  const lines = [
    'phonegate is running on the real stack',
    `  API (every route, one origin): ${stack.gatewayUrl}`,
    ...Object.values(stack.services).map((s) => `  ${s.name.padEnd(13)} ${s.url}  (docs: ${s.url}/docs, logs: ${s.logFile})`),
    `  carrier simulator:  ${stack.sim.controlUrl}/_sim/messages`,
    `  API key: ${stack.apiKey} (all scopes; set API_KEYS for real keys)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const stop = async () => {
    await stack.stop();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  onOrphaned(() => void stop());
} else {
  // Some of the three set is a half-configured real stack, not a wish for the embedded mode: say so.
  const infra = { RABBITMQ_URL, REDIS_URL, DATABASE_URL };
  const set = Object.keys(infra).filter((k) => infra[k]);
  if (set.length > 0) {
    const missing = Object.keys(infra).filter((k) => !infra[k]);
    process.stderr.write(
      `npm start: ${set.join(' and ')} ${set.length === 1 ? 'is' : 'are'} set but ${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} not: ` +
        `running the EMBEDDED mode, which uses none of them; set all three for the real stack\n`,
    );
  }
  const embedded = join(root, 'tools/embedded/dist/main.js');
  const child = spawn(process.execPath, ['--enable-source-maps', embedded], { cwd: root, stdio: 'inherit', env: process.env });
  // A signal to `npm start` (Ctrl-C, a supervisor's SIGTERM) reaches the platform, which
  // drains and exits; this process then exits with its code. (spawnSync left it orphaned.)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  onOrphaned(() => child.kill('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + (signal === 'SIGKILL' ? 9 : 15) : 1)));
}
