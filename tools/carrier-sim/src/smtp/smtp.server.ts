import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import type { CarrierRegistry, SimCarrierState } from '../carrier.registry';
import { isInvalidDestination } from '../carrier.registry';
import { providerId } from '../ids';
import type { MessageStore } from '../message.store';
import type { SimSmtpCarrier } from '../sim.types';
import { preciseNow } from '../smpp/smpp.server';
import type { TimerSet } from '../timers';
import { parseMime } from './mime.parser';

type SmtpCarrierState = SimCarrierState & { definition: SimSmtpCarrier };

export interface SmtpSimServer {
  readonly port: number;
  stop(): Promise<void>;
}

export interface SmtpServerDeps {
  registry: CarrierRegistry;
  store: MessageStore;
  timers: TimerSet;
  host: string;
  port: number;
  logger: Logger;
}

function smtpError(message: string, responseCode: number): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode });
}

/**
 * SMTP server for the carriers with `protocol: 'smtp'`. AUTH (PLAIN/LOGIN, no TLS) is optional;
 * an authenticated session belongs to the carrier whose credentials matched, an anonymous one to
 * the first SMTP carrier. Answers: down → 421 at greeting; invalid domain → 550 at RCPT;
 * throttled → 452 and error → 451 after DATA.
 */
export async function startSmtpServer(deps: SmtpServerDeps): Promise<SmtpSimServer> {
  const { registry, store, timers, logger } = deps;

  const carrierOf = (session: SMTPServerSession): SmtpCarrierState | undefined => {
    const all = registry.smtpCarriers();
    const user = typeof session.user === 'string' ? session.user : undefined;
    return (user ? all.find((c) => c.definition.name === user) : undefined) ?? all[0];
  };

  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authOptional: true,
    authMethods: ['PLAIN', 'LOGIN'],
    banner: 'phonegate carrier simulator',
    logger: false,
    closeTimeout: 200,
    size: 10 * 1024 * 1024,
    onConnect(session, callback) {
      const carrier = carrierOf(session);
      if (carrier?.behaviour.down) {
        carrier.stats.refused++;
        return callback(smtpError('Service not available, closing transmission channel', 421));
      }
      callback();
    },
    onAuth(auth, _session, callback) {
      const match = registry
        .smtpCarriers()
        .find(
          (c) => c.definition.username === auth.username && c.definition.password === auth.password,
        );
      if (!match) return callback(smtpError('Invalid username or password', 535));
      callback(null, { user: match.definition.name });
    },
    onRcptTo(address, session, callback) {
      const carrier = carrierOf(session);
      if (carrier && isInvalidDestination(address.address, carrier.behaviour.invalidPrefixes)) {
        carrier.stats.invalid++;
        return callback(smtpError('5.1.1 Recipient address rejected: user unknown', 550));
      }
      callback();
    },
    onData(stream, session, callback) {
      const receivedAt = preciseNow();
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (err) => callback(err));
      stream.on('end', () => {
        void (async () => {
          const carrier = carrierOf(session);
          if (!carrier) return callback(smtpError('No mail carrier configured', 554));
          await timers.sleep(carrier.behaviour.latencyMs);
          if (timers.isStopped) return callback(smtpError('Server shutting down', 421));
          const rcpts = session.envelope.rcptTo.map((r) => r.address);
          const decision = registry.decide(carrier, rcpts[0] ?? '');
          if (decision === 'down') return callback(smtpError('Service not available', 421));
          if (decision === 'invalid')
            return callback(smtpError('5.1.1 Recipient address rejected', 550));
          if (decision === 'throttled')
            return callback(smtpError('4.7.1 Too many messages, slow down', 452));
          if (decision === 'error')
            return callback(smtpError('4.3.0 Temporary local problem', 451));
          const mail = parseMime(Buffer.concat(chunks));
          const queueId = providerId('', 8);
          const envelopeFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
          rcpts.forEach((to, i) => {
            store.add({
              id:
                rcpts.length === 1
                  ? (mail.messageId ?? queueId)
                  : `${mail.messageId ?? queueId}#${i + 1}`,
              channel: 'email',
              to,
              from: mail.from ?? envelopeFrom,
              body: mail.text,
              subject: mail.subject,
              html: mail.html,
              status: 'delivered',
              carrier: carrier.definition.name,
              protocol: 'smtp',
              createdAt: new Date().toISOString(),
              receivedAt,
              envelopeFrom,
              messageIdHeader: mail.messageId,
            });
          });
          callback(null, `Ok: queued as ${queueId}`);
        })().catch((err: Error) => {
          logger.warn({ err: err.message }, 'smtp data handling failed');
          callback(smtpError('4.3.0 Temporary local problem', 451));
        });
      });
    },
  });
  server.on('error', (err) => logger.debug({ err: err.message }, 'smtp server error'));

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(deps.port, deps.host, () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
