import { lateAcceptanceReason } from '../receipts/receipt.service';
import { attemptSteps } from './dispatch.service';

describe('attemptSteps', () => {
  it('names each carrier tried or passed over, with why it did not take the message', () => {
    expect(
      attemptSteps('all_carriers_failed: smpp-a=timeout, http-b=open', [
        { carrier: 'smpp-a', outcome: 'failed', reason: 'timeout', latencyMs: 3000 },
        { carrier: 'http-b', outcome: 'skipped', reason: 'open', latencyMs: 0 },
        { carrier: 'http-c', outcome: 'failed' },
      ]),
    ).toEqual([
      { carrier: 'smpp-a', reason: 'attempt_failed: timeout' },
      { carrier: 'http-b', reason: 'attempt_skipped: open' },
      { carrier: 'http-c', reason: 'attempt_failed: failed' },
    ]);
  });

  it('is one step without a carrier when none was tried', () => {
    expect(attemptSteps('expired', [])).toEqual([{ reason: 'attempt_failed: expired' }]);
    expect(
      attemptSteps('send_failed: Error', [{ carrier: 'smpp-a', outcome: 'accepted' }]),
    ).toEqual([{ reason: 'attempt_failed: send_failed: Error' }]);
  });
});

describe('lateAcceptanceReason', () => {
  const late = {
    carrierId: 'smpp-a',
    messageId: 'm-1',
    providerMessageId: '0a1b2c3d',
    at: new Date(),
  };

  it('names the carrier’s message id and says whether a second copy may reach the customer', () => {
    expect(lateAcceptanceReason({ ...late, cancelled: false })).toBe(
      'accepted after its deadline (carrier message id 0a1b2c3d): a second copy may reach the customer',
    );
    expect(lateAcceptanceReason({ ...late, cancelled: true })).toBe(
      'accepted after its deadline (carrier message id 0a1b2c3d), then withdrawn (cancelled): no second copy',
    );
  });
});
