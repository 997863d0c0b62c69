import {
  type Selector,
  declaredMetrics,
  exportedSeries,
  groupingLabelsOf,
  literalsOf,
  selectorsOf,
  wantedValues,
} from './support/metrics.reader';
import { parseYaml, readRepoFile } from './support/tools.helper';

/**
 * Every metric an alert, the dashboard or the runbooks name must be one the
 * services export, with the labels asked for, and every label value asked for
 * one the exporting code can produce: a rule on a name or a value nobody
 * exports is valid PromQL (promtool passes it) and never fires.
 */

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[];
}
interface Dashboard {
  panels: { id: number; title: string; targets?: { refId: string; expr: string }[] }[];
}

const declared = declaredMetrics();
const series = exportedSeries(declared);

/** RabbitMQ's own metrics (rabbitmq_prometheus; per-object ones with deploy/rabbitmq/rabbitmq.conf). */
const RABBITMQ_SERIES = new Map<string, Set<string>>([
  ...['rabbitmq_queue_messages_ready', 'rabbitmq_queue_messages', 'rabbitmq_queue_consumers'].map(
    (name) => [name, new Set(['vhost', 'queue'])] as const,
  ),
  [
    'rabbitmq_identity_info',
    new Set(['rabbitmq_node', 'rabbitmq_cluster', 'rabbitmq_cluster_permanent_id']),
  ],
]);
const definitions = JSON.parse(readRepoFile('deploy/rabbitmq/definitions.json')) as {
  queues: { name: string }[];
};
const DEFINED_QUEUES = new Set(definitions.queues.map((q) => q.name));

const rules = parseYaml<RuleFile>(readRepoFile('deploy/prometheus/alerts.yml'));
const dashboard = JSON.parse(readRepoFile('deploy/grafana/phonegate.json')) as Dashboard;
const queries: (readonly [where: string, expr: string])[] = [
  ...rules.groups.flatMap((g) =>
    g.rules.map((r) => [`alerts.yml ${r.alert ?? r.record}`, r.expr] as const),
  ),
  ...dashboard.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => [`dashboard "${p.title}" ${t.refId}`, t.expr] as const),
  ),
];

const literals = new Map<string, Set<string>>();
const literalsFor = (owner: string) => {
  let set = literals.get(owner);
  if (!set) literals.set(owner, (set = literalsOf(owner)));
  return set;
};

/** What is wrong with one selector, or nothing. */
function problemsOf(selector: Selector): string[] {
  const ours = series.get(selector.metric);
  const labels = ours?.labels ?? RABBITMQ_SERIES.get(selector.metric);
  if (!labels) return [`${selector.metric}: no service exports it`];
  const problems: string[] = [];
  for (const matcher of selector.matchers) {
    if (!labels.has(matcher.label)) {
      problems.push(`${selector.metric}: no label ${matcher.label}`);
      continue;
    }
    for (const value of wantedValues(matcher)) {
      const known = ours
        ? matcher.label === 'service' || literalsFor(ours.family.owner).has(value)
        : matcher.label !== 'queue' || DEFINED_QUEUES.has(value);
      if (!known)
        problems.push(
          `${selector.metric}{${matcher.label}="${value}"}: ${ours ? `no such value in the code of ${ours.family.owner}` : 'no such queue in deploy/rabbitmq/definitions.json'}`,
        );
    }
  }
  return problems;
}

describe('the metrics the services declare (read from their source)', () => {
  it('are found: the agreed families of docs/operations.md are among them', () => {
    for (const name of [
      'http_request_duration_seconds',
      'notifier_sends_total',
      'notifier_carrier_breaker_state',
      'bus_queue_lag_seconds',
      'otp_checks_total',
    ])
      expect(declared.map((m) => m.name)).toContain(name);
  });

  it('declare each family once, with one set of labels', () => {
    const byName = new Map<string, string>();
    for (const m of declared) {
      const shape = `${m.kind}:${[...m.labels].sort().join(',')}`;
      expect({ name: m.name, shape: byName.get(m.name) ?? shape }).toEqual({ name: m.name, shape });
      byName.set(m.name, shape);
    }
  });
});

describe.each(queries)('%s', (_, expr) => {
  it('uses only exported metrics, their labels and values the code produces', () => {
    const selectors = selectorsOf(expr);
    expect(selectors.length).toBeGreaterThan(0);
    expect(selectors.flatMap(problemsOf)).toEqual([]);
  });

  it('groups only by labels its metrics carry', () => {
    const carried = new Set(
      selectorsOf(expr).flatMap((s) => [
        ...(series.get(s.metric)?.labels ?? RABBITMQ_SERIES.get(s.metric) ?? []),
      ]),
    );
    for (const label of groupingLabelsOf(expr))
      expect({ label, carried: carried.has(label) }).toEqual({ label, carried: true });
  });
});

describe('docs/operations.md', () => {
  const docs = readRepoFile('docs/operations.md');
  // `metric` or `metric{label="value"}` in backticks, for our prefixes and RabbitMQ's.
  const named = [
    ...docs.matchAll(/`((?:http|bus|otp|notifier|delivery|rabbitmq)_[a-z0-9_]+)(\{[^}`]*\})?`/g),
  ].map((m) => m[1]! + (m[2] ?? ''));

  it('names metrics (runbooks, the Metrics table)', () => {
    expect(named.length).toBeGreaterThan(10);
  });

  it('names only metrics the services export, with their labels and values', () => {
    // Prose may name a histogram by its family name; a query uses its `_bucket` series.
    const asSeries = (s: Selector): Selector =>
      series.has(s.metric) || !series.has(`${s.metric}_bucket`)
        ? s
        : { ...s, metric: `${s.metric}_bucket` };
    const problems = named.flatMap((text) => selectorsOf(text).map(asSeries).flatMap(problemsOf));
    expect(problems).toEqual([]);
  });

  it('lists in the Metrics table the labels each metric really has', () => {
    const table = docs.slice(docs.indexOf('## Metrics'), docs.indexOf('## Alerts and runbook'));
    for (const row of table.split('\n').filter((l) => /^\| `/.test(l))) {
      const [names = '', , labels = ''] = row
        .split('|')
        .slice(1)
        .map((c) => c.trim());
      // `purpose`, `channel`, `kind` (`first`, `resend`): the values in brackets are no labels.
      const documented = [...labels.replace(/\([^)]*\)/g, '').matchAll(/`([a-z_]+)`/g)].map(
        (m) => m[1]!,
      );
      for (const [, name] of names.matchAll(/`([a-z_]+)`/g)) {
        const actual = series.get(name!)?.family.labels ??
          series.get(`${name}_bucket`)?.family.labels ?? [...(RABBITMQ_SERIES.get(name!) ?? [])];
        expect({ name, labels: [...documented].sort() }).toEqual({
          name,
          labels: [...actual].sort(),
        });
      }
    }
  });
});
