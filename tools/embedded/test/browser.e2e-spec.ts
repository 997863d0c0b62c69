/**
 * The dev inbox in a real browser (Debian's Chromium driven by
 * playwright-core) against the REAL embedded mode: `node
 * tools/embedded/dist/main.js` with no infrastructure (every service in one
 * process on PGlite, the in-memory Redis and broker, the dev-inbox carrier,
 * behind the gateway). The try-it panel registers and verifies a number, turns
 * two-step on and signs in from a new device; the sign-in code is read off the
 * inbox list on the page, which got it live over SSE. A screenshot goes to
 * artifacts/browser/dev-inbox.png. Needs `npm run build` first (as `npm test`
 * does) and /usr/bin/chromium (scripts/install-tools.sh).
 */
import { freePort } from '@phonegate/stack';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

jest.setTimeout(240_000);

const ROOT = resolve(__dirname, '../../..');
const MAIN = join(ROOT, 'tools/embedded/dist/main.js');
const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(ROOT, 'artifacts/browser/dev-inbox.png');
const START_LINE = /is up in [\d.]+ s/;


async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

describe('dev inbox in a browser, against the real embedded mode', () => {
  let child: ChildProcess | undefined;
  let exited: Promise<number | null> | undefined;
  let output = '';
  let browser: Browser | undefined;
  let page: Page;
  let base = '';
  const pageProblems: string[] = [];
  // Everything that must never be logged by the process.
  const secrets = { codes: [] as string[], tokens: [] as string[], numbers: [] as string[], passwords: [] as string[] };

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first`);
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/install-tools.sh (apt-get install chromium)`);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // No infrastructure: embedded mode must not find any URL, key or port of a real stack.
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), LOG_LEVEL: 'info' };
    for (const name of ['RABBITMQ_URL', 'REDIS_URL', 'DATABASE_URL', 'API_KEYS', 'NODE_ENV']) delete env[name];
    const proc = spawn(process.execPath, [MAIN], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    exited = new Promise((r) => proc.once('exit', (code) => r(code)));
    proc.stdout?.on('data', (c: Buffer) => (output += c.toString('utf8')));
    proc.stderr?.on('data', (c: Buffer) => (output += c.toString('utf8')));
    let gone = false;
    void exited.then(() => (gone = true));
    await until(
      'embedded mode start line',
      () => {
        if (gone) throw new Error(`embedded mode exited before it started:\n${output.slice(-4000)}`);
        return START_LINE.test(output) ? true : undefined;
      },
      180_000,
    );
    await until('GET /dev/inbox 200', async () => ((await fetch(`${base}/dev/inbox`).catch(() => undefined))?.status === 200 ? true : undefined), 30_000);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (e) => pageProblems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') pageProblems.push(`console: ${m.text()}`);
    });
  }, 240_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([exited, new Promise((r) => (timer = setTimeout(() => r('timeout'), 15_000)))]);
      clearTimeout(timer);
      if (code === 'timeout') {
        child.kill('SIGKILL');
        await exited;
      }
    }
  }, 30_000);

  it('walks "register and verify a number" then "sign in from a new device with a code" in the try-it panel', async () => {
    await page.goto(`${base}/dev/inbox`);
    await expect(page.getByTestId('embedded-banner').textContent()).resolves.toContain('Embedded mode — not for production');
    await page.locator('#stream-state[data-state="live"]').waitFor();

    // (a) register and verify a number: the code is taken from the inbox by the panel's button.
    const number = await page.locator('#a-number').inputValue();
    expect(number).toMatch(/^\+141555501\d\d$/);
    secrets.numbers.push(number);
    secrets.passwords.push(await page.locator('#a-password').inputValue());
    await page.locator('#a-create').click();
    await page.locator('#a-state[data-state="account_created"]').waitFor();
    await page.locator('#a-add-phone').click();
    await page.locator('#a-state[data-state="code_sent"]').waitFor();
    await expect(page.locator('#a-challenge').textContent()).resolves.toContain('Code sent by sms');
    const verification = page.locator(`li[data-testid="inbox-message"][data-to="${number}"]`).filter({ hasText: 'verification code' }).first();
    const verificationCode = (await verification.getByTestId('message-code').textContent())?.trim() ?? '';
    expect(verificationCode).toMatch(/^\d{6}$/);
    secrets.codes.push(verificationCode);
    await page.locator('#a-use-inbox-code').click();
    await until('the code from the inbox in #a-code', async () => ((await page.locator('#a-code').inputValue()) === verificationCode ? true : undefined), 20_000);
    await page.locator('#a-verify').click();
    await page.locator('#a-state[data-state="verified"]').waitFor();

    // (b) two-step on, then a device the account never used signs in and is challenged.
    await page.locator('#b-two-step').click();
    await page.locator('#b-state[data-state="two_step_on"]').waitFor();
    await page.locator('#b-sign-in').click();
    await page.locator('#b-state[data-state="challenged"]').waitFor();
    // The sign-in code, read off the inbox list on the page (it arrived over SSE: no reload).
    const signInMessage = page.locator(`li[data-testid="inbox-message"][data-to="${number}"]`).filter({ hasText: 'sign-in code' }).first();
    await signInMessage.waitFor();
    expect(await signInMessage.getAttribute('data-channel')).toBe('sms');
    expect(await signInMessage.getByTestId('message-carrier').textContent()).toBe('dev-inbox');
    const code = (await signInMessage.getByTestId('message-code').textContent())?.trim() ?? '';
    expect(code).toMatch(/^\d{6}$/);
    expect(code).not.toBe(verificationCode);
    expect(await signInMessage.getByTestId('message-body').textContent()).toContain(`#${code}`);
    secrets.codes.push(code);
    await page.locator('#b-code').fill(code);
    await page.locator('#b-verify').click();
    await page.locator('#b-state[data-state="signed_in"]').waitFor();
    const token = (await page.getByTestId('session-token').textContent())?.trim() ?? '';
    expect(token).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    secrets.tokens.push(token);

    // The log pane shows each request with its answer.
    const statusOf = async (method: string, path: RegExp) => {
      const entries = page.locator(`li[data-testid="log-entry"][data-method="${method}"]`);
      for (let i = 0; i < (await entries.count()); i++) {
        if (path.test((await entries.nth(i).getAttribute('data-path')) ?? '')) return entries.nth(i).getAttribute('data-status');
      }
      return undefined;
    };
    await expect(statusOf('POST', /^\/v1\/accounts$/)).resolves.toBe('201');
    await expect(statusOf('POST', /^\/v1\/accounts\/[^/]+\/phones$/)).resolves.toBe('202');
    await expect(statusOf('POST', /\/phones\/[^/]+\/verify$/)).resolves.toBe('200');
    await expect(statusOf('PUT', /\/two-step$/)).resolves.toBe('200');
    await expect(statusOf('POST', /^\/v1\/sessions$/)).resolves.toBe('202');
    await expect(statusOf('POST', /^\/v1\/sessions\/[^/]+\/verify$/)).resolves.toBe('201');

    // The inbox shows every message newest first, with the security e-mail for the added number.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-return -- DOM nodes inside the page
    const times = await page.locator('li[data-testid="inbox-message"] time').evaluateAll((nodes): string[] => nodes.map((n) => n.getAttribute('datetime') ?? ''));
    expect(times.length).toBeGreaterThanOrEqual(2);
    expect([...times].sort().reverse()).toEqual(times);

    mkdirSync(join(ROOT, 'artifacts/browser'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
    expect(pageProblems).toEqual([]);
  });

  it('keeps codes, tokens, passwords and numbers out of the process logs', () => {
    expect(secrets.codes.length).toBe(2);
    const found: string[] = [];
    const standalone = (v: string) => new RegExp(`(?<![A-Za-z0-9])${v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![A-Za-z0-9])`);
    for (const [kind, values] of Object.entries(secrets)) {
      values.forEach((v, i) => {
        if (v && (kind === 'codes' ? standalone(v).test(output) : output.includes(v))) found.push(`${kind}[${i}]`);
      });
    }
    expect(found).toEqual([]);
  });
});
