import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT, SERVICES, repoPath } from './tools.helper';

/** A metric family as the code declares it, and where. */
export interface DeclaredMetric {
  /** The family name (`notifier_sends_total`, `bus_queue_lag_seconds`). */
  name: string;
  kind: 'counter' | 'gauge' | 'histogram';
  labels: string[];
  /** The packages whose processes export it: one service, or `libs` (every service). */
  owner: string;
  file: string;
}

/** A series name a query can use, with the labels it carries. */
export interface ExportedSeries {
  family: DeclaredMetric;
  labels: Set<string>;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return entry.endsWith('.ts') && !/\.(spec|test)\.ts$/.test(entry) ? [path] : [];
  });
}

const OWNERS: { owner: string; dir: string }[] = [
  { owner: 'libs', dir: 'libs/platform/src' },
  { owner: 'libs', dir: 'libs/messaging/src' },
  ...SERVICES.map((s) => ({ owner: s.name, dir: `services/${s.name}/src` })),
];

const stringList = (text: string) =>
  [...text.matchAll(/'([^']*)'|"([^"]*)"/g)].map((m) => m[1] ?? m[2]!);

/**
 * The string literals of TypeScript source ('…', "…", and the text parts of `…`),
 * skipping comments, so that an apostrophe in a comment does not pair up with a quote.
 */
export function stringLiterals(source: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      i = source.indexOf('\n', i);
      if (i < 0) break;
    } else if (c === '/' && next === '*') {
      i = source.indexOf('*/', i + 2);
      if (i < 0) break;
      i += 2;
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      let text = '';
      while (j < source.length && source[j] !== c) {
        if (source[j] === '\\') {
          text += source[j + 1] ?? '';
          j += 2;
          continue;
        }
        if (c !== '`' && source[j] === '\n') break; // not a string after all
        if (c === '`' && source[j] === '$' && source[j + 1] === '{') {
          out.push(text);
          text = '';
          j = source.indexOf('}', j);
          if (j < 0) return out;
        } else text += source[j];
        j += 1;
      }
      out.push(text);
      i = j + 1;
    } else i += 1;
  }
  return out;
}

/**
 * Every Prometheus metric the services declare, read from their source:
 * - `metrics.counter|gauge|histogram('name', 'help', ['label', ...])` (libs/platform's
 *   MetricsService) and libs/messaging's `counter(registry, 'name', 'help', [...])`;
 * - prom-client's `new Counter|Gauge|Histogram({ name: 'name', ..., labelNames: [...] })`.
 * Every series also carries the `service` label (MetricsService's default label).
 */
