import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { requestContext } from '../context/request-context';
import { redact, scrubText } from './redact';

export type { Logger } from 'pino';

export interface LoggerSettings {
  service: string;
  level?: string;
  /** Where lines go (stdout by default); tests pass a capturing stream. */
  destination?: DestinationStream;
}

/**
 * The one logger factory: JSON lines, service name, request/correlation ids
 * from the request context, and redaction of codes, secrets and destinations
 * at any depth (see redact.ts).
 */
export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    name: settings.service,
    level: settings.level ?? 'info',
    base: { service: settings.service },
    timestamp: pino.stdTimeFunctions.isoTime,
    messageKey: 'msg',
    formatters: {
      level: (label) => ({ level: label }),
      bindings: (bindings) => redact(bindings) as Record<string, unknown>,
      log: (object) => redact(object) as Record<string, unknown>,
    },
    mixin: () => {
      const ctx = requestContext.get();
      return ctx ? { requestId: ctx.requestId, correlationId: ctx.correlationId } : {};
    },
    hooks: {
      logMethod(args, method) {
        const scrubbed = args.map((a) => (typeof a === 'string' ? scrubText(a) : a)) as typeof args;
        return method.apply(this, scrubbed);
      },
    },
    serializers: {
      err: pino.stdSerializers.err,
      req: (req: { id?: unknown; method?: string; url?: string }) => ({
        id: req.id,
        method: req.method,
        url: req.url ? scrubText(req.url.replace(/([?&](to|phone|email|code)=)[^&]*/gi, '$1[redacted]')) : undefined,
      }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
    },
  };
  const logger = settings.destination ? pino(options, settings.destination) : pino(options);
  return guardChildren(logger);
}

/** Child bindings bypass `formatters.log`, so they are redacted on the way in. */
function guardChildren(logger: Logger): Logger {
  const child = logger.child.bind(logger);
  logger.child = ((bindings: Record<string, unknown>, opts?: Record<string, unknown>) =>
    guardChildren(child(redact(bindings) as Record<string, unknown>, opts))) as unknown as Logger['child'];
  return logger;
}
