import type { Logger } from '@phonegate/platform';
import type { Carrier } from './carrier.types';
import type { CarrierDefinition } from './config/carriers.config';
import { DevInboxCarrier } from './dev/dev-inbox.carrier';
import { HttpSmsCarrier } from './http-sms/http-sms.carrier';
import { SmppCarrier } from './smpp/smpp.carrier';
import { SmtpCarrier } from './smtp/smtp.carrier';

/** The adapter for one configured carrier. */
export function createCarrier(def: CarrierDefinition, logger?: Logger): Carrier {
  switch (def.type) {
    case 'smpp':
      return new SmppCarrier(
        {
          id: def.id,
          host: def.host,
          port: def.port,
          systemId: def.systemId,
          password: def.password,
          ...(def.systemType ? { systemType: def.systemType } : {}),
          sourceAddr: def.sourceAddr,
          window: def.window,
          enquireLinkMs: def.enquireLinkMs,
          responseTimeoutMs: def.responseTimeoutMs,
          bindTimeoutMs: def.bindTimeoutMs,
          reconnectMinMs: def.reconnectMinMs,
          reconnectMaxMs: def.reconnectMaxMs,
          registeredDelivery: def.registeredDelivery,
          maxSegments: def.maxSegments,
        },
        logger,
      );
    case 'http':
      return new HttpSmsCarrier(
        {
          id: def.id,
          baseUrl: def.baseUrl,
          accountSid: def.accountSid,
          authToken: def.authToken,
          from: def.from,
          channels: def.channels,
          ...(def.statusCallbackUrl ? { statusCallbackUrl: def.statusCallbackUrl } : {}),
          ...(def.voiceLanguage ? { voiceLanguage: def.voiceLanguage } : {}),
        },
        logger,
      );
    case 'smtp':
      return new SmtpCarrier(
        {
          id: def.id,
          host: def.host,
          port: def.port,
          secure: def.secure,
          requireTls: def.requireTls,
          ...(def.user ? { user: def.user, password: def.password ?? '' } : {}),
          from: def.from,
          maxConnections: def.maxConnections,
          connectionTimeoutMs: def.connectionTimeoutMs,
        },
        logger,
      );
    case 'dev-inbox':
      return new DevInboxCarrier({ id: def.id, channels: def.channels });
  }
}