export function declaredMetrics(): DeclaredMetric[] {
  const found: DeclaredMetric[] = [];
  for (const { owner, dir } of OWNERS) {
    for (const path of sourceFiles(repoPath(dir))) {
      const text = readFileSync(path, 'utf8');
      const file = relative(ROOT, path);
      const helper =
        /\b(counter|gauge|histogram)(?:<[^>]*>)?\(\s*(?:registry,\s*)?'([a-z_:][a-z0-9_:]*)',\s*(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`[^`]*`)(?:\s*\+\s*(?:'[^']*'|"[^"]*"))*\s*(?:,\s*\[([^\]]*)\])?/g;
      for (const m of text.matchAll(helper))
        found.push({
          name: m[2]!,
          kind: m[1] as DeclaredMetric['kind'],
          labels: stringList(m[3] ?? ''),
          owner,
          file,
        });
      const direct = /new (Counter|Gauge|Histogram)(?:<[^>]*>)?\(\{([\s\S]*?)\}\)/g;
      for (const m of text.matchAll(direct)) {
        const name = /name:\s*'([^']+)'/.exec(m[2]!)?.[1];
        if (!name) continue;
        found.push({
          name,
          kind: m[1]!.toLowerCase() as DeclaredMetric['kind'],
          labels: stringList(/labelNames:\s*\[([^\]]*)\]/.exec(m[2]!)?.[1] ?? ''),
          owner,
          file,
        });
      }
    }
  }
  return found;
}

/** The series names a query may use for the declared families (histograms: `_bucket`, `_sum`, `_count`). */
export function exportedSeries(metrics: readonly DeclaredMetric[]): Map<string, ExportedSeries> {
  const series = new Map<string, ExportedSeries>();
  for (const family of metrics) {
    const labels = new Set([...family.labels, 'service']);
    const names =
      family.kind === 'histogram'
        ? [`${family.name}_bucket`, `${family.name}_sum`, `${family.name}_count`]
        : [family.name];
    for (const name of names)
      series.set(name, {
        family,
        labels: name.endsWith('_bucket') ? new Set([...labels, 'le']) : labels,
      });
  }
  return series;
}

/**
 * The string literals of the code that exports a metric: its service's sources and the
 * libs'; for a metric of the libs (every service exports it), every service's too, since
 * its label values (queue names, patterns) come from the services.
 */
export function literalsOf(owner: string): Set<string> {
  const dirs = OWNERS.filter(
    (o) => owner === 'libs' || o.owner === owner || o.owner === 'libs',
  ).map((o) => o.dir);
  const literals = new Set<string>();
  for (const dir of dirs)
    for (const path of sourceFiles(repoPath(dir)))
      for (const value of stringLiterals(readFileSync(path, 'utf8'))) literals.add(value);
  return literals;
}

/** One `metric{label="value",...}` of a PromQL expression. */
export interface Selector {
  metric: string;
  matchers: { label: string; op: string; value: string }[];
}

const KEYWORDS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'rate',
  'irate',
  'increase',
  'delta',
  'idelta',
  'deriv',
  'histogram_quantile',
  'abs',
  'absent',
  'clamp_min',
  'clamp_max',
  'time',
  'vector',
  'scalar',
  'label_replace',
  'max_over_time',
  'min_over_time',
  'avg_over_time',
  'sum_over_time',
  'count_over_time',
]);

/**
 * The metric selectors of a PromQL expression (enough of PromQL for our rules and
 * panels: names, `{...}` matchers, durations and `by (...)` lists are told apart).
 */
export function selectorsOf(expr: string): Selector[] {
  const text = expr
    .replace(/\[[^\]]*\]/g, ' ') // range selectors, [5m]
    .replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, ' ') // grouping label lists
    .replace(/"(?:[^"\\]|\\.)*"(?![^{]*\})/g, ' '); // strings outside matchers (printf formats)
  const selectors: Selector[] = [];
  for (const m of text.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{([^}]*)\})?/g)) {
    const metric = m[1]!;
    if (KEYWORDS.has(metric) || /^\d/.test(metric)) continue;
    // A bare word right after a number (1e3) or a duration unit is no metric; ours have a `_`.
    if (!metric.includes('_')) continue;
    const matchers = [...(m[3] ?? '').matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map(
      (x) => ({ label: x[1]!, op: x[2]!, value: x[3]! }),
    );
    selectors.push({ metric, matchers });
  }
  return selectors;
}

/** The `by (...)` labels of an expression, per aggregation. */
export function groupingLabelsOf(expr: string): string[] {
  return [...expr.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((m) =>
    m[1]!
      .split(',')
      .map((l) => l.trim())
      .filter(Boolean),
  );
}

/**
 * The plain values a matcher asks for: `"failed"`, or each word of `"failed|unavailable"`;
 * none for a real regular expression (`".*\\.dlq"`) or a negative matcher.
 */
export function wantedValues(matcher: Selector['matchers'][number]): string[] {
  if (matcher.op === '=') return [matcher.value];
  if (
    matcher.op === '=~' &&
    /^[A-Za-z0-9_.-]+(\|[A-Za-z0-9_.-]+)*$/.test(matcher.value.replace(/\\\\\./g, '.'))
  )
    return matcher.value.replace(/\\\\\./g, '.').split('|');
  return [];
}
