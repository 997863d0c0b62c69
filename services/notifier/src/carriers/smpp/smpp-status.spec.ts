import { carrierErrorOfStatus, SMPP_STATUS } from './smpp-status';

describe('carrierErrorOfStatus', () => {
  it('maps an invalid destination to a non-retryable recipient error', () => {
    const e = carrierErrorOfStatus('smpp-a', SMPP_STATUS.ESME_RINVDSTADR);
    expect([e.retryable, e.kind, e.providerCode, e.carrierId]).toEqual([
      false,
      'recipient',
      '0x0000000b',
      'smpp-a',
    ]);
  });

  it('maps throttling and a full queue to retryable throttled errors', () => {
    for (const s of [SMPP_STATUS.ESME_RTHROTTLED, SMPP_STATUS.ESME_RMSGQFUL]) {
      expect(carrierErrorOfStatus('c', s)).toMatchObject({ retryable: true, kind: 'throttled' });
    }
  });

  it('maps content refusals to retryable rejected and anything else to unavailable', () => {
    expect(carrierErrorOfStatus('c', SMPP_STATUS.ESME_RINVDCS)).toMatchObject({
      retryable: true,
      kind: 'rejected',
    });
    expect(carrierErrorOfStatus('c', SMPP_STATUS.ESME_RSYSERR)).toMatchObject({
      retryable: true,
      kind: 'unavailable',
    });
    expect(carrierErrorOfStatus('c', 0x1234)).toMatchObject({
      retryable: true,
      kind: 'unavailable',
    });
  });
});
