import type { K8sObject } from './kustomize.renderer';

/**
 * Evaluates Kubernetes NetworkPolicies (networking.k8s.io/v1 semantics) for
 * one connection: allowed when the source's egress and the destination's
 * ingress both allow it. A pod that no policy of a direction selects is not
 * isolated in that direction. Enough of the spec for our manifests: pod and
 * namespace selectors (matchLabels, matchExpressions), IPv4 ipBlocks with
 * exceptions, numeric and named ports.
 */

type Labels = Record<string, string>;

interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: {
    key: string;
    operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
    values?: string[];
  }[];
}

interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

interface PolicyPort {
  port?: number | string;
  protocol?: string;
}

interface PolicySpec {
  podSelector: LabelSelector;
  policyTypes?: ('Ingress' | 'Egress')[];
  ingress?: { from?: PolicyPeer[]; ports?: PolicyPort[] }[];
  egress?: { to?: PolicyPeer[]; ports?: PolicyPort[] }[];
}

/** One end of a connection: a pod (with its namespace) or an address outside the cluster. */
export interface Endpoint {
  namespace?: string;
  namespaceLabels?: Labels;
  podLabels?: Labels;
  ip?: string;
  /** Container ports of the pod, to resolve named ports. */
  ports?: { name?: string; containerPort: number }[];
}

export function selects(selector: LabelSelector | undefined, labels: Labels | undefined): boolean {
  if (!selector || labels === undefined) return false;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {}))
    if (labels[key] !== value) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const value = labels[e.key];
    const ok =
      e.operator === 'In'
        ? has && (e.values ?? []).includes(value!)
        : e.operator === 'NotIn'
          ? !has || !(e.values ?? []).includes(value!)
          : e.operator === 'Exists'
            ? has
            : !has;
    if (!ok) return false;
  }
  return true;
}

function ipv4(ip: string): number | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  if (!m) return undefined;
  return m.slice(1, 5).reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

export function inCidr(ip: string, cidr: string): boolean {
  const [base = '', bitsText = '32'] = cidr.split('/');
  const a = ipv4(ip);
  const b = ipv4(base);
  if (a === undefined || b === undefined) return false;
  const bits = Number(bitsText);
  const size = 2 ** (32 - bits);
  return Math.floor(a / size) === Math.floor(b / size);
}

function peerMatches(peer: PolicyPeer, other: Endpoint, policyNamespace: string): boolean {
  if (peer.ipBlock) {
    return (
      other.ip !== undefined &&
      inCidr(other.ip, peer.ipBlock.cidr) &&
      !(peer.ipBlock.except ?? []).some((c) => inCidr(other.ip!, c))
    );
  }
  if (other.podLabels === undefined) return false;
  const namespaceOk = peer.namespaceSelector
    ? selects(peer.namespaceSelector, other.namespaceLabels ?? {})
    : other.namespace === policyNamespace;
  const podOk = peer.podSelector ? selects(peer.podSelector, other.podLabels) : true;
  return namespaceOk && podOk;
}

function portMatches(
  ports: PolicyPort[] | undefined,
  port: number,
  protocol: string,
  destination: Endpoint,
): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === 'number') return p.port === port;
    return (destination.ports ?? []).some((cp) => cp.name === p.port && cp.containerPort === port);
  });
}

export class NetworkPolicies {
  private readonly policies: { namespace: string; spec: PolicySpec; name: string }[];

  constructor(
    objects: readonly K8sObject[],
    private readonly defaultNamespace: string,
  ) {
    this.policies = objects
      .filter((o) => o.kind === 'NetworkPolicy')
      .map((o) => ({
        namespace: o.metadata.namespace ?? defaultNamespace,
        spec: o['spec'] as PolicySpec,
        name: o.metadata.name,
      }));
  }

  private selecting(pod: Endpoint, type: 'Ingress' | 'Egress') {
    return this.policies.filter(
      (p) =>
        p.namespace === (pod.namespace ?? this.defaultNamespace) &&
        pod.podLabels !== undefined &&
        selects(p.spec.podSelector, pod.podLabels) &&
        (p.spec.policyTypes ?? ['Ingress']).includes(type),
    );
  }

  egressAllowed(source: Endpoint, destination: Endpoint, port: number, protocol = 'TCP'): boolean {
    const policies = this.selecting(source, 'Egress');
    if (policies.length === 0) return true;
    return policies.some((p) =>
      (p.spec.egress ?? []).some(
        (rule) =>
          (rule.to === undefined ||
            rule.to.some((peer) => peerMatches(peer, destination, p.namespace))) &&
          portMatches(rule.ports, port, protocol, destination),
      ),
    );
  }

  ingressAllowed(source: Endpoint, destination: Endpoint, port: number, protocol = 'TCP'): boolean {
    const policies = this.selecting(destination, 'Ingress');
    if (policies.length === 0) return true;
    return policies.some((p) =>
      (p.spec.ingress ?? []).some(
        (rule) =>
          (rule.from === undefined ||
            rule.from.some((peer) => peerMatches(peer, source, p.namespace))) &&
          portMatches(rule.ports, port, protocol, destination),
      ),
    );
  }

  /** Both directions: what a packet from source to destination:port needs. */
  allowed(source: Endpoint, destination: Endpoint, port: number, protocol = 'TCP'): boolean {
    return (
      this.egressAllowed(source, destination, port, protocol) &&
      this.ingressAllowed(source, destination, port, protocol)
    );
  }
}
