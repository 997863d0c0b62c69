import { readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseYaml, parseYamlDocuments } from './tools.helper';

/**
 * A small `kustomize build` for the features deploy/k8s uses, so the manifest
 * checks run where no kustomize binary is installed (CI installs only Debian
 * packages, whose kubectl is too old). It refuses any field it does not
 * implement, so it can never silently render something else than kustomize
 * would. What it leaves out on purpose: the content-hash suffix of generated
 * ConfigMap names. The real output was compared with `kubectl kustomize`
 * (kustomize v5) when these files were written.
 */

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  resources?: string[];
  labels?: {
    pairs: Record<string, string>;
    includeSelectors?: boolean;
    includeTemplates?: boolean;
  }[];
  images?: { name: string; newName?: string; newTag?: string }[];
  patches?: { target: { kind?: string; name?: string }; patch: string }[];
  configMapGenerator?: {
    name: string;
    files: string[];
    options?: { labels?: Record<string, string> };
  }[];
}

const SUPPORTED_FIELDS = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'resources',
  'labels',
  'images',
  'patches',
  'configMapGenerator',
]);

/** Kinds without a namespace among those we use. */
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'PriorityClass']);

export function readKustomization(dir: string): Kustomization {
  const k = parseYaml<Kustomization & Record<string, unknown>>(
    readFileSync(join(dir, 'kustomization.yaml'), 'utf8'),
  );
  for (const key of Object.keys(k)) {
    if (!SUPPORTED_FIELDS.has(key))
      throw new Error(
        `${dir}/kustomization.yaml: field "${key}" is not supported by the deploy-check renderer; extend it`,
      );
  }
  if (k.apiVersion !== 'kustomize.config.k8s.io/v1beta1' || k.kind !== 'Kustomization') {
    throw new Error(
      `${dir}/kustomization.yaml: expected apiVersion kustomize.config.k8s.io/v1beta1, kind Kustomization`,
    );
  }
  return k;
}

export function renderKustomization(dir: string): K8sObject[] {
  const k = readKustomization(dir);
  let objects: K8sObject[] = [];
  for (const resource of k.resources ?? []) {
    const path = join(dir, resource);
    const stat = statSync(path); // throws when a listed resource does not exist
    if (stat.isDirectory()) objects.push(...renderKustomization(path));
    else objects.push(...parseYamlDocuments<K8sObject>(readFileSync(path, 'utf8')));
  }
  for (const generator of k.configMapGenerator ?? []) {
    const data: Record<string, string> = {};
    for (const file of generator.files)
      data[basename(file)] = readFileSync(join(dir, file), 'utf8');
    objects.push({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: generator.name, labels: { ...generator.options?.labels } },
      data,
    });
  }
  for (const patch of k.patches ?? []) {
    const targets = objects.filter(
      (o) =>
        (!patch.target.kind || o.kind === patch.target.kind) &&
        (!patch.target.name || o.metadata.name === patch.target.name),
    );
    if (targets.length === 0)
      throw new Error(`${dir}: patch target ${JSON.stringify(patch.target)} matches nothing`);
    const ops = parseYaml<JsonPatchOp[]>(patch.patch);
    objects = objects.map((o) => (targets.includes(o) ? applyJsonPatch(o, ops) : o));
  }
  for (const image of k.images ?? []) {
    for (const container of objects.flatMap(containersOf)) {
      const [name, tag] = splitImage(container.image);
      if (name !== image.name) continue;
      container.image = `${image.newName ?? name}:${image.newTag ?? tag ?? 'latest'}`;
    }
  }
  for (const label of k.labels ?? []) {
    if (label.includeSelectors)
      throw new Error(
        `${dir}: labels with includeSelectors are not supported by the deploy-check renderer`,
      );
    for (const o of objects) {
      o.metadata.labels = { ...o.metadata.labels, ...label.pairs };
      if (label.includeTemplates) {
        const template = podTemplateOf(o);
        if (template)
          template.metadata = {
            ...template.metadata,
            labels: { ...template.metadata?.labels, ...label.pairs },
          };
      }
    }
  }
  if (k.namespace) {
    for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  }
  return objects;
}

function splitImage(image: string): [string, string | undefined] {
  const at = image.lastIndexOf(':');
  return at > image.lastIndexOf('/')
    ? [image.slice(0, at), image.slice(at + 1)]
    : [image, undefined];
}

export interface Container {
  name: string;
  image: string;
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  env?: { name: string; value?: string }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
}
export interface Probe {
  httpGet?: { path: string; port: string | number };
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
}
export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    containers: Container[];
    initContainers?: Container[];
    securityContext?: Record<string, unknown> & { seccompProfile?: { type: string } };
    automountServiceAccountToken?: boolean;
    serviceAccountName?: string;
    volumes?: { name: string; configMap?: { name: string }; emptyDir?: Record<string, unknown> }[];
  };
}

export function podTemplateOf(o: K8sObject): PodTemplate | undefined {
  if (o.kind !== 'Deployment' && o.kind !== 'StatefulSet' && o.kind !== 'DaemonSet')
    return undefined;
  return (o['spec'] as { template: PodTemplate }).template;
}

export function containersOf(o: K8sObject): Container[] {
  const t = podTemplateOf(o);
  return t ? [...t.spec.containers, ...(t.spec.initContainers ?? [])] : [];
}

interface JsonPatchOp {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

/** RFC 6902 add / replace / remove; `replace` and `remove` need the path to exist, as in kustomize. */
export function applyJsonPatch<T>(doc: T, ops: readonly JsonPatchOp[]): T {
  const out = structuredClone(doc) as unknown;
  for (const op of ops) {
    const parts = op.path
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop();
    if (last === undefined) throw new Error(`patch path "${op.path}" is empty`);
    let parent = out as Record<string, unknown> | unknown[];
    for (const part of parts) {
      const next = (parent as Record<string, unknown>)[part];
      if (next === null || typeof next !== 'object')
        throw new Error(`patch path "${op.path}" does not exist`);
      parent = next as Record<string, unknown>;
    }
    const container = parent as Record<string, unknown>;
    if (Array.isArray(parent) && op.op === 'add') {
      const index = last === '-' ? parent.length : Number(last);
      parent.splice(index, 0, op.value);
      continue;
    }
    if (op.op !== 'add' && !(last in container))
      throw new Error(`patch path "${op.path}" does not exist`);
    if (op.op === 'remove') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete container[last];
    } else {
      container[last] = op.value;
    }
  }
  return out as T;
}
