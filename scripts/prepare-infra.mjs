#!/usr/bin/env node
// Makes sure PostgreSQL, Redis and RabbitMQ answer on their standard local
// ports, starting them with the machine's own commands when they do not.
// (docker-compose.yml's infrastructure publishes no ports and has passwords:
// it is not a stand-in for these.)
import { execSync } from 'node:child_process';
import net from 'node:net';

const services = [
  {
    name: 'PostgreSQL',
    port: 5432,
    start: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
  },
  {
    name: 'Redis',
    port: 6379,
    start:
      'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log',
  },
  { name: 'RabbitMQ', port: 5672, start: 'rabbitmq-server -detached' },
];

const open = (port) =>
  new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

for (const service of services) {
  if (await open(service.port)) continue;
  process.stdout.write(`${service.name} is not up on ${service.port}; starting it\n`);
  try {
    execSync(service.start, { stdio: 'inherit', shell: '/bin/bash' });
  } catch (error) {
    process.stderr.write(`could not start ${service.name}: ${error.message}\n`);
    process.exit(1);
  }
  const deadline = Date.now() + 90_000;
  while (!(await open(service.port))) {
    if (Date.now() > deadline) {
      process.stderr.write(`${service.name} did not come up on port ${service.port}\n`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
if (!(await open(5672))) process.exit(1);
// RabbitMQ accepts TCP before its app is fully booted; wait until it answers.
try {
  execSync('rabbitmqctl -q await_startup --timeout 90', { stdio: 'inherit' });
} catch {
  process.stderr.write('RabbitMQ did not finish starting\n');
  process.exit(1);
}
process.stdout.write('infrastructure up: PostgreSQL 5432, Redis 6379, RabbitMQ 5672\n');
