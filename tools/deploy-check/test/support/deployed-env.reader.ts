import { type K8sObject, containersOf, renderKustomization } from './kustomize.renderer';
import { parseYaml, readRepoFile, repoPath, requireTool, run } from './tools.helper';

/**
 * What each deployment sets in a service's environment, as the deployment tool
 * itself resolves it: `docker-compose config` for docker-compose.yml, the
 * kustomize build of the production overlay (plus the Secret template) for
 * Kubernetes, following the Deployment's `env` and `envFrom`.
 */

/** What this reader needs of a compose file; callers may pass their own richer type. */
export interface ComposeEnvironments {
  services: Record<
    string,
    { environment?: Record<string, string | number | boolean | null> | string[] }
  >;
}

/** The file as docker-compose itself resolves it (anchors merged, variables interpolated with their defaults). */
export async function resolvedCompose<T = ComposeEnvironments>(): Promise<T> {
  const compose = requireTool('docker-compose');
  const env = { ...process.env };
  // Interpolation must come from the file's defaults, not from whoever runs the test.
  for (const [, key] of readRepoFile('docker-compose.yml').matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)) {
    delete env[key!];
  }
  const result = await run(compose, ['-f', 'docker-compose.yml', 'config'], { env });
  if (result.code !== 0 || /error/i.test(result.stderr))
    throw new Error(`docker-compose config failed (${result.code}): ${result.stderr}`);
  return parseYaml<T>(result.stdout);
}

/** One place that sets variables, e.g. a ConfigMap a Deployment takes with envFrom. */
export interface EnvPlace {
  /** Where, in words a failure message can point at. */
  place: string;
  /** Variable → value; null when the place names it without a value. */
  variables: Map<string, string | null>;
}

/** A deployment's view of one service: every place that sets its variables. */
export interface DeployedEnv {
  deployment: string;
  places: EnvPlace[];
  /** Problems found on the way (a reference to a ConfigMap that does not exist, ...). */
  problems: string[];
}

export function valueIn(env: DeployedEnv, name: string): string | null | undefined {
  let value: string | null | undefined;
  for (const p of env.places) if (p.variables.has(name)) value = p.variables.get(name);
  return value;
}

export function composeEnv(compose: ComposeEnvironments, service: string): DeployedEnv {
  const deployment = 'docker-compose.yml';
  const definition = compose.services[service];
  if (!definition)
    return { deployment, places: [], problems: [`docker-compose.yml has no service ${service}`] };
  const raw = definition.environment ?? {};
  const entries: [string, string | null][] = Array.isArray(raw)
    ? raw.map((line) => {
        const at = line.indexOf('=');
        return at < 0 ? [line, null] : [line.slice(0, at), line.slice(at + 1)];
      })
    : Object.entries(raw).map(([k, v]) => [k, v === null ? null : String(v)]);
  return {
    deployment,
    places: [
      {
        place: `docker-compose.yml (services.${service}.environment)`,
        variables: new Map(entries),
      },
    ],
    problems: [],
  };
}

export const K8S_OVERLAY = 'deploy/k8s/overlays/production';
export const K8S_SECRETS = 'deploy/k8s/secrets-template';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}
interface EnvFrom {
  prefix?: string;
  configMapRef?: { name: string };
  secretRef?: { name: string };
}

/** The Kubernetes objects deployed (production overlay) and the Secrets they expect (the template). */
export function renderedKubernetes(): { objects: K8sObject[]; secrets: K8sObject[] } {
  return {
    objects: renderKustomization(repoPath(K8S_OVERLAY)),
    secrets: renderKustomization(repoPath(K8S_SECRETS)),
  };
}

export function kubernetesEnv(
  rendered: { objects: K8sObject[]; secrets: K8sObject[] },
  service: string,
): DeployedEnv {
  const deployment = 'Kubernetes';
  const problems: string[] = [];
  const places: EnvPlace[] = [];
  const workload = rendered.objects.find(
    (o) => o.kind === 'Deployment' && o.metadata.name === service,
  );
  if (!workload)
    return { deployment, places, problems: [`${K8S_OVERLAY} renders no Deployment ${service}`] };
  // The service's container: the one running the service's image (init containers and sidecars aside).
  const main = containersOf(workload).filter((c) =>
    new RegExp(`(^|/)${service}(:|@|$)`).test(c.image),
  );
  if (main.length !== 1)
    return {
      deployment,
      places,
      problems: [`Deployment ${service}: expected one container running the ${service} image`],
    };
  const container = main[0]! as { env?: EnvVar[]; envFrom?: EnvFrom[] };
  const data = (o: K8sObject) => ({
    ...((o['data'] as Record<string, string> | undefined) ?? {}),
    ...((o['stringData'] as Record<string, string> | undefined) ?? {}),
  });
  for (const from of container.envFrom ?? []) {
    const [kind, name, pool, source] = from.configMapRef
      ? (['ConfigMap', from.configMapRef.name, rendered.objects, K8S_OVERLAY] as const)
      : from.secretRef
        ? (['Secret', from.secretRef.name, rendered.secrets, K8S_SECRETS] as const)
        : ([undefined, undefined, [], ''] as const);
    if (!kind || !name) {
      problems.push(
        `Deployment ${service}: an envFrom entry names neither a ConfigMap nor a Secret`,
      );
      continue;
    }
    const object = pool.find((o) => o.kind === kind && o.metadata.name === name);
    if (!object) {
      problems.push(
        `Deployment ${service}: envFrom ${kind} ${name}, which ${source} does not define`,
      );
      continue;
    }
    places.push({
      place: `Kubernetes ${kind} ${name} (${source}, envFrom of Deployment ${service})`,
      variables: new Map(
        Object.entries(data(object)).map(([k, v]) => [`${from.prefix ?? ''}${k}`, String(v)]),
      ),
    });
  }
  if (container.env?.length)
    places.push({
      place: `Kubernetes Deployment ${service} (${K8S_OVERLAY}, container env)`,
      variables: new Map(
        container.env.map((e) => [e.name, e.value ?? (e.valueFrom ? '(from a reference)' : null)]),
      ),
    });
  return { deployment, places, problems };
}
