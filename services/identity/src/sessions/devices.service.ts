import { Injectable } from '@nestjs/common';
import { Clock, DomainError } from '@phonegate/platform';
import { DataSource } from 'typeorm';
import { findAccount, isUuid } from '../accounts/account.repository';
import { AccountEntity } from '../accounts/account.entity';
import { DeviceEntity } from './device.entity';
import { SessionEntity } from './session.entity';

@Injectable()
export class DevicesService {
  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
  ) {}

  /** Forgets a remembered device: its next sign-in is challenged again. Idempotent. */
  async forget(accountId: string, deviceId: string): Promise<void> {
    await findAccount(this.db, accountId);
    await this.db.getRepository(DeviceEntity).update({ accountId, deviceId }, { rememberedUntil: null });
  }

  /** Whether a session (a token's `sid`) is still good: not revoked, not expired. */
  async session(sessionId: string) {
    const session = isUuid(sessionId) ? await this.db.getRepository(SessionEntity).findOneBy({ id: sessionId }) : null;
    if (!session) throw new DomainError('not_found', 'No such session.');
    const account = await this.db.getRepository(AccountEntity).findOneBy({ id: session.accountId });
    const now = this.clock.nowMs();
    const revokedByEpoch = Boolean(account?.sessionsValidAfter && session.createdAt.getTime() <= account.sessionsValidAfter.getTime());
    return {
      sessionId: session.id,
      accountId: session.accountId,
      deviceId: session.deviceId,
      active: !session.revokedAt && !revokedByEpoch && session.expiresAt.getTime() > now,
      expiresAt: session.expiresAt.toISOString(),
      revokedAt: session.revokedAt ? session.revokedAt.toISOString() : null,
    };
  }
}
