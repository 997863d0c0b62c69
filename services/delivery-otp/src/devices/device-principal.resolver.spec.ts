import { ManualClock } from '@phonegate/platform';
import { type DeviceRecord, DeviceRegistry } from './device.registry';
import { DevicePrincipalResolver } from './device-principal.resolver';
import { newDeviceCredentials, secretDigest } from './device-secret';

/** An in-memory registry (the port's contract, not infrastructure). */
class MemoryRegistry extends DeviceRegistry {
  readonly rows = new Map<string, DeviceRecord & { digest: string }>();
  lookups = 0;
  async create(d: { id: string; courierId: string; name: string | null; secretDigest: Buffer; createdAt: Date }) {
    this.rows.set(d.id, { id: d.id, courierId: d.courierId, name: d.name, createdAt: d.createdAt, revokedAt: null, digest: d.secretDigest.toString('hex') });
  }
  async findActiveByDigest(digest: Buffer) {
    this.lookups++;
    return [...this.rows.values()].find((r) => r.digest === digest.toString('hex') && !r.revokedAt);
  }
  async revoke(courierId: string, deviceId: string, at: Date) {
    const row = this.rows.get(deviceId);
    if (!row || row.courierId !== courierId) return false;
    row.revokedAt = at;
    return true;
  }
}

describe('DevicePrincipalResolver', () => {
  it('resolves a device secret to a courier principal and caches it for the TTL', async () => {
    const registry = new MemoryRegistry();
    const clock = new ManualClock(0);
    const { deviceId, secret } = newDeviceCredentials();
    await registry.create({ id: deviceId, courierId: 'cour_1', name: null, secretDigest: secretDigest(secret), createdAt: new Date() });
    const resolver = new DevicePrincipalResolver(registry, clock, 30_000);

    expect(await resolver.resolve(secret)).toEqual({ kind: 'device', id: deviceId, scopes: ['courier'], courierId: 'cour_1' });
    expect(await resolver.resolve(secret)).toMatchObject({ id: deviceId });
    expect(registry.lookups).toBe(1);

    await registry.revoke('cour_1', deviceId, new Date());
    expect(await resolver.resolve(secret)).toMatchObject({ id: deviceId });
    clock.advance(30_001);
    expect(await resolver.resolve(secret)).toBeUndefined();
  });

  it('never looks up tokens not shaped like device secrets, and caches misses', async () => {
    const registry = new MemoryRegistry();
    const resolver = new DevicePrincipalResolver(registry, new ManualClock(0), 30_000);
    expect(await resolver.resolve('some-api-key')).toBeUndefined();
    expect(registry.lookups).toBe(0);
    const { secret } = newDeviceCredentials();
    expect(await resolver.resolve(secret)).toBeUndefined();
    expect(await resolver.resolve(secret)).toBeUndefined();
    expect(registry.lookups).toBe(1);
  });

  it('forgets a revoked device at once on this replica and keeps the cache bounded', async () => {
    const registry = new MemoryRegistry();
    const resolver = new DevicePrincipalResolver(registry, new ManualClock(0), 30_000, 3);
    const creds = Array.from({ length: 5 }, () => newDeviceCredentials());
    for (const c of creds) await registry.create({ id: c.deviceId, courierId: 'c', name: null, secretDigest: secretDigest(c.secret), createdAt: new Date() });
    for (const c of creds) await resolver.resolve(c.secret);
    expect(registry.lookups).toBe(5);
    await resolver.resolve(creds[0]!.secret); // evicted (bounded at 3): looked up again
    expect(registry.lookups).toBe(6);
    await registry.revoke('c', creds[4]!.deviceId, new Date());
    resolver.forgetDevice(creds[4]!.deviceId);
    expect(await resolver.resolve(creds[4]!.secret)).toBeUndefined();
  });
});
