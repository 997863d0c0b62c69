import net from 'node:net';

/** What a test can do to the connections that go through a Redis proxy. */
export interface RedisProxy {
  url: string;
  /** The next reply from Redis is dropped and the connection cut (the command ran, its answer is lost); resolves when that happened. */
  cutAtNextReply: () => Promise<void>;
  /** The next command is dropped and the connection cut (the command never reaches Redis); resolves when that happened. */
  cutAtNextCommand: () => Promise<void>;
  /** Redis stalls, as under SIGSTOP: what the client sends is held (connections stay open), nothing is answered. */
  pause: () => void;
  /** Redis goes on: what was held is sent, in order. */
  resume: () => void;
  close: () => Promise<void>;
}

/** A TCP proxy in front of the real Redis that can stall it or cut a connection at a chosen moment. */
export async function startRedisProxy(target: URL): Promise<RedisProxy> {
  const sockets = new Set<net.Socket>();
  const resumes = new Set<() => void>();
  let paused = false;
  /** A cut asked for, by direction: called once the connection it hit is cut. */
  const cuts: { command?: () => void; reply?: () => void } = {};
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    sockets.add(client).add(upstream);
    const held: Buffer[] = [];
    const flush = (): void => {
      for (const chunk of held.splice(0)) upstream.write(chunk);
    };
    resumes.add(flush);
    const close = (): void => {
      resumes.delete(flush);
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    /** Passes a chunk on, unless a cut was asked for this direction: then the connection is cut. */
    const relay =
      (direction: keyof typeof cuts, pass: (chunk: Buffer) => void) =>
      (chunk: Buffer): void => {
        const done = cuts[direction];
        if (!done) return pass(chunk);
        cuts[direction] = undefined;
        close();
        done();
      };
    client.on(
      'data',
      relay('command', (chunk) => {
        if (paused) held.push(chunk);
        else upstream.write(chunk);
      }),
    );
    upstream.on(
      'data',
      relay('reply', (chunk) => client.write(chunk)),
    );
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    cutAtNextReply: () => new Promise<void>((resolve) => (cuts.reply = resolve)),
    cutAtNextCommand: () => new Promise<void>((resolve) => (cuts.command = resolve)),
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
      for (const flush of resumes) flush();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
