import { randomBytes } from 'node:crypto';
import { handoffRequestIds } from './handoff-request';

const k1 = randomBytes(32);
const k2 = randomBytes(32);
const ring = (activeKeyId: string) => ({ activeKeyId, keys: new Map([['h1', k1], ['h2', k2]]) });
const ref = { deviceId: 'dev_1', shipmentId: 'shp_1', idempotencyKey: 'retry-1' };

describe('handoffRequestIds', () => {
  it('gives the same request the same ids, as version 8 UUIDs, the active key first', () => {
    const ids = handoffRequestIds(ring('h1'), ref);
    expect(ids).toHaveLength(2);
    expect(handoffRequestIds(ring('h1'), { ...ref })).toEqual(ids);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // After a rotation the old key's id is still among them, no longer first.
    expect(handoffRequestIds(ring('h2'), ref)).toEqual([ids[1], ids[0]]);
  });

  it('tells apart another device, shipment or Idempotency-Key, and never shows the key', () => {
    const [id] = handoffRequestIds(ring('h1'), ref);
    expect(handoffRequestIds(ring('h1'), { ...ref, deviceId: 'dev_2' })[0]).not.toBe(id);
    expect(handoffRequestIds(ring('h1'), { ...ref, shipmentId: 'shp_2' })[0]).not.toBe(id);
    expect(handoffRequestIds(ring('h1'), { ...ref, idempotencyKey: 'retry-2' })[0]).not.toBe(id);
    // The fields are separated: moving a character from one to the next is another request.
    expect(handoffRequestIds(ring('h1'), { ...ref, shipmentId: 'shp_1r', idempotencyKey: 'etry-1' })[0]).not.toBe(id);
    expect(id).not.toContain('retry');
  });
});
