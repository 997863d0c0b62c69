import { DomainError } from '@phonegate/platform';
import { type DataSource, IsNull } from 'typeorm';
import { CourierDeviceEntity } from '../persistence/courier-device.entity';
import { type DeviceRecord, DeviceRegistry } from './device.registry';

export class TypeOrmDeviceRegistry extends DeviceRegistry {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  private get repo() {
    return this.dataSource.getRepository(CourierDeviceEntity);
  }

  async create(device: { id: string; courierId: string; name: string | null; secretDigest: Buffer; createdAt: Date }): Promise<void> {
    await guard(() => this.repo.insert({ ...device, revokedAt: null }));
  }

  async findActiveByDigest(digest: Buffer): Promise<DeviceRecord | undefined> {
    const row = await guard(() => this.repo.findOneBy({ secretDigest: digest, revokedAt: IsNull() }));
    return row ? { id: row.id, courierId: row.courierId, name: row.name, createdAt: row.createdAt, revokedAt: row.revokedAt } : undefined;
  }

  async revoke(courierId: string, deviceId: string, at: Date): Promise<boolean> {
    const result = await guard(() => this.repo.update({ id: deviceId, courierId, revokedAt: IsNull() }, { revokedAt: at }));
    return (result.affected ?? 0) > 0;
  }
}

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch {
    throw new DomainError('service_unavailable', 'The device store is unavailable; try again shortly.', { retryAfter: 1 }, true);
  }
}
