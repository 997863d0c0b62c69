export * from './carrier.errors';
export * from './carrier.types';
export { createCarrier } from './carrier.factory';
export { CarrierStack } from './carrier-stack';
export type { CallbackCheck, CarrierStackOptions } from './carrier-stack';
export * from './config/carriers.config';
export { DevInboxCarrier } from './dev/dev-inbox.carrier';
export type { DevInboxCarrierOptions, DevInboxMessage } from './dev/dev-inbox.carrier';
export {
  CALLBACK_SIGNATURE_HEADER,
  computeCallbackSignature,
  verifyCallbackSignature,
} from './http-sms/callback-signature';
export { carrierErrorOfHttp, RECIPIENT_ERROR_CODES } from './http-sms/http-errors';
export { HttpSmsCarrier, sayTwiml } from './http-sms/http-sms.carrier';
export type { HttpSmsCarrierConfig } from './http-sms/http-sms.carrier';
export { parseStatusCallback } from './http-sms/status-callback.parser';
export { Bulkhead, BulkheadRejectedError } from './resilience/bulkhead';
export { BREAKER_STATE_VALUE, CarrierMetrics } from './resilience/carrier-metrics';
export { FailoverSender } from './resilience/failover.sender';
export type {
  BreakerPolicy,
  BreakerState,
  BreakerStateChange,
  CarrierPolicy,
  CarrierSnapshot,
  FailoverSenderOptions,
  SendOutcome,
} from './resilience/failover.sender';
export { routeCandidates } from './resilience/routing';
export type { Preferences, RouteRule } from './resilience/routing';
export {
  MemoryRateLimiter,
  RedisRateLimiter,
  takeToken,
  takeTokens,
  TOKEN_BUCKET_LUA,
} from './resilience/token-bucket';
export type { BucketLimits, RateLimiter, TakeResult } from './resilience/token-bucket';
export { parseDeliveryReceipt } from './smpp/delivery-receipt.parser';
export { SMPP_CARRIER_DEFAULTS, SmppCarrier } from './smpp/smpp.carrier';
export type { SmppCarrierConfig } from './smpp/smpp.carrier';
export { carrierErrorOfStatus, SMPP_STATUS } from './smpp/smpp-status';
export { buildSubmitParts, chooseEncoding, segmentInfo, splitSegments } from './smpp/sms-encoding';
export type { SegmentInfo, SmsEncoding } from './smpp/sms-encoding';
export { carrierErrorOfSmtp, SmtpCarrier } from './smtp/smtp.carrier';
export type { SmtpCarrierConfig } from './smtp/smtp.carrier';
