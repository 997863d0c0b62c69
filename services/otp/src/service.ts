import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { bootstrapService } from '@phonegate/platform';
import { loadOtpConfig } from './config/otp.config';
import { buildOtpRuntime } from './runtime';

export interface StartOptions {
  /** Leave SIGTERM/SIGINT to the caller (the embedded mode runs four services in one process). */
  handleSignals?: boolean;
}

/** Builds and starts the otp service from an environment (main.ts passes process.env). */
export async function startOtpService(
  env: NodeJS.ProcessEnv = process.env,
  options: StartOptions = {},
): Promise<NestFastifyApplication> {
  const config = loadOtpConfig(env);
  const runtime = buildOtpRuntime(config);
  return bootstrapService({
    name: 'otp',
    module: runtime.module,
    port: config.port,
    host: config.host,
    logger: runtime.logger,
    redis: runtime.redis,
    microservices: [runtime.bus.server],
    ...(options.handleSignals === false ? { handleSignals: false } : {}),
    swagger: {
      title: 'phonegate otp',
      description:
        'Generic verifications (start, check, resend), TOTP authenticators and backup codes. Errors are application/problem+json.',
    },
    onShutdown: () => runtime.close(),
  });
}
