import { DomainError } from '@phonegate/platform';

/**
 * A code is issued, re-sent or moved only onto a window that has not ended
 * (else DomainError `window_closed`): its SMS and e-mail may not arrive after
 * the window (`notAfter`), and the grace after it is only for late handoffs
 * with the code already out; a new code then would kill the one an offline
 * courier's late, in-window submission still needs.
 */
export function assertWindowOpen(windowEnd: Date, nowMs: number, detail: string): void {
  if (windowEnd.getTime() <= nowMs) throw new DomainError('window_closed', detail, {}, false);
}
