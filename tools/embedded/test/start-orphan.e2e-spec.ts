/**
 * `npm start` runs `sh -c "node scripts/start.mjs"`; a supervisor (or a user's
 * `kill`) stopping `npm start` with SIGTERM ends npm and that shell, and the
 * shell does not pass the signal on. scripts/start.mjs must then notice that it
 * was orphaned and stop the platform, or the platform keeps running unseen and
 * holds the port (the next `npm start` fails with EADDRINUSE).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '@phonegate/stack';

jest.setTimeout(180_000);

const ROOT = join(__dirname, '../../..');

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const listening = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

describe('npm start stopped by a signal its shell does not pass on', () => {
  let shell: ChildProcess;
  let startPid = 0;
  let output = '';

  afterAll(async () => {
    // Whatever the outcome, leave nothing running: start.mjs passes SIGTERM on to the platform.
    if (startPid && alive(startPid)) process.kill(startPid, 'SIGTERM');
    if (shell && shell.exitCode === null && shell.signalCode === null) shell.kill('SIGKILL');
    for (let i = 0; i < 40 && startPid && alive(startPid); i++) await new Promise((r) => setTimeout(r, 250));
  });

  it('stops the platform and frees the port once its parent is gone', async () => {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: process.env['HOME'], PORT: String(port), LOG_LEVEL: 'warn' };
    // What npm does: a shell runs the script; the shell, not the script, is npm's child.
    shell = spawn('sh', ['-c', `"${process.execPath}" scripts/start.mjs & echo "pid=$!"; wait`], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    shell.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    shell.stderr?.on('data', (d: Buffer) => (output += d.toString()));

    const deadline = Date.now() + 120_000;
    for (;;) {
      const m = /pid=(\d+)/.exec(output);
      if (m) startPid = Number(m[1]);
      if (startPid) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1_000) });
          if (res.ok) break;
        } catch {
          // not up yet
        }
      }
      if (Date.now() > deadline) throw new Error(`embedded mode not up: ${output.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 500));
    }

    const shellGone = new Promise((r) => shell.once('exit', r));
    shell.kill('SIGTERM');
    await shellGone;

    // Orphaned, start.mjs stops the platform within a few seconds and exits.
    let freed = false;
    for (let i = 0; i < 60 && !freed; i++) {
      await new Promise((r) => setTimeout(r, 500));
      freed = !alive(startPid) && !(await listening(port));
    }
    expect({ startMjsRunning: alive(startPid), portInUse: await listening(port) }).toEqual({ startMjsRunning: false, portInUse: false });
  });
});
