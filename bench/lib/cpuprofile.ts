/** The parts of a V8 `.cpuprofile` (node --cpu-prof) the bench's profile tools read. */
export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

/**
 * Where a frame's code lives: its package (`typeorm`, `@nestjs/core`), the repo file as source
 * (`services/otp/src/challenges/challenge.service.ts` for dist/*.js), a `node:` module, or
 * `(native)`.
 */
export function whereOf(url: string): string {
  if (!url) return '(native)';
  const path = url.replace('file://', '');
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = path.slice(nm + 'node_modules/'.length).split('/');
    return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? path);
  }
  const repo = /\/(services|libs|tools|bench)\/(.*)$/.exec(path);
  if (repo?.[2]) return `${repo[1]}/${repo[2].replace('/dist/', '/src/').replace(/\.js$/, '.ts')}`;
  return path;
}
