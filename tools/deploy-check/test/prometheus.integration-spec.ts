import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseYaml, readRepoFile, repoPath, requireTool, run } from './support/tools.helper';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}
interface RuleTests {
  rule_files: string[];
  tests: {
    name?: string;
    alert_rule_test?: { eval_time: string; alertname: string; exp_alerts: unknown[] }[];
  }[];
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: { refId: string; expr: string; datasource?: { uid: string } }[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: string }[] };
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function githubSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  return new Set(
    markdown
      .split('\n')
      .filter((l) => /^#{1,6}\s/.test(l))
      .map((l) => githubSlug(l.replace(/^#+\s*/, ''))),
  );
}

/** The code-send failure ratio's two sides (alerts and dashboard): failed tries over tries. */
const FAILED_TRIES = 'notifier_sends_total{priority="critical",outcome=~"failed|unavailable"}';
const TRIES =
  'notifier_sends_total{priority="critical",outcome=~"sent|failed|rejected|unavailable"}';

/** The per-message failure share's two sides: codes failed or dropped over codes that left. */
const NOT_SENT = 'notifier_messages_total{priority="critical",status=~"failed|dropped"}';
const LEFT = 'notifier_messages_total{priority="critical",status=~"sent|failed|dropped"}';

const rules = parseYaml<RuleFile>(readRepoFile('deploy/prometheus/alerts.yml'));
const alerts = rules.groups
  .flatMap((g) => g.rules)
  .filter((r): r is Rule & { alert: string } => typeof r.alert === 'string');

describe('deploy/prometheus/alerts.yml', () => {
  it('passes `promtool check rules`', async () => {
    const result = await run(requireTool('promtool'), [
      'check',
      'rules',
      repoPath('deploy/prometheus/alerts.yml'),
    ]);
    expect(result.stdout).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });

  it('passes its unit tests, `promtool test rules deploy/prometheus/alerts.test.yml`', async () => {
    const result = await run(requireTool('promtool'), ['test', 'rules', 'alerts.test.yml'], {
      cwd: repoPath('deploy/prometheus'),
    });
    expect(`${result.stdout}${result.stderr}`).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });

  it('alerts on open breakers, critical-queue lag, code send failures and growing DLQs, on the agreed metrics', () => {
    const expr = (name: string) => alerts.find((a) => a.alert === name)?.expr ?? '';
    expect(expr('NotifierCarrierBreakerOpen')).toMatch(/notifier_carrier_breaker_state\)? == 2/);
    expect(expr('NotifierCriticalQueueBacklog')).toContain(
      'rabbitmq_queue_messages_ready{queue="notifier.critical"}',
    );
    expect(expr('NotifierCriticalQueueLag')).toContain(
      'bus_queue_lag_seconds_bucket{queue="notifier.critical"}',
    );
    // Failed tries over tries: `skipped` (a carrier passed over, breaker open) is not a try,
    // or the ratio falls to nothing when every breaker is open (alerts.test.yml has the case).
    for (const name of ['CodeSendFailureRateHigh', 'CodeSendFailureRateCritical']) {
      expect(expr(name)).toContain(FAILED_TRIES);
      expect(expr(name)).toContain(TRIES);
    }
    // Per message, once per status: not per carrier try, and `delivered` (which follows `sent`)
    // is not in the denominator.
    expect(expr('CodeMessagesFailing')).toContain(NOT_SENT);
    expect(expr('CodeMessagesFailing')).toContain(LEFT);
    // Codes dropped as expired, not order updates held back under load.
    expect(expr('CodesDroppedExpired')).toContain(
      'notifier_dropped_total{priority="critical",reason="expired"}',
    );
    expect(expr('DeadLetterQueueGrowing')).toContain(
      'rabbitmq_queue_messages{queue=~".*\\\\.dlq"}',
    );
  });

  it('gives every alert a severity, a summary, a description and a runbook section that exists in docs/operations.md', () => {
    const anchors = anchorsOf(readRepoFile('docs/operations.md'));
    expect(alerts.length).toBeGreaterThanOrEqual(5);
    for (const alert of alerts) {
      expect(['warning', 'critical']).toContain(alert.labels?.['severity']);
      expect(alert.annotations?.['summary']).toBeTruthy();
      expect(alert.annotations?.['description']).toBeTruthy();
      const [file, anchor] = String(alert.annotations?.['runbook']).split('#');
      expect(file).toBe('docs/operations.md');
      expect(anchors).toContain(anchor);
    }
  });

  it('has a unit test in which each alert fires and one in which it stays quiet', () => {
    const tests = parseYaml<RuleTests>(readRepoFile('deploy/prometheus/alerts.test.yml'));
    expect(tests.rule_files).toEqual(['alerts.yml']);
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const { alert } of alerts) {
      expect(cases.some((c) => c.alertname === alert && c.exp_alerts.length > 0)).toBe(true);
      expect(cases.some((c) => c.alertname === alert && c.exp_alerts.length === 0)).toBe(true);
    }
  });
});

describe('deploy/grafana/phonegate.json', () => {
  const dashboard = JSON.parse(readRepoFile('deploy/grafana/phonegate.json')) as Dashboard;
  const panels = dashboard.panels.filter((p) => p.type !== 'row');
  const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

  it('has a stable uid, unique panel ids and no overlapping panels', () => {
    expect(dashboard.uid).toBe('phonegate-overview');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          const cell = `${x},${y}`;
          expect(cells.has(cell)).toBe(false);
          cells.add(cell);
        }
      }
    }
  });

  it('reads every panel from the chosen Prometheus data source', () => {
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
    for (const p of panels) {
      expect(p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets?.length).toBeGreaterThan(0);
    }
  });

  it.each([
    ['codes issued', /otp_codes_issued_total/],
    ['codes approved', /otp_checks_total\{outcome="approved"\}/],
    ['codes failed', /otp_checks_total\{outcome!="approved"\}/],
    ['handoff codes', /delivery_codes_issued_total/],
    ['sends by carrier and outcome', /sum by \(carrier, outcome\) \(rate\(notifier_sends_total/],
    ['breaker state', /notifier_carrier_breaker_state/],
    ['queue depth', /rabbitmq_queue_messages_ready/],
    ['queue lag', /histogram_quantile\(0\.99, .*bus_queue_lag_seconds_bucket/],
    ['time to send', /notifier_send_latency_seconds_bucket/],
    ['latency p99', /histogram_quantile\(0\.99, .*http_request_duration_seconds_bucket/],
    ['DLQ', /rabbitmq_queue_messages\{queue=~"\.\*\\\\\.dlq"\}/],
  ])('has a panel for %s', (_, pattern) => {
    expect(exprs.some((e) => pattern.test(e))).toBe(true);
  });

  it('plots the code-send failure ratio the way the alerts compute it', () => {
    expect(
      exprs.some(
        (e) =>
          e ===
          `sum(rate(${FAILED_TRIES}[$__rate_interval])) / sum(rate(${TRIES}[$__rate_interval]))`,
      ),
    ).toBe(true);
  });

  it('plots the per-message failure share by priority the way CodeMessagesFailing computes it for codes', () => {
    const bySide = (selector: string) =>
      `sum by (priority) (rate(${selector.replace('priority="critical",', '')}[$__rate_interval]))`;
    expect(exprs).toContain(`${bySide(NOT_SENT)} / ${bySide(LEFT)}`);
  });

  it('uses only valid PromQL (checked by promtool as recording rules)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dashboard-'));
    try {
      const recording = {
        groups: [
          {
            name: 'dashboard',
            rules: panels.flatMap((p) =>
              (p.targets ?? []).map((t) => ({
                record: `dashboard:panel_${p.id}_${t.refId.toLowerCase()}`,
                expr: t.expr.replaceAll('$__rate_interval', '5m'),
              })),
            ),
          },
        ],
      };
      const file = join(dir, 'dashboard.rules.json');
      writeFileSync(file, JSON.stringify(recording));
      const result = await run(requireTool('promtool'), ['check', 'rules', file]);
      expect(`${result.stdout}${result.stderr}`).toContain(`SUCCESS: ${exprs.length} rules found`);
      expect(result.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
