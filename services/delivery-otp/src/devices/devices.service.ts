import type { Clock, Logger } from '@phonegate/platform';
import { DomainError } from '@phonegate/platform';
import type { DeviceRegistry } from './device.registry';
import type { DevicePrincipalResolver } from './device-principal.resolver';
import { newDeviceCredentials, secretDigest } from './device-secret';

/** Issues and revokes courier device secrets (ops). */
export class DevicesService {
  constructor(
    private readonly devices: DeviceRegistry,
    private readonly resolver: DevicePrincipalResolver,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  async register(courierId: string, name: string | null): Promise<{ deviceId: string; courierId: string; secret: string }> {
    const { deviceId, secret } = newDeviceCredentials();
    await this.devices.create({ id: deviceId, courierId, name, secretDigest: secretDigest(secret), createdAt: this.clock.now() });
    this.logger.info({ deviceId, courierId }, 'courier device registered');
    return { deviceId, courierId, secret };
  }

  async revoke(courierId: string, deviceId: string): Promise<void> {
    const done = await this.devices.revoke(courierId, deviceId, this.clock.now());
    if (!done) throw new DomainError('not_found', 'No active device with this id for this courier.');
    this.resolver.forgetDevice(deviceId);
    this.logger.info({ deviceId, courierId }, 'courier device revoked');
  }
}
