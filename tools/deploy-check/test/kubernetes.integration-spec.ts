import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { API_ROUTES, PRIVATE_PATHS } from './support/api-routes';
import {
  type K8sObject,
  type PodTemplate,
  containersOf,
  podTemplateOf,
  readKustomization,
  renderKustomization,
} from './support/kustomize.renderer';
import { type Endpoint, NetworkPolicies } from './support/network-policy.evaluator';
import { serviceEnv } from './support/service-env.reader';
import { shutdownBoundMs } from './support/service-shutdown.reader';
import { SERVICES, parseYamlDocuments, readRepoFile, repoPath } from './support/tools.helper';

const K8S = repoPath('deploy/k8s');
const NAMESPACE = 'phonegate';

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry) ? [path] : [];
  });
}

/**
 * Memory a service process needs, in MB (docs/benchmarks.md, "What it means for
 * sizing": plan 256 MB a service process, identity and the notifier 350–500 MB
 * under a backlog). The requests must hold it: a pod above its request is the
 * first evicted when a node runs short, on the sale day, when the backlog is.
 */
const MEMORY_PLAN_MB: Record<string, number> = {
  identity: 500,
  otp: 256,
  notifier: 500,
  'delivery-otp': 256,
};

/** A Kubernetes memory quantity (`512Mi`, `1Gi`, `500M`) in MiB. */
function mebibytes(quantity: string | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?$/.exec(quantity ?? '');
  if (!m) throw new Error(`not a memory quantity: ${quantity}`);
  const bytes =
    {
      Ki: 2 ** 10,
      Mi: 2 ** 20,
      Gi: 2 ** 30,
      K: 1e3,
      M: 1e6,
      G: 1e9,
    }[m[2] ?? ''] ?? 1;
  return (Number(m[1]) * bytes) / 2 ** 20;
}

const byKind = (objects: readonly K8sObject[], kind: string) =>
  objects.filter((o) => o.kind === kind);
const find = (objects: readonly K8sObject[], kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata.name === name);
const spec = <T>(o: K8sObject | undefined) => o?.['spec'] as T;

interface Hpa {
  scaleTargetRef: { kind: string; name: string };
  minReplicas: number;
  maxReplicas: number;
  metrics: {
    type: string;
    resource?: { name: string; target: { type: string; averageUtilization: number } };
  }[];
}
interface ScaledObject {
  scaleTargetRef: { name: string; kind?: string };
  minReplicaCount: number;
  maxReplicaCount: number;
  triggers: {
    type: string;
    metadata: Record<string, string>;
    authenticationRef?: { name: string };
  }[];
}
interface Pdb {
  minAvailable?: number;
  maxUnavailable?: number;
  selector: { matchLabels: Record<string, string> };
}
interface ServiceSpec {
  selector: Record<string, string>;
  ports: { name: string; port: number; targetPort: string | number }[];
}
interface IngressSpec {
  ingressClassName?: string;
  tls?: { hosts: string[]; secretName: string }[];
  rules: {
    host: string;
    http: {
      paths: {
        path: string;
        pathType: string;
        backend: { service: { name: string; port: { name?: string; number?: number } } };
      }[];
    };
  }[];
}

describe('every YAML file under deploy/k8s', () => {
  const files = yamlFiles(K8S);

  it('parses, and every manifest names its apiVersion, kind and name', () => {
    expect(files.length).toBeGreaterThan(20);
    for (const file of files) {
      const docs = parseYamlDocuments<Record<string, unknown>>(readFileSync(file, 'utf8'));
      expect(docs.length).toBeGreaterThan(0);
      if (file.endsWith('kustomization.yaml')) continue;
      for (const doc of docs) {
        expect({
          file: relative(K8S, file),
          apiVersion: typeof doc['apiVersion'],
          kind: typeof doc['kind'],
          name: typeof (doc['metadata'] as { name?: unknown })?.name,
        }).toEqual({
          file: relative(K8S, file),
          apiVersion: 'string',
          kind: 'string',
          name: 'string',
        });
      }
    }
  });

  it('is listed by a kustomization (no forgotten manifest), and every listed resource exists', () => {
    const listed = new Set<string>();
    for (const file of files.filter((f) => f.endsWith('kustomization.yaml'))) {
      const dir = join(file, '..');
      const k = readKustomization(dir);
      for (const resource of k.resources ?? []) {
        const path = join(dir, resource);
        expect({
          resource: relative(K8S, path),
          exists: statSync(path, { throwIfNoEntry: false }) !== undefined,
        }).toEqual({ resource: relative(K8S, path), exists: true });
        listed.add(path);
      }
    }
    for (const file of files.filter((f) => !f.endsWith('kustomization.yaml')))
      expect({ file: relative(K8S, file), listed: listed.has(file) }).toEqual({
        file: relative(K8S, file),
        listed: true,
      });
  });
});

