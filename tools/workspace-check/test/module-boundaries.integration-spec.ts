import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const root = path.resolve(__dirname, '../../..');
const script = path.join(root, 'scripts/check-boundaries.mjs');
const run = promisify(execFile);

interface RuleMessage {
  ruleId: string | null;
  message: string;
}

/** Runs the boundary check (Nx project graph built first, as in CI's fresh clone). */
async function check(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [script, ...args], { cwd: root, maxBuffer: 16 << 20 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Where an import is written → what it imports → whether the workspace's rule must refuse it. */
const PROBES: ReadonlyArray<[file: string, specifier: string, refused: boolean]> = [
  ['services/identity/src/probe.ts', '@phonegate/otp', true],
  ['services/otp/src/probe.ts', '../../identity/src/service', true],
  ['services/delivery-otp/src/probe.ts', '@phonegate/notifier', true],
  ['libs/contracts/src/probe.ts', '@phonegate/platform', true],
  ['libs/platform/src/probe.ts', '@phonegate/identity', true],
  ['services/identity/src/probe.ts', '@phonegate/carrier-sim', true],
  ['services/notifier/test/support/probe.ts', '@phonegate/identity', true],
  ['tools/embedded/src/probe.ts', '../../../services/otp/src/challenges/challenge.service', true],
  ['services/identity/src/probe.ts', '@phonegate/platform', false],
  ['services/notifier/test/support/probe.ts', '@phonegate/carrier-sim', false],
  ['libs/platform/src/probe.ts', '@phonegate/contracts', false],
  ['tools/embedded/src/probe.ts', '../../../services/otp/dist/service.js', false],
];

describe('module boundaries (eslint.config.mjs, Nx tags)', () => {
  jest.setTimeout(180_000);

  it('refuses an import across a boundary and lets the allowed ones through', async () => {
    const { code, stdout, stderr } = await check('--probe', ...PROBES.flatMap(([file, specifier]) => [file, specifier]));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const answers = JSON.parse(stdout) as RuleMessage[][];
    const refused = answers.map((messages) => messages.some((m) => m.ruleId === '@nx/enforce-module-boundaries'));
    expect(PROBES.map(([file, specifier], i) => `${file} → ${specifier}: ${refused[i] ? 'refused' : 'allowed'}`)).toEqual(
      PROBES.map(([file, specifier, expected]) => `${file} → ${specifier}: ${expected ? 'refused' : 'allowed'}`),
    );
  });

  it('finds no import across a boundary in libs, services, tools and bench', async () => {
    const { code, stdout, stderr } = await check();
    expect(stdout).toMatch(/module boundaries: \d{3,} files, 0 problems/);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  });
});
