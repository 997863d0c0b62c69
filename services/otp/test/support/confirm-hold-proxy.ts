import { connect, createServer, type Server, type Socket } from 'node:net';
import { OtpHarness } from './otp-harness';

/**
 * A TCP relay between the service and RabbitMQ that can hold back what the
 * broker says: while held, everything the service writes still reaches the
 * broker (its publishes are routed and queued), but the broker's answers (the
 * publisher confirms among them) wait here until released. A publish made
 * while held is at the broker, and its confirm "never comes" in time: the
 * uncertain outcome of a crash drill, produced for real.
 */
export class ConfirmHoldProxy {
  private server: Server | undefined;
  private held = false;
  private cutOff = false;
  private readonly pipes = new Set<{ client: Socket; upstream: Socket; backlog: Buffer[] }>();

  constructor(private readonly target = { host: '127.0.0.1', port: 5672 }) {}

  async start(): Promise<number> {
    this.server = createServer((client) => {
      if (this.cutOff) {
        client.destroy();
        return;
      }
      const upstream = connect(this.target.port, this.target.host);
      const pipe = { client, upstream, backlog: [] as Buffer[] };
      this.pipes.add(pipe);
      client.pipe(upstream);
      upstream.on('data', (chunk: Buffer) => {
        if (this.held) pipe.backlog.push(chunk);
        else client.write(chunk);
      });
      const end = () => {
        this.pipes.delete(pipe);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    if (!address || typeof address === 'string') throw new Error('proxy has no port');
    return address.port;
  }

  /** The broker's answers wait from now on. */
  hold(): void {
    this.held = true;
  }

  /** Delivers what was held back, in order, and stops holding. */
  release(): void {
    this.held = false;
    for (const pipe of this.pipes) {
      for (const chunk of pipe.backlog) pipe.client.write(chunk);
      pipe.backlog = [];
    }
  }

  /** The broker is gone: every connection is dropped and new ones are refused until `mend`. */
  cut(): void {
    this.cutOff = true;
    for (const pipe of this.pipes) {
      pipe.client.destroy();
      pipe.upstream.destroy();
    }
    this.pipes.clear();
  }

  mend(): void {
    this.cutOff = false;
  }

  async close(): Promise<void> {
    this.release();
    for (const pipe of this.pipes) {
      pipe.client.destroy();
      pipe.upstream.destroy();
    }
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }
}

/**
 * An otp harness whose service reaches RabbitMQ through a `ConfirmHoldProxy` (the tap and
 * "identity" connect directly), started before and stopped after the describe block it is
 * called in.
 */
export function proxiedOtp(env: Record<string, string>): {
  h: OtpHarness;
  proxy: ConfirmHoldProxy;
} {
  const proxy = new ConfirmHoldProxy();
  let port = 0;
  const h = new OtpHarness(env, {
    serviceBusUrl: (url) => url.replace('127.0.0.1:5672', `127.0.0.1:${port}`),
  });
  beforeAll(async () => {
    port = await proxy.start();
    await h.start();
  }, 60_000);
  afterAll(async () => {
    await h.stop();
    await proxy.close();
  }, 60_000);
  return { h, proxy };
}
