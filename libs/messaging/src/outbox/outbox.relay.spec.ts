import pino from 'pino';
import type { DataSource } from 'typeorm';
import { OutboxRelay, retryDelayMs } from './outbox.relay';

/** A DataSource stand-in: one outbox row until it is deleted (the relay's SQL, recognised by verb). */
function fakeOutbox() {
  let rows = [{ id: 'r1', routing_key: 'a.b.v1', envelope: { id: 'e1' } }];
  const manager = {
    query: async (sql: string) => {
      if (sql.includes('SELECT')) return rows;
      if (sql.startsWith('DELETE')) rows = [];
      return [];
    },
  };
  const dataSource = {
    subscribers: [] as unknown[],
    transaction: async <T>(work: (m: typeof manager) => Promise<T>) => work(manager),
  };
  return { dataSource: dataSource as unknown as DataSource, left: () => rows.length };
}

describe('OutboxRelay while the bus is down', () => {
  it('says so once, not at every commit, and relays within a second of the bus coming back', async () => {
    const lines: { msg: string }[] = [];
    const logger = pino(
      { level: 'info' },
      { write: (l: string) => void lines.push(JSON.parse(l) as { msg: string }) },
    );
    const outbox = fakeOutbox();
    let healthy = false;
    const published: string[] = [];
    const relay = new OutboxRelay({
      dataSource: outbox.dataSource,
      logger,
      pollIntervalMs: 1_000,
      bus: {
        isHealthy: () => healthy,
        publishEnvelope: async (envelope) => void published.push(envelope.id),
      },
    });
    relay.start();
    try {
      // Commits keep kicking the relay during the outage (a service under load).
      for (let i = 0; i < 50; i++) {
        relay.kick();
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(published).toEqual([]);
      healthy = true; // the broker is back; no more commits
      const back = Date.now();
      while (published.length === 0 && Date.now() - back < 5_000)
        await new Promise((r) => setTimeout(r, 20));
      expect(published).toEqual(['e1']);
      expect(Date.now() - back).toBeLessThan(1_000);
      expect(outbox.left()).toBe(0);
      expect(lines.filter((l) => /bus not connected|batch failed/.test(l.msg))).toHaveLength(1);
      expect(lines.some((l) => l.msg === 'bus connected again; outbox relay resumes')).toBe(true);
    } finally {
      await relay.stop();
    }
  });
});

describe('retryDelayMs', () => {
  it('doubles per failure from the initial delay up to the cap, with ±25 % jitter', () => {
    for (let i = 0; i < 200; i++) {
      const first = retryDelayMs(1, 1_000, 60_000);
      expect(first).toBeGreaterThanOrEqual(750);
      expect(first).toBeLessThanOrEqual(1_250);
      const fourth = retryDelayMs(4, 1_000, 60_000);
      expect(fourth).toBeGreaterThanOrEqual(6_000);
      expect(fourth).toBeLessThanOrEqual(10_000);
      const late = retryDelayMs(40, 1_000, 60_000);
      expect(late).toBeGreaterThanOrEqual(45_000);
      expect(late).toBeLessThanOrEqual(75_000);
    }
  });
});

describe('OutboxRelay after a failed publish', () => {
  it('leaves the row out of the next polls until its back-off has passed, then tries it again', async () => {
    const row = { id: 'r1', created_at: new Date(), routing_key: 'a.b.v1', envelope: { id: 'e1' } };
    let rows = [row];
    const manager = {
      query: async (sql: string, params: unknown[] = []) => {
        if (sql.includes('SELECT')) {
          const ids = params.find(Array.isArray) as string[];
          return rows.filter((r) =>
            sql.includes('NOT ("id"') ? !ids.includes(r.id) : ids.includes(r.id),
          );
        }
        if (sql.startsWith('DELETE')) rows = [];
        return [];
      },
    };
    const dataSource = {
      subscribers: [] as unknown[],
      transaction: async <T>(work: (m: typeof manager) => Promise<T>) => work(manager),
    } as unknown as DataSource;
    let tries = 0;
    let routable = false;
    const relay = new OutboxRelay({
      dataSource,
      logger: pino({ level: 'silent' }),
      retryBackoffMs: 200,
      bus: {
        publishEnvelope: async () => {
          tries++;
          if (!routable) throw new Error('unroutable');
        },
      },
    });
    expect(await relay.relayOnce()).toBe(0);
    expect(await relay.relayOnce()).toBe(0);
    expect(await relay.relayOnce()).toBe(0);
    expect(tries).toBe(1); // not again at once
    await new Promise((r) => setTimeout(r, 300));
    routable = true;
    expect(await relay.relayOnce()).toBe(1);
    expect(tries).toBe(2);
    expect(rows).toEqual([]);
  });
});
