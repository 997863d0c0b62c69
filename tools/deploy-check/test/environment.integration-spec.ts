import { renderKustomization } from './support/kustomize.renderer';
import { loaderOf } from './support/service-env.reader';
import { SERVICES, parseYaml, readRepoFile, repoPath } from './support/tools.helper';

/**
 * One environment per service, written down in three places: the compose
 * block, the Kubernetes ConfigMap + Secret, and docs/operations.md. They must
 * name the same variables.
 */

interface Compose {
  services: Record<string, { environment?: Record<string, unknown> }>;
}

const compose = parseYaml<Compose>(readRepoFile('docker-compose.yml'));
const base = renderKustomization(repoPath('deploy/k8s/base'));
const secrets = renderKustomization(repoPath('deploy/k8s/secrets-template'));
const docs = readRepoFile('docs/operations.md');

const dataOf = (objects: typeof base, kind: string, name: string, field: 'data' | 'stringData') =>
  (objects.find((o) => o.kind === kind && o.metadata.name === name)?.[field] ?? {}) as Record<
    string,
    string
  >;

/** Variables holding credentials or keys: Kubernetes Secrets only, never a ConfigMap. */
const SECRET = /^(RABBITMQ_URL|REDIS_URL|DATABASE_URL|CARRIERS)$|_KEYS$/;

describe.each(SERVICES.map((s) => [s.name]))('the environment of %s', (name) => {
  const composeEnv = compose.services[name]?.environment ?? {};
  const config = dataOf(base, 'ConfigMap', `${name}-config`, 'data');
  const secret = dataOf(secrets, 'Secret', `${name}-secrets`, 'stringData');

  it('names the same variables in docker-compose.yml and in its Kubernetes ConfigMap + Secret', () => {
    expect(Object.keys(composeEnv).sort()).toEqual(
      [...Object.keys(config), ...Object.keys(secret)].sort(),
    );
  });

  it('keeps credentials and keys in the Secret, and nothing in both', () => {
    for (const key of Object.keys(config))
      expect({ key, secret: SECRET.test(key) }).toEqual({ key, secret: false });
    for (const key of Object.keys(secret)) expect(Object.keys(config)).not.toContain(key);
  });

  it('agrees on the non-secret values that are not deployment choices', () => {
    expect(config['PORT']).toBe(String(composeEnv['PORT']));
    expect(config['NODE_ENV']).toBe('production');
    expect(composeEnv['NODE_ENV']).toBe('production');
  });

  it('documents every variable in docs/operations.md', () => {
    for (const key of Object.keys(composeEnv))
      expect({ key, documented: docs.includes(`\`${key}\``) }).toEqual({ key, documented: true });
  });
});

describe('the carrier simulator’s environment', () => {
  it('is documented in docs/operations.md', () => {
    for (const key of Object.keys(compose.services['carrier-sim']?.environment ?? {})) {
      expect({ key, documented: docs.includes(`\`${key}\``) }).toEqual({ key, documented: true });
    }
  });
});

/** The Secret template's placeholders made into well-formed values. */
function filled(key: string, value: string): string {
  if (key.endsWith('_KEYS') && key !== 'API_KEYS')
    return `k1:${Buffer.alloc(32, 7).toString('base64')}`;
  if (key === 'API_KEYS') return 'ops-key:ops,storefront-key:storefront';
  // Carrier credentials (an SMPP password is at most 8 characters).
  if (key === 'CARRIERS') return value.replaceAll('REPLACE_ME', 'secret1');
  return value.replace('REPLACE_ME', 'user:password');
}

/**
 * The real test of an environment: each service's own config loader (the one
 * its main.ts calls) accepts it in production mode, where every key variable
 * is required and no development key is used.
 */
describe.each(SERVICES.map((s) => [s.name]))('%s’s own config loader', (name) => {
  it('accepts the docker-compose.yml environment in production mode', () => {
    const env = Object.fromEntries(
      Object.entries(compose.services[name]?.environment ?? {}).map(([k, v]) => [k, String(v)]),
    );
    // Interpolations take their defaults, as `docker compose up` without a .env does.
    const resolved = Object.fromEntries(
      Object.entries(env).map(([k, v]) => [k, v.replace(/\$\{[A-Z_][A-Z0-9_]*:-([^}]*)\}/g, '$1')]),
    );
    expect(resolved['NODE_ENV']).toBe('production');
    expect(() => loaderOf(name)(resolved)).not.toThrow();
  });

  it('accepts the Kubernetes ConfigMap and the Secret template (filled in) in production mode', () => {
    const config = dataOf(base, 'ConfigMap', `${name}-config`, 'data');
    const secret = dataOf(secrets, 'Secret', `${name}-secrets`, 'stringData');
    const env = {
      ...config,
      ...Object.fromEntries(Object.entries(secret).map(([k, v]) => [k, filled(k, v)])),
    };
    expect(() => loaderOf(name)(env)).not.toThrow();
  });
});
