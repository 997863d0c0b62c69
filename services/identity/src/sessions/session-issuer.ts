import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { Clock } from '@phonegate/platform';
import { DataSource } from 'typeorm';
import type { AccountEntity } from '../accounts/account.entity';
import { lockAccount } from '../accounts/account.repository';
import type { IdentityConfig } from '../config/identity.config';
import type { EventOutbox } from '../events/event-outbox';
import { queueAlert } from '../security/security-alerts';
import { EVENT_OUTBOX, IDENTITY_CONFIG } from '../tokens';
import { DeviceEntity } from './device.entity';
import { SessionEntity } from './session.entity';
import { SessionTokenService } from './session-token.service';

export interface SigninDevice {
  id: string;
  name?: string;
  userAgent?: string;
}

/**
 * Issues a session: records it (so it can be revoked), records the device
 * (remembering it on request), tells the e-mail about a device never seen
 * before, and signs the token.
 */
@Injectable()
export class SessionIssuer {
  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
    private readonly tokens: SessionTokenService,
    @Inject(IDENTITY_CONFIG) private readonly config: IdentityConfig,
    @Inject(EVENT_OUTBOX) private readonly outbox: EventOutbox,
  ) {}

  async issue(account: AccountEntity, device: SigninDevice, country: string | null, amr: string[], remember: boolean) {
    const now = this.clock.now();
    const sessionId = randomUUID();
    const signed = await this.tokens.sign({ accountId: account.id, sessionId, deviceId: device.id, amr }, now);
    await this.db.transaction(async (m) => {
      // Serialises sign-ins of one account, so a device is inserted (and announced) once.
      await lockAccount(m, account.id);
      const devices = m.getRepository(DeviceEntity);
      const known = await devices.findOneBy({ accountId: account.id, deviceId: device.id });
      const rememberedUntil = remember ? new Date(now.getTime() + this.config.IDENTITY_REMEMBER_DEVICE_TTL) : (known?.rememberedUntil ?? null);
      if (known) {
        await devices.update(
          { accountId: account.id, deviceId: device.id },
          { name: device.name ?? known.name, lastCountry: country ?? known.lastCountry, lastSeenAt: now, rememberedUntil },
        );
      } else {
        await devices.insert({
          accountId: account.id,
          deviceId: device.id,
          name: device.name ?? null,
          lastCountry: country,
          rememberedUntil,
          firstSeenAt: now,
          lastSeenAt: now,
        });
        await queueAlert(
          this.outbox,
          m,
          { accountId: account.id, email: account.email, locale: account.locale },
          'security.new_device',
          { device: device.name ?? 'unnamed device', ...(country ? { country, location: country } : {}), at: now.toISOString() },
          `${account.id}:${device.id}`,
        );
      }
      await m.getRepository(SessionEntity).insert({
        id: sessionId,
        accountId: account.id,
        deviceId: device.id,
        amr: amr.join('+').slice(0, 40),
        createdAt: now,
        expiresAt: signed.expiresAt,
        revokedAt: null,
      });
    });
    return { sessionToken: signed.token, expiresAt: signed.expiresAt.toISOString(), sessionId };
  }
}
