import Fastify, { type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { CarrierRegistry, DEFAULT_SIM_CARRIERS } from './carrier.registry';
import { registerControlRoutes } from './control/control.routes';
import { registerHttpApiRoutes } from './http/http-api.routes';
import { MessageStore } from './message.store';
import type { CarrierSimOptions, SimBehaviour, SimCarrierDefinition } from './sim.types';
import { startSmppServer, type SmppSimServer } from './smpp/smpp.server';
import { startSmtpServer, type SmtpSimServer } from './smtp/smtp.server';
import { TimerSet } from './timers';

export interface CarrierSim {
  readonly ports: { smpp?: number; http?: number; smtp?: number; control?: number };
  /** `smpp://host:port`, `http://host:port` (the CPaaS API base), `smtp://host:port`, control API base. */
  readonly urls: { smpp?: string; http?: string; smtp?: string; control?: string };
  readonly store: MessageStore;
  readonly registry: CarrierRegistry;
  readonly carriers: readonly SimCarrierDefinition[];
  /** Same as `PUT /_sim/carriers/:name`. */
  setBehaviour(name: string, patch: Partial<SimBehaviour>): void;
  /** Same as `POST /_sim/carriers/:name/drop-sessions`. */
  dropSessions(name: string): number;
  /** Bound SMPP sessions (of one carrier, or all). */
  smppSessions(name?: string): number;
  stop(): Promise<void>;
}

async function listen(app: FastifyInstance, port: number, host: string): Promise<number> {
  await app.listen({ port, host });
  return (app.server.address() as AddressInfo).port;
}

/**
 * Starts the carrier simulator: SMPP, CPaaS-style HTTP and SMTP servers for the configured
 * carriers plus the `/_sim` control API. Ports default to 0 (ephemeral), for tests; `main.ts`
 * runs it on fixed ports from the environment.
 */
export async function startCarrierSim(options: CarrierSimOptions = {}): Promise<CarrierSim> {
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? pino({ level: 'silent' });
  const definitions = options.carriers ?? [...DEFAULT_SIM_CARRIERS];
  const registry = new CarrierRegistry(definitions, options.random);
  const store = new MessageStore(options.maxMessages);
  const timers = new TimerSet();
  const shutdown = new AbortController();

  let smppServer: SmppSimServer | undefined;
  let smtpServer: SmtpSimServer | undefined;
  const apps: FastifyInstance[] = [];
  const ports: CarrierSim['ports'] = {};

  const stop = async (): Promise<void> => {
    timers.stop();
    shutdown.abort();
    await Promise.allSettled([
      smppServer?.stop(),
      smtpServer?.stop(),
      ...apps.map((a) => a.close()),
    ]);
  };

  try {
    const controlDeps = {
      registry,
      store,
      dropSessions: (name: string) => smppServer?.dropSessions(name) ?? 0,
      sessionCount: (name: string) => smppServer?.sessionCount(name) ?? 0,
    };
    if (options.smppPort !== false && definitions.some((d) => d.protocol === 'smpp')) {
      smppServer = await startSmppServer({
        registry,
        store,
        timers,
        host,
        port: options.smppPort ?? 0,
        logger,
      });
      ports.smpp = smppServer.port;
    }
    if (options.smtpPort !== false && definitions.some((d) => d.protocol === 'smtp')) {
      smtpServer = await startSmtpServer({
        registry,
        store,
        timers,
        host,
        port: options.smtpPort ?? 0,
        logger,
      });
      ports.smtp = smtpServer.port;
    }
    if (options.httpPort !== false) {
      const app = Fastify({ logger: false, forceCloseConnections: true });
      apps.push(app);
      registerHttpApiRoutes(app, { registry, store, timers, logger, shutdown: shutdown.signal });
      registerControlRoutes(app, controlDeps);
      ports.http = await listen(app, options.httpPort ?? 0, host);
      ports.control = ports.http;
    }
    const controlPort = options.controlPort ?? 'http';
    if (controlPort !== 'http' && controlPort !== ports.http) {
      const app = Fastify({ logger: false, forceCloseConnections: true });
      apps.push(app);
      registerControlRoutes(app, controlDeps);
      ports.control = await listen(app, controlPort, host);
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const urls: CarrierSim['urls'] = {
    ...(ports.smpp !== undefined ? { smpp: `smpp://${host}:${ports.smpp}` } : {}),
    ...(ports.http !== undefined ? { http: `http://${host}:${ports.http}` } : {}),
    ...(ports.smtp !== undefined ? { smtp: `smtp://${host}:${ports.smtp}` } : {}),
    ...(ports.control !== undefined ? { control: `http://${host}:${ports.control}` } : {}),
  };
  logger.info({ ports }, 'carrier simulator listening');

  return {
    ports,
    urls,
    store,
    registry,
    carriers: definitions,
    setBehaviour: (name, patch) => {
      if (!registry.update(name, patch)) throw new Error(`unknown simulated carrier ${name}`);
    },
    dropSessions: (name) => smppServer?.dropSessions(name) ?? 0,
    smppSessions: (name) => smppServer?.sessionCount(name) ?? 0,
    stop,
  };
}
