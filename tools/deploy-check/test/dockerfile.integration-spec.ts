import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RUNTIME_ENV } from '@phonegate/stack';
import { readRepoFile, repoPath, run } from './support/tools.helper';

interface Instruction {
  stage: string;
  op: string;
  args: string;
}

/** Dockerfile instructions (continuations joined, comments dropped), each with the stage it belongs to. */
function parseDockerfile(text: string): Instruction[] {
  const logical = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  let stage = '(global)';
  return logical.map((line) => {
    const [, op = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (op.toUpperCase() === 'FROM') stage = /\bAS\s+(\S+)/i.exec(args)?.[1] ?? args;
    return { stage, op: op.toUpperCase(), args };
  });
}

/** The variables of ENV instructions (`KEY=value` pairs; a value may be double-quoted). */
function envOf(instructions: Instruction[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const i of instructions.filter((x) => x.op === 'ENV'))
    for (const m of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g))
      env.set(m[1]!, m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!);
  return env;
}

describe('Dockerfile', () => {
  const instructions = parseDockerfile(readRepoFile('Dockerfile'));
  const stages = instructions.filter((i) => i.op === 'FROM');
  const runtime = instructions.filter((i) => i.stage === 'runtime');

  it('is multi-stage, every stage on the same slim Node 20/22 image', () => {
    expect(stages.map((s) => s.args.split(/\s+AS\s+/i)[1])).toEqual([
      'manifests',
      'build',
      'prod-deps',
      'runtime',
    ]);
    const baseArg = instructions.find((i) => i.op === 'ARG' && i.args.startsWith('NODE_IMAGE='));
    expect(baseArg?.args).toMatch(/^NODE_IMAGE=node:(20|22)[\w.-]*-slim$/);
    for (const stage of stages) expect(stage.args).toMatch(/^\$\{NODE_IMAGE\}\s+AS\s+/);
  });

  it('builds with npm ci and npm run build, and installs only production dependencies for the runtime', () => {
    const build = instructions
      .filter((i) => i.stage === 'build' && i.op === 'RUN')
      .map((i) => i.args);
    expect(build.some((a) => /\bnpm ci\b/.test(a) && !/--omit=dev/.test(a))).toBe(true);
    expect(build.some((a) => /\bnpm run build\b/.test(a))).toBe(true);
    const prod = instructions
      .filter((i) => i.stage === 'prod-deps' && i.op === 'RUN')
      .map((i) => i.args);
    expect(prod.some((a) => /\bnpm ci\b.*--omit=dev/.test(a))).toBe(true);
    const copies = runtime.filter((i) => i.op === 'COPY').map((i) => i.args);
    expect(copies).toContain('--from=prod-deps /app/node_modules ./node_modules');
    expect(copies.some((a) => a.startsWith('--from=build ') && !a.includes('node_modules'))).toBe(
      true,
    );
  });

  it('runs as a numeric non-root user, selects the program with ARG/ENV SERVICE, and checks /health/ready', () => {
    const user = runtime.filter((i) => i.op === 'USER').at(-1);
    expect(user?.args).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/);
    expect(runtime.some((i) => i.op === 'ARG' && /^SERVICE(=|$)/.test(i.args))).toBe(true);
    expect(runtime.some((i) => i.op === 'ENV' && /SERVICE=\$\{SERVICE\}/.test(i.args))).toBe(true);
    const health = runtime.find((i) => i.op === 'HEALTHCHECK');
    expect(health?.args).toContain('/app/deploy/docker/healthcheck.cjs');
    expect(readRepoFile('deploy/docker/healthcheck.cjs')).toContain('/health/ready');
    const cmd = runtime.find((i) => i.op === 'CMD');
    // No --enable-source-maps: it keeps every loaded module's source map (12 MB of heap each).
    expect(JSON.parse(cmd!.args) as string[]).toEqual(['node', '/app/deploy/docker/launch.cjs']);
  });

  it('runs every program with the memory settings the stack uses (tools/stack/src/runtime.ts)', () => {
    const env = envOf(runtime);
    for (const [name, value] of Object.entries(RUNTIME_ENV))
      expect([name, env.get(name)]).toEqual([name, value]);
  });

  it('keeps node_modules, build output, git data and secrets out of the build context', () => {
    const ignored = readRepoFile('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const pattern of ['.git', '**/node_modules', '**/dist', '.env', '.env.*'])
      expect(ignored).toContain(pattern);
    // The runtime stage copies these from the context, so they must not be ignored.
    expect(ignored).toContain('!deploy/docker');
  });
});

