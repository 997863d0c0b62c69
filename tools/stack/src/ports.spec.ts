import { readFileSync } from 'node:fs';
import net from 'node:net';
import { freePort } from './ports';

describe('freePort', () => {
  it('never hands out a port twice in one process, even before any is bound', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 300; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
  });

  it('hands out ports below the ephemeral range, each bindable right away', async () => {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    const port = await freePort();
    expect(port).toBeLessThan(low ?? 32_768);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '0.0.0.0', resolve);
    });
    await new Promise((r) => server.close(r));
  });
});
