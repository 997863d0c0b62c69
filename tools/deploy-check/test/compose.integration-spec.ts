import { existsSync } from 'node:fs';
import { resolvedCompose } from './support/deployed-env.reader';
import { composeDurationMs, shutdownBoundMs } from './support/service-shutdown.reader';
import { SERVICES, repoPath, requireTool, run } from './support/tools.helper';

interface ComposeService {
  image?: string;
  build?: { context: string; args?: Record<string, string> };
  environment?: Record<string, string | null>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] | string };
  volumes?: (string | { type: string; source: string; target: string; read_only?: boolean })[];
  command?: string[] | string;
  ports?: (string | { published: string | number; target: number; host_ip?: string })[];
  read_only?: boolean;
  tmpfs?: string[] | string;
  cap_drop?: string[];
  stop_grace_period?: string;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

function bindSources(
  service: ComposeService,
): { source: string; target: string; readOnly: boolean }[] {
  return (service.volumes ?? []).flatMap((v) => {
    if (typeof v === 'string') {
      const [source = '', target = '', mode] = v.split(':');
      return source.startsWith('/') || source.startsWith('.')
        ? [{ source, target, readOnly: mode === 'ro' }]
        : [];
    }
    return v.type === 'bind'
      ? [{ source: v.source, target: v.target, readOnly: v.read_only === true }]
      : [];
  });
}