describe.each([
  ['base', 'deploy/k8s/base'],
  ['production overlay', 'deploy/k8s/overlays/production'],
])('the %s, rendered', (_, dir) => {
  const objects = renderKustomization(repoPath(dir));
  const deployments = byKind(objects, 'Deployment');
  const secrets = renderKustomization(repoPath('deploy/k8s/secrets-template'));
  const names = [...SERVICES.map((s) => s.name), 'gateway'];

  it('has a Deployment, a Service and a PodDisruptionBudget for each service and the gateway', () => {
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual([...names].sort());
    for (const name of names) {
      expect(find(objects, 'Service', name)).toBeDefined();
      expect(find(objects, 'PodDisruptionBudget', name)).toBeDefined();
    }
  });

  it.each(names)(
    '%s: readiness and liveness probes, requests and limits, non-root with a read-only root file system',
    (name) => {
      const deployment = find(objects, 'Deployment', name)!;
      const template = podTemplateOf(deployment)!;
      expect(template.spec.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(template.spec.securityContext?.['runAsUser']).toBeGreaterThan(0);
      expect(template.spec.automountServiceAccountToken).toBe(false);
      for (const c of containersOf(deployment)) {
        expect(c.readinessProbe?.httpGet?.path).toBe(
          name === 'gateway' ? '/healthz' : '/health/ready',
        );
        expect(c.livenessProbe?.httpGet?.path).toBe(
          name === 'gateway' ? '/healthz' : '/health/live',
        );
        for (const kind of ['requests', 'limits'] as const) {
          expect(c.resources?.[kind]?.['cpu']).toBeTruthy();
          expect(c.resources?.[kind]?.['memory']).toBeTruthy();
        }
        expect(c.securityContext).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
        expect(c.securityContext?.['privileged']).not.toBe(true);
        // A read-only root needs a writable /tmp.
        const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
        expect(template.spec.volumes?.find((v) => v.name === tmp?.name)?.emptyDir).toBeDefined();
      }
    },
  );

  it.each(SERVICES.map((s) => [s.name, s.port] as const))(
    '%s listens on %i, serves /metrics there, and takes its environment from its ConfigMap and Secret',
    (name, port) => {
      const deployment = find(objects, 'Deployment', name)!;
      const [container] = containersOf(deployment);
      expect(container?.ports).toEqual([{ name: 'http', containerPort: port, protocol: 'TCP' }]);
      expect(podTemplateOf(deployment)?.metadata?.annotations).toMatchObject({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(port),
        'prometheus.io/path': '/metrics',
      });
      expect(container?.envFrom).toEqual([
        { configMapRef: { name: `${name}-config` } },
        { secretRef: { name: `${name}-secrets` } },
      ]);
      expect(container?.env).toBeUndefined();
      const config = find(objects, 'ConfigMap', `${name}-config`);
      expect((config?.['data'] as Record<string, string>)['PORT']).toBe(String(port));
      expect(find(secrets, 'Secret', `${name}-secrets`)).toBeDefined();
    },
  );

  it.each(SERVICES.map((s) => [s.name]))(
    '%s: memory requests hold the benchmarked need (docs/benchmarks.md), the limit leaves room above it',
    (name) => {
      const [container] = containersOf(find(objects, 'Deployment', name)!);
      const request = mebibytes(container?.resources?.requests?.['memory']);
      const limit = mebibytes(container?.resources?.limits?.['memory']);
      const needMb = MEMORY_PLAN_MB[name] ?? Number.NaN;
      // MB (10^6 bytes, the benchmarks' unit) to MiB.
      expect(request).toBeGreaterThanOrEqual((needMb * 1e6) / 2 ** 20);
      expect(limit).toBeGreaterThanOrEqual(request * 1.5);
    },
  );

  it.each(SERVICES.map((s) => [s.name]))(
    '%s: waits for the service to drain before SIGKILL (preStop + its shutdown bound ≤ the grace period)',
    (name) => {
      const template = podTemplateOf(find(objects, 'Deployment', name)!)!;
      const grace =
        (template.spec as { terminationGracePeriodSeconds?: number })
          .terminationGracePeriodSeconds ?? 30;
      const [container] = containersOf(find(objects, 'Deployment', name)!);
      const preStop = (container as { lifecycle?: { preStop?: { exec?: { command?: string[] } } } })
        .lifecycle?.preStop?.exec?.command;
      const preStopSeconds = preStop?.[0] === 'sleep' ? Number(preStop[1]) : 0;
      expect(preStopSeconds * 1000 + shutdownBoundMs(name)).toBeLessThanOrEqual(grace * 1000);
    },
  );

  it('selects each Deployment’s pods with its Service and PodDisruptionBudget, on a named container port', () => {
    for (const name of names) {
      const template = podTemplateOf(find(objects, 'Deployment', name)!)!;
      const labels = template.metadata?.labels ?? {};
      const service = spec<ServiceSpec>(find(objects, 'Service', name));
      expect(labels).toMatchObject(service.selector);
      const containerPorts = template.spec.containers.flatMap((c) => c.ports ?? []);
      for (const port of service.ports)
        expect(containerPorts.map((p) => p.name)).toContain(port.targetPort);
      expect(labels).toMatchObject(
        spec<Pdb>(find(objects, 'PodDisruptionBudget', name)).selector.matchLabels,
      );
      expect(
        spec<{ selector: { matchLabels: Record<string, string> } }>(
          find(objects, 'Deployment', name),
        ).selector.matchLabels,
      ).toEqual(service.selector);
    }
  });

  it('scales identity and otp with a CPU HorizontalPodAutoscaler', () => {
    for (const name of ['identity', 'otp']) {
      const hpa = spec<Hpa>(find(objects, 'HorizontalPodAutoscaler', name));
      expect(hpa.scaleTargetRef).toMatchObject({ kind: 'Deployment', name });
      expect(hpa.metrics).toContainEqual({
        type: 'Resource',
        resource: {
          name: 'cpu',
          target: { type: 'Utilization', averageUtilization: expect.any(Number) },
        },
      });
      expect(hpa.minReplicas).toBeGreaterThanOrEqual(2);
      expect(hpa.maxReplicas).toBeGreaterThan(hpa.minReplicas);
    }
  });

  it('scales the notifier and delivery-otp with KEDA on their RabbitMQ queue depth, never to zero', () => {
    const queues = (name: string) =>
      spec<ScaledObject>(find(objects, 'ScaledObject', name))
        .triggers.filter((t) => t.type === 'rabbitmq')
        .map((t) => {
          expect(t.metadata).toMatchObject({ mode: 'QueueLength', protocol: 'amqp' });
          expect(Number(t.metadata['value'])).toBeGreaterThan(0);
          expect(find(objects, 'TriggerAuthentication', t.authenticationRef!.name)).toBeDefined();
          return t.metadata['queueName'];
        });
    expect(queues('notifier').sort()).toEqual([
      'notifier.bulk',
      'notifier.critical',
      'notifier.standard',
    ]);
    expect(queues('delivery-otp')).toEqual(['delivery-otp.events']);
    for (const name of ['notifier', 'delivery-otp']) {
      const so = spec<ScaledObject>(find(objects, 'ScaledObject', name));
      expect(so.scaleTargetRef.name).toBe(name);
      expect(so.minReplicaCount).toBeGreaterThanOrEqual(2);
    }
    // The critical queue scales on the smallest backlog.
    const value = (queue: string) =>
      Number(
        spec<ScaledObject>(find(objects, 'ScaledObject', 'notifier')).triggers.find(
          (t) => t.metadata['queueName'] === queue,
        )?.metadata['value'],
      );
    expect(value('notifier.critical')).toBeLessThan(value('notifier.standard'));
    expect(value('notifier.standard')).toBeLessThan(value('notifier.bulk'));
    // The TriggerAuthentication's Secret is in the template.
    const auth = spec<{ secretTargetRef: { name: string; key: string }[] }>(
      byKind(objects, 'TriggerAuthentication')[0],
    );
    for (const ref of auth.secretTargetRef)
      expect(
        (find(secrets, 'Secret', ref.name)?.['stringData'] as Record<string, string>)[ref.key],
      ).toBeDefined();
  });

  it('leaves replicas to exactly one autoscaler, and lets a drain proceed (PDB below the minimum replicas)', () => {
    for (const d of deployments) {
      const name = d.metadata.name;
      const hpas = byKind(objects, 'HorizontalPodAutoscaler').filter(
        (h) => spec<Hpa>(h).scaleTargetRef.name === name,
      );
      const scaled = byKind(objects, 'ScaledObject').filter(
        (s) => spec<ScaledObject>(s).scaleTargetRef.name === name,
      );
      const replicas = spec<{ replicas?: number }>(d).replicas;
      let minimum: number;
      if (hpas.length + scaled.length > 0) {
        expect(hpas.length + scaled.length).toBe(1);
        expect(replicas).toBeUndefined();
        minimum = hpas[0]
          ? spec<Hpa>(hpas[0]).minReplicas
          : spec<ScaledObject>(scaled[0]).minReplicaCount;
      } else {
        expect(replicas).toBeGreaterThanOrEqual(2);
        minimum = replicas!;
      }
      const pdb = spec<Pdb>(find(objects, 'PodDisruptionBudget', name));
      expect(pdb.minAvailable).toBeGreaterThanOrEqual(1);
      expect(pdb.minAvailable).toBeLessThan(minimum);
    }
  });

  describe('network policies', () => {
    const policies = new NetworkPolicies(objects, NAMESPACE);
    const ourNamespace = {
      namespace: NAMESPACE,
      namespaceLabels: { 'kubernetes.io/metadata.name': NAMESPACE },
    };
    const pod = (name: string): Endpoint => {
      const template = podTemplateOf(find(objects, 'Deployment', name)!) as PodTemplate;
      return {
        ...ourNamespace,
        podLabels: template.metadata?.labels ?? {},
        ports: template.spec.containers.flatMap((c) => c.ports ?? []),
      };
    };
    const outside = (
      namespace: string,
      labels: Record<string, string>,
      ports: number[] = [],
    ): Endpoint => ({
      namespace,
      namespaceLabels: { 'kubernetes.io/metadata.name': namespace },
      podLabels: labels,
      ports: ports.map((containerPort) => ({ containerPort })),
    });
    const rabbitmq = outside('data', { 'app.kubernetes.io/name': 'rabbitmq' }, [5672]);
    const redis = outside('data', { 'app.kubernetes.io/name': 'redis' }, [6379]);
    const postgres = outside('data', { 'app.kubernetes.io/name': 'postgresql' }, [5432]);
    const dns = outside('kube-system', { 'k8s-app': 'kube-dns' }, [53]);
    const ingress = outside('ingress-nginx', { 'app.kubernetes.io/name': 'ingress-nginx' });
    const prometheus = outside('monitoring', { 'app.kubernetes.io/name': 'prometheus' });
    const stranger = outside('other-team', { app: 'curious' });
    const internet = (ip: string): Endpoint => ({ ip });

    it('deny everything by default, both ways', () => {
      const deny = byKind(objects, 'NetworkPolicy').find((p) => {
        const s = spec<{
          podSelector: object;
          policyTypes: string[];
          ingress?: unknown;
          egress?: unknown;
        }>(p);
        return (
          Object.keys(s.podSelector).length === 0 &&
          s.policyTypes.includes('Ingress') &&
          s.policyTypes.includes('Egress') &&
          !s.ingress &&
          !s.egress
        );
      });
      expect(deny).toBeDefined();
      expect(policies.allowed(stranger, pod('identity'), 3001)).toBe(false);
      expect(policies.allowed(pod('identity'), internet('93.184.216.34'), 443)).toBe(false);
    });

    it('let the ingress controller reach the gateway, and nothing else of ours', () => {
      expect(policies.allowed(ingress, pod('gateway'), 8080)).toBe(true);
      for (const { name, port } of SERVICES)
        expect(policies.allowed(ingress, pod(name), port)).toBe(false);
      expect(policies.allowed(stranger, pod('gateway'), 8080)).toBe(false);
    });

    it('let the gateway reach each service on its port, and nothing else', () => {
      for (const { name, port } of SERVICES)
        expect(policies.allowed(pod('gateway'), pod(name), port)).toBe(true);
      expect(policies.allowed(pod('gateway'), rabbitmq, 5672)).toBe(false);
      expect(policies.allowed(pod('gateway'), internet('93.184.216.34'), 443)).toBe(false);
    });

    it('keep the services from calling each other directly (they talk over the bus)', () => {
      for (const from of SERVICES) {
        for (const to of SERVICES.filter((s) => s.name !== from.name))
          expect(policies.allowed(pod(from.name), pod(to.name), to.port)).toBe(false);
      }
    });

    it('let every service reach RabbitMQ, Redis and PostgreSQL, and the gateway none of them', () => {
      for (const { name } of SERVICES) {
        expect(policies.allowed(pod(name), rabbitmq, 5672)).toBe(true);
        expect(policies.allowed(pod(name), redis, 6379)).toBe(true);
        expect(policies.allowed(pod(name), postgres, 5432)).toBe(true);
      }
    });

    it('let every pod resolve names, and Prometheus scrape the services', () => {
      for (const name of names) {
        expect(policies.allowed(pod(name), dns, 53, 'UDP')).toBe(true);
        expect(policies.allowed(pod(name), dns, 53, 'TCP')).toBe(true);
      }
      for (const { name, port } of SERVICES)
        expect(policies.allowed(prometheus, pod(name), port)).toBe(true);
    });

    it('let only the notifier reach carriers on the internet (SMPP, HTTPS, SMTP), never private or metadata addresses', () => {
      for (const port of [443, 2775, 587])
        expect(policies.allowed(pod('notifier'), internet('198.51.100.20'), port)).toBe(true);
      expect(policies.allowed(pod('notifier'), internet('198.51.100.20'), 22)).toBe(false);
      for (const ip of ['169.254.169.254', '10.0.0.7', '172.20.1.1', '192.168.1.1', '100.64.0.1']) {
        expect(policies.allowed(pod('notifier'), internet(ip), 443)).toBe(false);
      }
      for (const name of ['identity', 'otp', 'delivery-otp', 'gateway'])
        expect(policies.allowed(pod(name), internet('198.51.100.20'), 443)).toBe(false);
    });
  });

  it('exposes every API route through the Ingress, to the gateway only, and no private path', () => {
    const ingressSpec = spec<IngressSpec>(find(objects, 'Ingress', 'gateway'));
    const paths = ingressSpec.rules.flatMap((r) => r.http.paths);
    for (const p of paths) {
      expect(['Prefix', 'Exact']).toContain(p.pathType);
      expect(p.backend.service).toEqual({ name: 'gateway', port: { name: 'http' } });
    }
    // Prefix semantics: element-wise, so /v1/accounts matches /v1/accounts/x but not /v1/accountsx.
    const matches = (path: string) =>
      paths.some((p) => {
        const clean = path.split('?')[0]!;
        if (p.pathType === 'Exact') return clean === p.path;
        return clean === p.path || clean.startsWith(`${p.path.replace(/\/$/, '')}/`);
      });
    for (const [, path] of API_ROUTES)
      expect({ path, exposed: matches(path) }).toEqual({ path, exposed: true });
    for (const path of PRIVATE_PATHS)
      expect({ path, exposed: matches(path) }).toEqual({ path, exposed: false });
    expect(ingressSpec.tls?.[0]?.hosts).toEqual([ingressSpec.rules[0]?.host]);
  });

  it('points the public URLs of the services (code links, delivery receipts) at the Ingress host', () => {
    const host = spec<IngressSpec>(find(objects, 'Ingress', 'gateway')).rules[0]?.host;
    const data = (name: string) =>
      (find(objects, 'ConfigMap', name)?.['data'] ?? {}) as Record<string, string>;
    expect(data('otp-config')['OTP_PUBLIC_BASE_URL']).toBe(`https://${host}`);
    expect(data('notifier-config')['RECEIPT_CALLBACK_BASE_URL']).toBe(`https://${host}`);
  });

  it('gives the gateway the same nginx.conf as docker compose', () => {
    const config = find(objects, 'ConfigMap', 'gateway-nginx');
    expect((config?.['data'] as Record<string, string>)['nginx.conf']).toBe(
      readRepoFile('deploy/nginx/nginx.conf'),
    );
    const template = podTemplateOf(find(objects, 'Deployment', 'gateway')!)!;
    expect(template.spec.volumes).toContainEqual({
      name: 'config',
      configMap: { name: 'gateway-nginx' },
    });
  });
});

describe('the production overlay', () => {
  const objects = renderKustomization(repoPath('deploy/k8s/overlays/production'));

  it('puts everything in the phonegate namespace, which enforces the restricted Pod Security Standard', () => {
    for (const o of objects)
      if (o.kind !== 'Namespace')
        expect({ kind: o.kind, name: o.metadata.name, ns: o.metadata.namespace }).toEqual({
          kind: o.kind,
          name: o.metadata.name,
          ns: NAMESPACE,
        });
    expect(find(objects, 'Namespace', NAMESPACE)?.metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
    });
  });

  it('pins every image to a release tag', () => {
    for (const c of objects.flatMap(containersOf)) {
      expect(c.image).toMatch(/:[\w][\w.-]*$/);
      expect(c.image).not.toMatch(/:latest$/);
    }
    for (const { name } of SERVICES)
      expect(containersOf(find(objects, 'Deployment', name)!)[0]?.image).toMatch(
        new RegExp(`/${name}:`),
      );
  });

  it('runs at least three replicas of every request-path service', () => {
    for (const name of ['identity', 'otp'])
      expect(
        spec<Hpa>(find(objects, 'HorizontalPodAutoscaler', name)).minReplicas,
      ).toBeGreaterThanOrEqual(3);
    for (const name of ['notifier', 'delivery-otp'])
      expect(
        spec<ScaledObject>(find(objects, 'ScaledObject', name)).minReplicaCount,
      ).toBeGreaterThanOrEqual(3);
    expect(
      spec<{ replicas: number }>(find(objects, 'Deployment', 'gateway')).replicas,
    ).toBeGreaterThanOrEqual(3);
  });

  it('contains no Secret: secrets are provisioned outside the build (deploy/k8s/secrets-template)', () => {
    expect(byKind(objects, 'Secret')).toEqual([]);
  });
});

