import { CarrierError } from '../carrier.errors';

/** SMPP 3.4 command_status values we act on (§5.1.3). WIRE VALUES. */
export const SMPP_STATUS = {
  ESME_ROK: 0x00,
  ESME_RINVMSGLEN: 0x01,
  ESME_RINVBNDSTS: 0x04,
  ESME_RSYSERR: 0x08,
  ESME_RINVSRCADR: 0x0a,
  ESME_RINVDSTADR: 0x0b,
  ESME_RBINDFAIL: 0x0d,
  ESME_RINVPASWD: 0x0e,
  ESME_RINVSYSID: 0x0f,
  ESME_RMSGQFUL: 0x14,
  ESME_RSUBMITFAIL: 0x45,
  ESME_RINVDSTTON: 0x50,
  ESME_RINVDSTNPI: 0x51,
  ESME_RTHROTTLED: 0x58,
  ESME_RX_T_APPN: 0x64,
  ESME_RX_P_APPN: 0x65,
  ESME_RX_R_APPN: 0x66,
  ESME_RINVDCS: 0x104,
} as const;

/** Statuses that are the destination's fault: a bad number no other carrier can reach either. */
const RECIPIENT = new Set<number>([
  SMPP_STATUS.ESME_RINVDSTADR,
  SMPP_STATUS.ESME_RINVDSTTON,
  SMPP_STATUS.ESME_RINVDSTNPI,
]);
/** The MC is saturated: slow down (retryable elsewhere or later). */
const THROTTLED = new Set<number>([
  SMPP_STATUS.ESME_RTHROTTLED,
  SMPP_STATUS.ESME_RMSGQFUL,
  SMPP_STATUS.ESME_RX_T_APPN,
]);
/** The MC refused this submission (content, encoding, our account), not the destination. */
const REJECTED = new Set<number>([
  SMPP_STATUS.ESME_RINVMSGLEN,
  SMPP_STATUS.ESME_RINVSRCADR,
  SMPP_STATUS.ESME_RINVDCS,
  SMPP_STATUS.ESME_RX_P_APPN,
  SMPP_STATUS.ESME_RX_R_APPN,
]);

export function smppStatusHex(status: number): string {
  return `0x${status.toString(16).padStart(8, '0')}`;
}

/**
 * A non-zero submit_sm_resp command_status as a CarrierError: invalid destination → recipient
 * (not retryable, not counted by the breaker); throttled / queue full → throttled; content or
 * account refusals → rejected (another carrier may take it); anything else → unavailable.
 */
export function carrierErrorOfStatus(carrierId: string, status: number): CarrierError {
  const providerCode = smppStatusHex(status);
  if (RECIPIENT.has(status))
    return CarrierError.recipient(
      carrierId,
      `${carrierId}: invalid destination (${providerCode})`,
      { providerCode },
    );
  if (THROTTLED.has(status))
    return CarrierError.throttled(carrierId, `${carrierId}: throttled (${providerCode})`, {
      providerCode,
    });
  if (REJECTED.has(status))
    return CarrierError.rejected(carrierId, `${carrierId}: submission refused (${providerCode})`, {
      providerCode,
    });
  return CarrierError.unavailable(carrierId, `${carrierId}: submit failed (${providerCode})`, {
    providerCode,
  });
}
