export { SIGNATURE_HEADER, signCallback } from './callback-signature';
export {
  CarrierRegistry,
  DEFAULT_BEHAVIOUR,
  DEFAULT_SIM_CARRIERS,
  isInvalidDestination,
} from './carrier.registry';
export type { Decision, SimCarrierState } from './carrier.registry';
export { behaviourPatchSchema, registerControlRoutes } from './control/control.routes';
export { HTTP_SIM_ERROR, registerHttpApiRoutes } from './http/http-api.routes';
export { textOfTwiml } from './http/twiml';
export { MessageStore } from './message.store';
export type { MessageQuery } from './message.store';
export { simEnvSchema, simOptionsFromEnv } from './sim.config';
export type * from './sim.types';
export {
  formatDeliveryReceipt,
  RECEIPT_MESSAGE_STATE,
  RECEIPT_STAT,
} from './smpp/delivery-receipt';
export { SMPP_STATUS } from './smpp/smpp.lib';
export { extractText, normalizeAddress } from './smpp/smpp.server';
export { parseMime } from './smtp/mime.parser';
export type { ParsedMail } from './smtp/mime.parser';
export { startCarrierSim } from './start-carrier-sim';
export type { CarrierSim } from './start-carrier-sim';
