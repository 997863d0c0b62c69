import pino from 'pino';
import { ZodError } from 'zod';
import { simOptionsFromEnv } from './sim.config';
import { startCarrierSim } from './start-carrier-sim';

/** Runs the carrier simulator on fixed ports from the environment (see sim.config.ts). */
async function main(): Promise<void> {
  const bootLogger = pino({ name: 'carrier-sim' });
  let parsed: ReturnType<typeof simOptionsFromEnv>;
  try {
    parsed = simOptionsFromEnv(process.env);
  } catch (err) {
    const issues =
      err instanceof ZodError
        ? err.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
        : [String(err)];
    bootLogger.fatal({ issues }, 'invalid configuration');
    process.exit(1);
  }
  const logger = pino({ name: 'carrier-sim', level: parsed.logLevel });
  const sim = await startCarrierSim({ ...parsed.options, logger });
  logger.info(
    { urls: sim.urls, carriers: sim.carriers.map((c) => c.name) },
    'carrier simulator ready',
  );
  const shutdown = (signal: string): void => {
    logger.info({ signal }, 'stopping');
    void sim.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

void main().catch((err: Error) => {
  pino({ name: 'carrier-sim' }).fatal({ err: err.message }, 'carrier simulator failed to start');
  process.exit(1);
});
