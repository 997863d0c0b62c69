/**
 * SECURITY C9 for the customer's regenerate: the cooldown doubles with each
 * send of a shipment's code, the first issue being the first send (base,
 * 2×base, 4×base…), and runs from the last send. regenerate.lua applies the
 * same rule inside Redis; this is the rule for a regenerate Redis could not
 * decide (the code lost), from the shipment's row.
 */
export function regenerateCooldownMs(regenerations: number, baseMs: number): number {
  return baseMs * 2 ** regenerations;
}

/** How long before the next regenerate may send (0: now), after `regenerations` regenerations and a last send at `lastSentMs`. */
export function regenerateWaitMs(regenerations: number, lastSentMs: number, nowMs: number, baseMs: number): number {
  return Math.max(0, lastSentMs + regenerateCooldownMs(regenerations, baseMs) - nowMs);
}
