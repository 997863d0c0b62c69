import { createHmac } from 'node:crypto';
import type { Keyring } from '@phonegate/platform';

/**
 * Which request a handoff's approval belongs to. The atomic check keeps the
 * id of the attempt it approved; when that id comes from the device, the
 * shipment and the request's Idempotency-Key, a retry of the very request
 * (same device, same key) knows itself as the approved one and answers the
 * first 200 again (API.md), while any other request of the same device does
 * not. Keyed (HMAC under the code HMAC keys), so the stored id tells nothing
 * about the client's Idempotency-Key, which is never stored (as the
 * Idempotency-Key support keeps it).
 */
export interface HandoffRequestRef {
  deviceId: string;
  shipmentId: string;
  idempotencyKey: string;
}

/**
 * The approval ids of a request under each configured key, the active key's
 * first (a new approval stores that one; the others find approvals stored
 * before a key rotation). UUIDs (RFC 9562 version 8) from HMAC-SHA256.
 */
export function handoffRequestIds(keys: Keyring, ref: HandoffRequestRef): string[] {
  const active = keys.keys.get(keys.activeKeyId);
  const ordered = [...(active ? [active] : []), ...[...keys.keys].filter(([kid]) => kid !== keys.activeKeyId).map(([, key]) => key)];
  return ordered.map((key) =>
    uuidFrom(createHmac('sha256', key).update(`delivery-handoff-request\u0000${ref.deviceId}\u0000${ref.shipmentId}\u0000${ref.idempotencyKey}`, 'utf8').digest()),
  );
}

/** The first 16 bytes of `digest` as a version 8 (custom) UUID. */
function uuidFrom(digest: Buffer): string {
  const b = Buffer.from(digest.subarray(0, 16));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x80;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