describe('deploy/k8s/secrets-template', () => {
  const secrets = renderKustomization(repoPath('deploy/k8s/secrets-template'));

  it('holds placeholders only, never a real value', () => {
    for (const s of byKind(secrets, 'Secret')) {
      for (const [key, value] of Object.entries(
        (s['stringData'] as Record<string, string>) ?? {},
      )) {
        expect({
          secret: s.metadata.name,
          key,
          placeholder: /REPLACE_ME|^\[\]$/.test(value),
        }).toEqual({ secret: s.metadata.name, key, placeholder: true });
      }
      expect(s['data']).toBeUndefined();
    }
  });
});

describe('PostgreSQL connections of the production overlay', () => {
  const objects = renderKustomization(repoPath('deploy/k8s/overlays/production'));
  /** Pool size of a service's pods: its ConfigMap's value, else the code's default. */
  const poolOf = (name: string) => {
    const variable = name === 'notifier' ? 'NOTIFIER_DB_POOL_SIZE' : 'DATABASE_POOL_SIZE';
    const config = find(objects, 'ConfigMap', `${name}-config`)?.['data'] as Record<string, string>;
    const fallback = serviceEnv(name as (typeof SERVICES)[number]['name']).variables.get(
      variable,
    )?.default;
    const value = config[variable] ?? (fallback?.kind === 'value' ? fallback.value : undefined);
    return Number(value);
  };
  const replicasOf = (name: string): [number, number] => {
    const hpa = byKind(objects, 'HorizontalPodAutoscaler').find(
      (h) => spec<Hpa>(h).scaleTargetRef.name === name,
    );
    if (hpa) return [spec<Hpa>(hpa).minReplicas, spec<Hpa>(hpa).maxReplicas];
    const so = byKind(objects, 'ScaledObject').find(
      (s) => spec<ScaledObject>(s).scaleTargetRef.name === name,
    );
    return [spec<ScaledObject>(so).minReplicaCount, spec<ScaledObject>(so).maxReplicaCount];
  };

  it('are stated in docs/operations.md as they add up, at the minimum and the maximum replicas', () => {
    let least = 0;
    let most = 0;
    for (const { name } of SERVICES) {
      const pool = poolOf(name);
      const [min, max] = replicasOf(name);
      expect({ name, pool: Number.isInteger(pool) && pool > 0 }).toEqual({ name, pool: true });
      least += pool * min;
      most += pool * max;
    }
    const docs = readRepoFile('docs/operations.md');
    expect(docs).toContain(`**${least.toLocaleString('en')} connections** at the minimum`);
    expect(docs).toContain(`**${most.toLocaleString('en')}** at the maximum`);
  });
});
