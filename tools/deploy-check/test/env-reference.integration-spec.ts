import {
  CONFIGURATION_DOC,
  type DocRow,
  readConfigurationDoc,
} from './support/configuration-doc.reader';
import {
  type ComposeEnvironments,
  type DeployedEnv,
  composeEnv,
  kubernetesEnv,
  renderedKubernetes,
  resolvedCompose,
  valueIn,
} from './support/deployed-env.reader';
import { type ReadVariable, serviceEnv, sharedReads } from './support/service-env.reader';
import { SERVICES, type ServiceName, readRepoFile } from './support/tools.helper';

/**
 * The configuration reference that cannot go stale. What each service reads is
 * taken from its code (the exported zod schema of src/config/<name>.config.ts,
 * and its own loader run with NODE_ENV=production for what production cannot
 * do without); what the deployments set, from docker-compose as
 * `docker-compose config` resolves it and from the production kustomize
 * build's Deployments (env, envFrom ConfigMap / Secret). Then:
 * - a variable without a default, or with a development-only one, is set in
 *   both deployments; so is one whose default is this machine (in a container,
 *   localhost is the container itself);
 * - a deployment sets nothing the service does not read (typos, leftovers);
 * - the README's configuration reference lists exactly what each service reads, with the
 *   schema's default.
 */

const NAMES = SERVICES.map((s) => s.name);
const reads = new Map(NAMES.map((name) => [name, serviceEnv(name)]));
/** Read by every service container outside the service schemas: libs/*, the image's entry point. */
const shared = sharedReads();
const doc = readConfigurationDoc(readRepoFile(CONFIGURATION_DOC));
const EVERY_SERVICE = 'Every service';

let compose: ComposeEnvironments;
let deployed: Map<ServiceName, DeployedEnv[]>;

beforeAll(async () => {
  compose = await resolvedCompose();
  const kubernetes = renderedKubernetes();
  deployed = new Map(
    NAMES.map((name) => [name, [composeEnv(compose, name), kubernetesEnv(kubernetes, name)]]),
  );
});

/** How the service's config loader sees a value: empty counts as unset. */
const isSet = (value: string | null | undefined): boolean =>
  value !== undefined && value !== null && value !== '';

const placesOf = (env: DeployedEnv) =>
  env.places.map((p) => p.place).join(' or ') || `${env.deployment} (no environment at all)`;

/** A default naming this machine: inside a container that is the container itself. */
const THIS_MACHINE = /(^|[/@:])(localhost|127\.0\.0\.1|\[::1\])([:/]|$)/;

/** What the default column must start with for a variable that production can do without. */
function documentedDefault(v: ReadVariable): string {
  switch (v.default.kind) {
    case 'value':
      return v.default.value === '' ? '(empty)' : `\`${v.default.value}\``;
    case 'optional':
      return '(unset)';
    case 'none':
      return '(none)';
  }
}

function rowProblems(service: string, file: string, v: ReadVariable, row: DocRow): string[] {
  const at = `${CONFIGURATION_DOC}:${row.line}: ${v.name}`;
  const problems: string[] = [];
  if (v.productionRequired) {
    if (row.production !== 'required')
      problems.push(
        `${at}: the production column must say "required" (${service} refuses to start with NODE_ENV=production without it)`,
      );
    const expected = v.default.kind === 'none' ? '(none)' : 'dev only';
    if (!row.default.startsWith(expected))
      problems.push(`${at}: the default must start with "${expected}" (${file})`);
  } else {
    if (row.production !== '')
      problems.push(
        `${at}: the production column must be empty (${service} starts in production without it)`,
      );
    const expected = documentedDefault(v);
    if (!row.default.startsWith(expected))
      problems.push(`${at}: the default is ${expected} in ${file}, the table says ${row.default}`);
  }
  if (!row.meaning) problems.push(`${at}: the meaning is empty`);
  return problems;
}

