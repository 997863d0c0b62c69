import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { Clock } from '@phonegate/platform';
import { DataSource, type EntityManager } from 'typeorm';
import type { AccountEntity } from '../accounts/account.entity';
import { lockAccount } from '../accounts/account.repository';
import type { IdentityConfig } from '../config/identity.config';
import type { EventOutbox } from '../events/event-outbox';
import { queueAlert } from '../security/security-alerts';
import { EVENT_OUTBOX, IDENTITY_CONFIG } from '../tokens';
import { SessionTokenService } from './session-token.service';

/**
 * What must still hold when the session is written, checked under the account's lock
 * (so a concurrent password reset or number removal is either before it, and seen, or
 * after it, and revokes the session): it throws to issue nothing. Every session has one:
 * at least, that the credentials its sign-in was checked against are still the account's.
 */
export type IssueGuard = (locked: AccountEntity, m: EntityManager) => Promise<void>;

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

  async issue(account: AccountEntity, device: SigninDevice, country: string | null, amr: string[], remember: boolean, guard: IssueGuard) {
    const now = this.clock.now();
    const sessionId = randomUUID();
    const signed = await this.tokens.sign({ accountId: account.id, sessionId, deviceId: device.id, amr }, now);
    const rememberedUntil = remember ? new Date(now.getTime() + this.config.IDENTITY_REMEMBER_DEVICE_TTL) : null;
    await this.db.transaction(async (m) => {
      // Serialises sign-ins of one account, so a device is inserted (and announced) once; and
      // with a password reset's completion (the same lock), which revokes every session
      // committed before it took the lock and changes what the guard checks for any after.
      const locked = await lockAccount(m, account.id);
      await guard(locked, m);
      // The session and, for a device never seen, the device in one statement.
      const inserted = await m.query<unknown[]>(
        `WITH session AS (
           INSERT INTO sessions (id, account_id, device_id, amr, created_at, expires_at, revoked_at) VALUES ($7, $1, $2, $8, $5, $9, NULL)
         )
         INSERT INTO devices (account_id, device_id, name, last_country, remembered_until, first_seen_at, last_seen_at)
         VALUES ($1, $2, $3, $4, $6, $5, $5)
         ON CONFLICT (account_id, device_id) DO NOTHING
         RETURNING 1`,
        [account.id, device.id, device.name ?? null, country, now, rememberedUntil, sessionId, amr.join('+').slice(0, 40), signed.expiresAt],
      );
      if (inserted.length === 0) {
        // Known: seen again (a name or country not given keeps the last one; remembering only extends).
        await m.query(
          `UPDATE devices SET name = COALESCE($3, name), last_country = COALESCE($4, last_country), last_seen_at = $5,
             remembered_until = COALESCE($6, remembered_until)
           WHERE account_id = $1 AND device_id = $2`,
          [account.id, device.id, device.name ?? null, country, now, rememberedUntil],
        );
        return;
      }
      await queueAlert(
        this.outbox,
        m,
        { accountId: account.id, email: account.email, locale: account.locale },
        'security.new_device',
        { device: device.name ?? 'unnamed device', ...(country ? { country, location: country } : {}), at: now.toISOString() },
        `${account.id}:${device.id}`,
      );
    });
    return { sessionToken: signed.token, expiresAt: signed.expiresAt.toISOString(), sessionId };
  }
}
