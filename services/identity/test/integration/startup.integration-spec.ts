import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

jest.setTimeout(60_000);

const ROOT = join(__dirname, '../../../..');
const MAIN = join(ROOT, 'services/identity/dist/main.js');

/** Runs the built service with an environment; resolves with its exit code and everything it printed. */
function run(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  if (!existsSync(MAIN)) throw new Error('services/identity/dist/main.js is missing: run `npm run build` first');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN], { cwd: ROOT, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`did not exit:\n${output}`));
    }, 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('identity start-up with a bad configuration', () => {
  it('exits 1 naming the variable (PORT=abc)', async () => {
    const { code, output } = await run({ NODE_ENV: 'test', PORT: 'abc' });
    expect(code).toBe(1);
    expect(output).toContain('PORT');
    expect(output).toContain('invalid configuration');
  });

  it('exits 1 naming each bad variable (argon2 cost, line types, IP table)', async () => {
    const { code, output } = await run({
      NODE_ENV: 'test',
      IDENTITY_ARGON2_MEMORY_KIB: '12',
      IDENTITY_SMS_LINE_TYPES: 'MOBILE,CARRIER_PIGEON',
      IDENTITY_IP_COUNTRIES: '10.0.0.0/8=Spain',
    });
    expect(code).toBe(1);
    for (const name of ['IDENTITY_ARGON2_MEMORY_KIB', 'IDENTITY_SMS_LINE_TYPES', 'IDENTITY_IP_COUNTRIES']) expect(output).toContain(name);
  });

  it('in production, refuses to start without real keys, naming them (L3)', async () => {
    const { code, output } = await run({ NODE_ENV: 'production' });
    expect(code).toBe(1);
    for (const name of ['API_KEYS', 'BUS_ENCRYPTION_KEYS', 'JWT_KEYS']) expect(output).toContain(name);
  });
});
