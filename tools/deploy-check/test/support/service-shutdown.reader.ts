import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type ServiceName, repoPath } from './tools.helper';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return entry.endsWith('.ts') && !entry.endsWith('.spec.ts') ? [path] : [];
  });
}

const millis = (text: string) => Number(text.replaceAll('_', ''));

/**
 * The longest a service takes to stop after SIGTERM, from the code: the
 * shutdown timer of libs/platform's bootstrapService (`shutdownTimeoutMs`,
 * its default unless the service's own src passes one), after which the
 * process exits whatever is still draining. A container runtime must wait at
 * least this long before SIGKILL, or in-flight requests and messages are cut.
 */
export function shutdownBoundMs(service: ServiceName): number {
  const bootstrap = readFileSync(repoPath('libs/platform/src/bootstrap.ts'), 'utf8');
  const fallback = /shutdownTimeoutMs \?\? ([\d_]+)/.exec(bootstrap)?.[1];
  if (!fallback)
    throw new Error('libs/platform/src/bootstrap.ts: no default shutdownTimeoutMs found');
  let bound = millis(fallback);
  for (const file of sourceFiles(repoPath('services', service, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/shutdownTimeoutMs:\s*([^,}\n]+)/g)) {
      const value = m[1]!.trim();
      if (!/^[\d_]+$/.test(value))
        throw new Error(`${file}: shutdownTimeoutMs is not a literal (${value}); read it here`);
      bound = Math.max(bound, millis(value));
    }
  }
  return bound;
}

/** `30s`, `1m30s`, `500ms` (compose durations) in milliseconds. */
export function composeDurationMs(text: string): number {
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|us|s|m|h)/g)) {
    const n = Number(m[1]);
    total += n * { us: 0.001, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as 'ms'];
  }
  return total;
}