describe.each(NAMES)('the environment %s reads', (name) => {
  const env = reads.get(name)!;
  const variables = [...env.variables.values()];

  it('comes from its config module: the schema’s keys, and its loader for what production needs', () => {
    expect(variables.map((v) => v.name)).toEqual(
      expect.arrayContaining(['NODE_ENV', 'PORT', 'LOG_LEVEL', 'DATABASE_URL', 'RABBITMQ_URL']),
    );
    // SECURITY L3: no service runs in production on development keys.
    expect(variables.filter((v) => v.productionRequired).map((v) => v.name)).toEqual(
      expect.arrayContaining(['API_KEYS', 'BUS_ENCRYPTION_KEYS']),
    );
  });

  it('is found where each deployment says it is (every envFrom ConfigMap / Secret exists)', () => {
    expect(deployed.get(name)!.flatMap((d) => d.problems)).toEqual([]);
  });

  it('is set in docker-compose.yml and in Kubernetes when it has no default, or a development-only one', () => {
    const problems: string[] = [];
    for (const v of variables) {
      const why =
        v.default.kind === 'none'
          ? 'it has no default'
          : v.productionRequired
            ? 'with NODE_ENV=production it has no default'
            : undefined;
      if (!why) continue;
      for (const d of deployed.get(name)!) {
        if (!isSet(valueIn(d, v.name)))
          problems.push(
            `${v.name}: ${name} needs it (${why}), but it is not set in ${placesOf(d)}`,
          );
      }
    }
    expect(problems).toEqual([]);
  });

  it('is set in both deployments when its default is this machine (localhost in a container is the container)', () => {
    const problems: string[] = [];
    for (const v of variables) {
      if (v.default.kind !== 'value' || !THIS_MACHINE.test(v.default.value)) continue;
      for (const d of deployed.get(name)!) {
        if (!isSet(valueIn(d, v.name)))
          problems.push(
            `${v.name}: its default ${v.default.value} is the container itself, but it is not set in ${placesOf(d)}`,
          );
      }
    }
    expect(problems).toEqual([]);
  });

  it('includes every variable that a deployment sets for it (a variable it ignores is a typo or a leftover)', () => {
    const problems: string[] = [];
    for (const d of deployed.get(name)!) {
      for (const place of d.places) {
        for (const key of place.variables.keys()) {
          if (!env.variables.has(key) && !shared.has(key))
            problems.push(
              `${key}: set in ${place.place}, but ${name} does not read it (${env.file})`,
            );
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it(`is listed in ${CONFIGURATION_DOC} under "### ${name}", exactly, with the schema’s defaults`, () => {
    const section = doc.sections.get(name);
    if (!section) {
      expect(`${CONFIGURATION_DOC} has no section "### ${name}"`).toBe('');
      return;
    }
    const problems: string[] = [];
    const rows = new Map<string, DocRow>();
    for (const row of section.rows) {
      if (rows.has(row.variable))
        problems.push(
          `${CONFIGURATION_DOC}:${row.line}: ${row.variable} is listed twice under ### ${name}`,
        );
      rows.set(row.variable, row);
      if (!env.variables.has(row.variable))
        problems.push(
          `${CONFIGURATION_DOC}:${row.line}: ${row.variable} is listed under ### ${name}, but ${name} does not read it (${env.file})`,
        );
    }
    for (const v of variables) {
      const row = rows.get(v.name);
      if (!row)
        problems.push(
          `${v.name}: ${name} reads it (${env.file}), but ### ${name} of ${CONFIGURATION_DOC} does not list it`,
        );
      else problems.push(...rowProblems(name, env.file, v, row));
    }
    expect(problems).toEqual([]);
  });
});

describe(CONFIGURATION_DOC, () => {
  it('is one table a section, one variable a row', () => {
    expect(doc.problems).toEqual([]);
  });

  it(`lists under "### ${EVERY_SERVICE}" exactly what every container reads outside the service schemas`, () => {
    // Variables of every service's schema are in the service sections already.
    const expected = [...shared.keys()].filter(
      (key) => !NAMES.every((name) => reads.get(name)!.variables.has(key)),
    );
    const rows = doc.sections.get(EVERY_SERVICE)?.rows ?? [];
    const problems = [
      ...expected
        .filter((key) => !rows.some((r) => r.variable === key))
        .map(
          (key) =>
            `${key}: read by ${shared.get(key)!.join(', ')}, but ### ${EVERY_SERVICE} of ${CONFIGURATION_DOC} does not list it`,
        ),
      ...rows
        .filter((r) => !expected.includes(r.variable))
        .map(
          (r) =>
            `${CONFIGURATION_DOC}:${r.line}: ${r.variable} is listed under ### ${EVERY_SERVICE}, but no library or the image's entry point reads it`,
        ),
      ...rows
        .filter((r) => !r.default || !r.meaning)
        .map(
          (r) =>
            `${CONFIGURATION_DOC}:${r.line}: ${r.variable}: default and meaning must not be empty`,
        ),
    ];
    expect(problems).toEqual([]);
  });

  it('is in the README: a table a service under its configuration reference, and no stale variable', () => {
    const readme = readRepoFile('README.md');
    const section =
      /^## Configuration reference\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(readme)?.[1] ?? '';
    for (const name of [...NAMES, EVERY_SERVICE]) expect(section).toContain(`\n### ${name}\n`);
    const named = [...section.matchAll(/`([A-Z][A-Z0-9]*_[A-Z0-9_]+|NODE_ENV|PORT)`/g)].map(
      (m) => m[1]!,
    );
    expect(named.length).toBeGreaterThan(0);
    const everyService = new Set(doc.sections.get(EVERY_SERVICE)?.rows.map((r) => r.variable));
    expect(
      named
        .filter(
          (key) =>
            !everyService.has(key) && !NAMES.some((name) => reads.get(name)!.variables.has(key)),
        )
        .map(
          (key) => `${key}: named in README.md's configuration reference, but no service reads it`,
        ),
    ).toEqual([]);
  });
});

describe('docs/operations.md’s table of the deployed environment', () => {
  it('names only variables that something reads or that docker-compose.yml sets', () => {
    const text = readRepoFile('docs/operations.md');
    const section = /^## Configuration \(environment\)\n([\s\S]*?)(?=^## )/m.exec(text)?.[1] ?? '';
    const named = section
      .split('\n')
      .filter((line) => line.startsWith('| `'))
      .flatMap((line) =>
        [...(line.split('|')[1] ?? '').matchAll(/`([A-Z_][A-Z0-9_]*)`/g)].map((m) => m[1]!),
      );
    expect(named.length).toBeGreaterThan(10);
    const known = new Set<string>([
      ...NAMES.flatMap((name) => [...reads.get(name)!.variables.keys()]),
      ...shared.keys(),
      ...Object.values(compose.services).flatMap((s) =>
        Array.isArray(s.environment)
          ? s.environment.map((line) => line.split('=')[0]!)
          : Object.keys(s.environment ?? {}),
      ),
    ]);
    expect(
      named
        .filter((key) => !known.has(key))
        .map((key) => `${key}: in docs/operations.md, but nothing reads or sets it`),
    ).toEqual([]);
  });
});
