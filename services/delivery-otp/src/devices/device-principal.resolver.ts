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
 * the database on every request; a revoked device stops at once on the
 * replica that revoked it (even a lookup running meanwhile is asked again),
 * within the TTL on others.
 * Tokens that are not shaped like device secrets never reach the database.
 */
export class DevicePrincipalResolver implements PrincipalResolver {
  private readonly cache = new Map<string, Cached>();
  /** Revokes seen on this replica (forgetDevice), so a lookup that overlapped one is not cached. */
  private revokes = 0;

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
    // A revoke on this replica while the lookup ran may have come after the database answered:
    // that answer is neither cached (it would serve the revoked device for the TTL) nor trusted;
    // the database is asked again, now that the revoke is written.
    const revokes = this.revokes;
    const principal = await this.lookup(digest);
    if (this.revokes !== revokes) return this.lookup(digest);
    this.remember(key, { principal, until: now + this.ttlMs });
    return principal;
  }

  /** Forgets cached answers for a device (after a revoke on this replica, once it is written). */
  forgetDevice(deviceId: string): void {
    this.revokes++;
    for (const [key, entry] of this.cache) if (entry.principal?.id === deviceId) this.cache.delete(key);
  }

  private async lookup(digest: Buffer): Promise<Principal | undefined> {
    const device = await this.devices.findActiveByDigest(digest);
    return device ? { kind: 'device', id: device.id, scopes: ['courier'], courierId: device.courierId } : undefined;
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