describe('docker-compose.yml', () => {
  let compose: ComposeFile;

  beforeAll(async () => {
    compose = await resolvedCompose<ComposeFile>();
  });

  it('is valid for docker-compose (`docker-compose config -q` exits 0)', async () => {
    const result = await run(requireTool('docker-compose'), [
      '-f',
      'docker-compose.yml',
      'config',
      '-q',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('runs the infrastructure, the four services, the carrier simulator and the gateway', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      [
        'carrier-sim',
        'delivery-otp',
        'gateway',
        'identity',
        'notifier',
        'otp',
        'postgres',
        'rabbitmq',
        'redis',
      ].sort(),
    );
  });

  it('runs RabbitMQ 3.13 with the management UI and loads the definitions and config', () => {
    const rabbit = compose.services['rabbitmq']!;
    expect(rabbit.image).toBe('rabbitmq:3.13-management');
    const mounts = bindSources(rabbit);
    expect(mounts).toEqual(
      expect.arrayContaining([
        {
          source: repoPath('deploy/rabbitmq/definitions.json'),
          target: '/etc/rabbitmq/definitions.json',
          readOnly: true,
        },
        {
          source: repoPath('deploy/rabbitmq/rabbitmq.conf'),
          target: '/etc/rabbitmq/conf.d/20-phonegate.conf',
          readOnly: true,
        },
      ]),
    );
    expect(rabbit.healthcheck).toBeDefined();
  });

  it('runs Redis with append-only persistence and without eviction', () => {
    const redis = compose.services['redis']!;
    const command = Array.isArray(redis.command) ? redis.command.join(' ') : String(redis.command);
    expect(command).toMatch(/--appendonly yes/);
    expect(command).toMatch(/--maxmemory-policy noeviction/);
    expect(
      redis.volumes?.some((v) =>
        typeof v === 'string'
          ? v.endsWith(':/data') || v.includes(':/data:')
          : v.target === '/data',
      ),
    ).toBe(true);
  });

  it('runs PostgreSQL 16 with the init script that creates the four databases', () => {
    const pg = compose.services['postgres']!;
    expect(pg.image).toMatch(/^postgres:16(\.|-|$)/);
    expect(bindSources(pg)).toContainEqual({
      source: repoPath('deploy/postgres/init-databases.sql'),
      target: '/docker-entrypoint-initdb.d/10-phonegate.sql',
      readOnly: true,
    });
  });

  it('builds every service from the one Dockerfile with its SERVICE, and starts it only once the infrastructure is healthy', () => {
    for (const { name } of SERVICES) {
      const service = compose.services[name]!;
      expect(service.build?.context).toBe(repoPath());
      expect(service.build?.args).toEqual({ SERVICE: name });
      for (const dependency of ['rabbitmq', 'redis', 'postgres']) {
        expect(service.depends_on?.[dependency]).toEqual({ condition: 'service_healthy' });
      }
      expect(service.read_only).toBe(true);
      expect(service.cap_drop).toEqual(['ALL']);
    }
    expect(compose.services['notifier']!.depends_on?.['carrier-sim']).toEqual({
      condition: 'service_healthy',
    });
  });

  it('waits for each service to drain before SIGKILL (stop_grace_period ≥ its shutdown bound)', () => {
    for (const { name } of SERVICES) {
      // Docker's default is 10 s.
      const grace = composeDurationMs(compose.services[name]?.stop_grace_period ?? '10s');
      expect({ name, grace: grace >= shutdownBoundMs(name) }).toEqual({ name, grace: true });
    }
  });

  it('gives each service its own port and its own database', () => {
    for (const { name, port, database } of SERVICES) {
      const env = compose.services[name]!.environment ?? {};
      expect(env['PORT']).toBe(String(port));
      expect(env['DATABASE_URL']).toBe(
        `postgres://${database}:${database}@postgres:5432/${database}`,
      );
      expect(env['RABBITMQ_URL']).toBe('amqp://phonegate:phonegate@rabbitmq:5672');
      expect(env['REDIS_URL']).toBe('redis://redis:6379');
    }
  });

  it('gives every key ring 32-byte keys, and each service only the key rings it reads', () => {
    const rings: Record<string, string[]> = {
      identity: ['BUS_ENCRYPTION_KEYS', 'JWT_KEYS'],
      otp: ['BUS_ENCRYPTION_KEYS', 'CODE_HMAC_KEYS', 'OTP_SECRET_KEYS'],
      notifier: ['BUS_ENCRYPTION_KEYS', 'NOTIFIER_DESTINATION_HASH_KEYS'],
      'delivery-otp': ['BUS_ENCRYPTION_KEYS', 'CODE_HMAC_KEYS', 'DELIVERY_CODE_KEYS'],
    };
    for (const { name } of SERVICES) {
      const env = compose.services[name]!.environment ?? {};
      expect(
        Object.keys(env)
          .filter((k) => k.endsWith('_KEYS') && k !== 'API_KEYS')
          .sort(),
      ).toEqual([...rings[name]!].sort());
      for (const ring of rings[name]!) {
        for (const part of String(env[ring]).split(',')) {
          expect(part).toMatch(/^[A-Za-z0-9_-]{1,16}:[A-Za-z0-9+/]+={0,2}$/);
          expect(Buffer.from(part.split(':')[1]!, 'base64')).toHaveLength(32);
        }
      }
    }
  });

  it('shares the bus encryption keys between all services (they read each other’s events)', () => {
    const keys = new Set(
      SERVICES.map(({ name }) => compose.services[name]!.environment?.['BUS_ENCRYPTION_KEYS']),
    );
    expect(keys.size).toBe(1);
    const [first] = [...keys];
    expect(first).toMatch(
      /^[A-Za-z0-9_-]+:[A-Za-z0-9+/]+={0,2}(,[A-Za-z0-9_-]+:[A-Za-z0-9+/]+={0,2})*$/,
    );
    for (const part of String(first).split(',')) {
      expect(Buffer.from(part.split(':')[1]!, 'base64')).toHaveLength(32);
    }
  });

  it('points the notifier at the carrier simulator with valid carrier JSON', () => {
    const env = compose.services['notifier']!.environment ?? {};
    const carriers = JSON.parse(String(env['CARRIERS'])) as {
      id: string;
      type: string;
      channels: string[];
    }[];
    const names = carriers.map((c) => c.id);
    for (const list of ['SMS_CARRIERS', 'VOICE_CARRIERS', 'EMAIL_CARRIERS']) {
      const ids = String(env[list]).split(',');
      expect(ids.length).toBeGreaterThan(0);
      for (const id of ids) expect(names).toContain(id);
    }
    // The simulator posts delivery receipts from inside the compose network.
    expect(env['RECEIPT_CALLBACK_BASE_URL']).toBe('http://notifier:3003');
    const sim = compose.services['carrier-sim']!;
    expect(sim.build?.args).toEqual({ SERVICE: 'carrier-sim' });
    expect(sim.environment?.['SIM_HOST']).toBe('0.0.0.0');
    expect(JSON.stringify(sim.healthcheck?.test)).toContain('http://127.0.0.1:4000/_sim/health');
  });

  it('fronts the services with the nginx gateway, started once all four are healthy', () => {
    const gateway = compose.services['gateway']!;
    expect(bindSources(gateway)).toContainEqual({
      source: repoPath('deploy/nginx/nginx.conf'),
      target: '/etc/nginx/nginx.conf',
      readOnly: true,
    });
    for (const { name } of SERVICES)
      expect(gateway.depends_on?.[name]).toEqual({ condition: 'service_healthy' });
    expect(JSON.stringify(gateway.ports)).toContain('8080');
    expect(gateway.healthcheck).toBeDefined();
  });

  it('publishes the management UIs on the loopback interface only', () => {
    for (const name of ['rabbitmq', 'carrier-sim']) {
      for (const port of compose.services[name]!.ports ?? []) {
        const hostIp = typeof port === 'string' ? port.split(':')[0] : port.host_ip;
        expect(hostIp).toBe('127.0.0.1');
      }
    }
    for (const name of ['postgres', 'redis', ...SERVICES.map((s) => s.name)]) {
      expect(compose.services[name]!.ports ?? []).toEqual([]);
    }
  });

  it('mounts only files that exist in the repository', () => {
    for (const service of Object.values(compose.services)) {
      for (const { source } of bindSources(service)) expect(existsSync(source)).toBe(true);
    }
  });
});
