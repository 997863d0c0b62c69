#!/usr/bin/env node
// The workspace's module boundaries (eslint.config.mjs: no service imports
// another, libs/contracts imports nothing of ours), checked for real.
//
// Nx's ESLint rule reads the project graph from Nx's cache and, when there is
// none (a fresh clone, CI), skips itself with a warning: `eslint .` alone then
// passes whatever the imports. This script builds the graph first, then runs
// only that rule (no type information needed, ~20 s) with the repo's own
// config.
//
//   node scripts/check-boundaries.mjs                 every file of libs/, services/, tools/, bench/
//   node scripts/check-boundaries.mjs --probe <file> <specifier> [<file> <specifier> ...]
//       lints the one line `import '<specifier>';` as if it were <file>, for
//       each pair, and prints the rule's messages of each as a JSON array of
//       arrays (how tests show the rule fires)
//
// Exits 1 when a boundary is crossed, 2 when the check itself cannot run.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

process.env.NX_DAEMON = 'false';
process.env.NX_NO_CLOUD = 'true';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RULE = '@nx/enforce-module-boundaries';

async function main() {
  process.chdir(root);
  const { createProjectGraphAsync } = await import('@nx/devkit');
  await createProjectGraphAsync({ exitOnError: false });

  const { ESLint } = await import('eslint');
  const eslint = new ESLint({
    cwd: root,
    ruleFilter: ({ ruleId }) => ruleId === RULE,
    // Only the boundary rule runs, so no TypeScript program is built, and the other rules'
    // eslint-disable comments look unused: not this check's business.
    overrideConfig: {
      languageOptions: { parserOptions: { project: null, projectService: false } },
      linterOptions: { reportUnusedDisableDirectives: 'off' },
    },
  });

  const args = process.argv.slice(2);
  if (args[0] === '--probe') {
    const pairs = args.slice(1);
    if (pairs.length === 0 || pairs.length % 2 !== 0) throw new Error('usage: --probe <file> <specifier> [...]');
    const out = [];
    for (let i = 0; i < pairs.length; i += 2) {
      const [result] = await eslint.lintText(`import '${pairs[i + 1]}';\n`, { filePath: path.resolve(root, pairs[i]) });
      out.push((result?.messages ?? []).map(({ ruleId, message }) => ({ ruleId, message })));
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }

  const results = await eslint.lintFiles(['libs', 'services', 'tools', 'bench']);
  // The rule's findings, and files it could not read (a parse error hides their imports).
  const problems = results.flatMap((r) =>
    r.messages
      .filter((m) => m.ruleId === RULE || m.fatal)
      .map((m) => `${path.relative(root, r.filePath)}:${m.line}  ${m.ruleId ?? 'eslint'}  ${m.message}`),
  );
  for (const line of problems) process.stdout.write(`${line}\n`);
  process.stdout.write(`module boundaries: ${results.length} files, ${problems.length} problems\n`);
  if (problems.length > 0) process.exitCode = 1;
}

main().catch((error) => {
  process.stderr.write(`check-boundaries: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 2;
});
