export interface DeviceRecord {
  id: string;
  courierId: string;
  name: string | null;
  createdAt: Date;
  revokedAt: Date | null;
}

/** The port to stored courier devices. */
export abstract class DeviceRegistry {
  abstract create(device: { id: string; courierId: string; name: string | null; secretDigest: Buffer; createdAt: Date }): Promise<void>;
  /** The active (not revoked) device with this secret digest. */
  abstract findActiveByDigest(digest: Buffer): Promise<DeviceRecord | undefined>;
  /** Revokes a device of this courier; false when there is none. */
  abstract revoke(courierId: string, deviceId: string, at: Date): Promise<boolean>;
}
