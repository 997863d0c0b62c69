import { z } from 'zod';
import { behaviourSchema } from './behaviour.schema';
import type { CarrierSimOptions } from './sim.types';

const port = z.coerce.number().int().min(0).max(65_535);

const behaviour = behaviourSchema;

const carrier = z.discriminatedUnion('protocol', [
  z.object({
    name: z.string().min(1),
    protocol: z.literal('smpp'),
    systemId: z.string().min(1).max(15),
    password: z.string().max(8),
    behaviour: behaviour.optional(),
  }),
  z.object({
    name: z.string().min(1),
    protocol: z.literal('http'),
    accountSid: z.string().min(1),
    authToken: z.string().min(1),
    channels: z.array(z.enum(['sms', 'voice'])).optional(),
    behaviour: behaviour.optional(),
  }),
  z.object({
    name: z.string().min(1),
    protocol: z.literal('smtp'),
    username: z.string().optional(),
    password: z.string().optional(),
    behaviour: behaviour.optional(),
  }),
]);

/**
 * Environment of `src/main.ts` (every variable optional):
 * - SIM_HOST            interface to listen on, default 127.0.0.1 (0.0.0.0 in a container)
 * - SIM_SMPP_PORT       default 2775
 * - SIM_HTTP_PORT       default 4010 (CPaaS-style API, and `/_sim/*` too)
 * - SIM_SMTP_PORT       default 2525
 * - SIM_CONTROL_PORT    default 4000; `http` (or the HTTP port's number) serves `/_sim/*` on the HTTP port only
 * - SIM_CARRIERS        JSON array of carrier definitions replacing the defaults (smpp-a, http-b, smpp-c, http-d, smtp-main)
 * - SIM_MAX_MESSAGES    messages kept in memory, default 10000
 * - SIM_LOG_LEVEL       pino level, default info
 */
export const simEnvSchema = z.object({
  SIM_HOST: z.string().default('127.0.0.1'),
  SIM_SMPP_PORT: port.default(2775),
  SIM_HTTP_PORT: port.default(4010),
  SIM_SMTP_PORT: port.default(2525),
  SIM_CONTROL_PORT: z.union([z.literal('http'), port]).default(4000),
  SIM_CARRIERS: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (!raw) return undefined;
      try {
        return z.array(carrier).min(1).parse(JSON.parse(raw));
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `SIM_CARRIERS: ${(err as Error).message}` });
        return z.NEVER;
      }
    }),
  SIM_MAX_MESSAGES: z.coerce.number().int().min(1).default(10_000),
  SIM_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info'),
});

export type SimEnv = z.infer<typeof simEnvSchema>;

export function simOptionsFromEnv(env: NodeJS.ProcessEnv): {
  options: CarrierSimOptions;
  logLevel: SimEnv['SIM_LOG_LEVEL'];
} {
  const e = simEnvSchema.parse(env);
  return {
    options: {
      host: e.SIM_HOST,
      smppPort: e.SIM_SMPP_PORT,
      httpPort: e.SIM_HTTP_PORT,
      smtpPort: e.SIM_SMTP_PORT,
      controlPort: e.SIM_CONTROL_PORT,
      carriers: e.SIM_CARRIERS,
      maxMessages: e.SIM_MAX_MESSAGES,
    },
    logLevel: e.SIM_LOG_LEVEL,
  };
}
