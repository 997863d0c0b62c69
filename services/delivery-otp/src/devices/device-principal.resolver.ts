import type { Clock, Principal, PrincipalResolver } from '@phonegate/platform';
import type { DeviceRegistry } from './device.registry';
import { looksLikeDeviceSecret, secretDigest } from './device-secret';

interface Cached {
  principal: Principal | undefined;
  until: number;
}

/**
 * Turns a device secret presented as a Bearer key into a device principal
 * (scope `courier`, with its courier). Lookups are cached briefly, answers
 * and misses alike, so a busy device or a flood of bad secrets does not reach
 * the database on every request; a revoked device stops within the TTL.
 * Tokens that are not shaped like device secrets never reach the database.
 */
export class DevicePrincipalResolver implements PrincipalResolver {
  private readonly cache = new Map<string, Cached>();

  constructor(
    private readonly devices: DeviceRegistry,
    private readonly clock: Clock,
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  async resolve(token: string): Promise<Principal | undefined> {
    if (!looksLikeDeviceSecret(token)) return undefined;
    const digest = secretDigest(token);
    const key = digest.toString('hex');
    const now = this.clock.nowMs();
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return hit.principal;
    const device = await this.devices.findActiveByDigest(digest);
    const principal: Principal | undefined = device
      ? { kind: 'device', id: device.id, scopes: ['courier'], courierId: device.courierId }
      : undefined;
    this.remember(key, { principal, until: now + this.ttlMs });
    return principal;
  }

  /** Forgets cached answers for a device (after a revoke on this replica). */
  forgetDevice(deviceId: string): void {
    for (const [key, entry] of this.cache) if (entry.principal?.id === deviceId) this.cache.delete(key);
  }

  private remember(key: string, entry: Cached): void {
    this.cache.delete(key);
    if (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(key, entry);
  }
}