describe('deploy/docker/launch.cjs', () => {
  let root: string;

  beforeAll(() => {
    // The image layout: /app/deploy/docker/launch.cjs and /app/<package>/dist/main.js.
    root = mkdtempSync(join(tmpdir(), 'launch-'));
    mkdirSync(join(root, 'deploy', 'docker'), { recursive: true });
    copyFileSync(
      repoPath('deploy/docker/launch.cjs'),
      join(root, 'deploy', 'docker', 'launch.cjs'),
    );
    mkdirSync(join(root, 'services', 'otp', 'dist'), { recursive: true });
    writeFileSync(
      join(root, 'services', 'otp', 'dist', 'main.js'),
      "process.stdout.write('otp main ran as ' + process.env.SERVICE);\n",
    );
    mkdirSync(join(root, 'tools', 'carrier-sim', 'dist'), { recursive: true });
    writeFileSync(
      join(root, 'tools', 'carrier-sim', 'dist', 'main.js'),
      "process.stdout.write('carrier-sim main ran');\n",
    );
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const launch = (service: string | undefined) => {
    const env = { ...process.env };
    delete env['SERVICE'];
    if (service !== undefined) env['SERVICE'] = service;
    return run(process.execPath, [join(root, 'deploy', 'docker', 'launch.cjs')], {
      env,
      cwd: root,
    });
  };

  it('runs the selected service’s dist/main.js', async () => {
    await expect(launch('otp')).resolves.toMatchObject({ code: 0, stdout: 'otp main ran as otp' });
  });

  it('runs the carrier simulator from tools/', async () => {
    await expect(launch('carrier-sim')).resolves.toMatchObject({
      code: 0,
      stdout: 'carrier-sim main ran',
    });
  });

  it('refuses an unknown or missing SERVICE with a JSON log line', async () => {
    for (const service of ['../../etc/passwd', 'gateway', undefined]) {
      const result = await launch(service);
      expect(result.code).toBe(64);
      expect(JSON.parse(result.stderr.trim())).toMatchObject({
        level: 'fatal',
        allowed: ['identity', 'otp', 'notifier', 'delivery-otp', 'carrier-sim'],
      });
    }
  });

  it('says so when the image was not built', async () => {
    const result = await launch('identity');
    expect(result.code).toBe(66);
    expect(result.stderr).toContain('entry point missing');
  });
});

describe('deploy/docker/healthcheck.cjs', () => {
  let server: Server;
  let port: number;
  let status = 200;
  let delayMs = 0;
  const paths: string[] = [];
  const pending = new Set<NodeJS.Timeout>();

  beforeAll(async () => {
    server = createServer((req, res) => {
      paths.push(req.url ?? '');
      const timer = setTimeout(() => {
        pending.delete(timer);
        res.statusCode = status;
        res.end('{}');
      }, delayMs);
      pending.add(timer);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const timer of pending) clearTimeout(timer);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const check = (args: string[] = []) =>
    run(process.execPath, [repoPath('deploy/docker/healthcheck.cjs'), ...args], {
      env: { ...process.env, PORT: String(port) },
      timeoutMs: 10_000,
    });

  it('passes when /health/ready on $PORT answers 200', async () => {
    status = 200;
    await expect(check()).resolves.toMatchObject({ code: 0 });
    expect(paths.at(-1)).toBe('/health/ready');
  });

  it('fails when the service is not ready (503)', async () => {
    status = 503;
    await expect(check()).resolves.toMatchObject({ code: 1 });
  });

  it('fails when nothing listens', async () => {
    await expect(check(['http://127.0.0.1:1/health/ready'])).resolves.toMatchObject({ code: 1 });
  });

  it('fails after 3 s when the service hangs', async () => {
    status = 200;
    delayMs = 5_000;
    const started = Date.now();
    await expect(check()).resolves.toMatchObject({ code: 1 });
    expect(Date.now() - started).toBeLessThan(4_500);
    delayMs = 0;
  });

  it('checks another URL when given one (the carrier simulator)', async () => {
    status = 200;
    await expect(check([`http://127.0.0.1:${port}/_sim/messages?limit=1`])).resolves.toMatchObject({
      code: 0,
    });
    expect(paths.at(-1)).toBe('/_sim/messages?limit=1');
  });
});
