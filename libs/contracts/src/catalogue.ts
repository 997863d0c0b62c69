import type { CommandContract } from './define-command';
import type { EventContract } from './define-event';
import { handoffCodeIssuedV1, handoffConfirmedV1, handoffFailedAttemptV1, handoffLockedV1 } from './delivery/handoff-events.v1';
import { accountCreatedV1 } from './identity/account-created.v1';
import { accountExistsV1 } from './identity/commands.v1';
import { phoneAddedV1 } from './identity/phone-added.v1';
import { phonePrimaryChangedV1, phoneRemovedV1, phoneVerifiedV1 } from './identity/phone-changed.v1';
import { signinChallengedV1 } from './identity/signin-challenged.v1';
import { twoStepChangedV1 } from './identity/two-step-changed.v1';
import { notificationDeliveredV1, notificationDroppedV1, notificationFailedV1, notificationSentV1 } from './notification/notification-outcome.v1';
import { notificationRequestedV1 } from './notification/notification-requested.v1';
import { orderStatusChangedV1 } from './order/order-status-changed.v1';
import {
  challengeApprovedV1,
  challengeCreatedV1,
  challengeExpiredV1,
  challengeFailedAttemptV1,
  challengeLockedV1,
} from './otp/challenge-events.v1';
import {
  checkChallengeV1,
  getChallengeV1,
  getCodePolicyV1,
  getFactorsV1,
  giveBackStepUpV1,
  resendChallengeV1,
  startChallengeV1,
  takeStepUpV1,
  verifyFactorV1,
} from './otp/commands.v1';
import { shipmentCancelledV1, shipmentOutForDeliveryV1, shipmentRescheduledV1 } from './shipment/shipment-events.v1';

export const identity: EventContract[] = [
  accountCreatedV1,
  phoneAddedV1,
  phoneVerifiedV1,
  phonePrimaryChangedV1,
  phoneRemovedV1,
  twoStepChangedV1,
  signinChallengedV1,
];
export const otp: EventContract[] = [
  challengeCreatedV1,
  challengeApprovedV1,
  challengeFailedAttemptV1,
  challengeLockedV1,
  challengeExpiredV1,
];
export const notification: EventContract[] = [
  notificationRequestedV1,
  notificationSentV1,
  notificationDeliveredV1,
  notificationFailedV1,
  notificationDroppedV1,
];
export const shipment: EventContract[] = [shipmentOutForDeliveryV1, shipmentRescheduledV1, shipmentCancelledV1];
export const delivery: EventContract[] = [handoffCodeIssuedV1, handoffConfirmedV1, handoffFailedAttemptV1, handoffLockedV1];
export const order: EventContract[] = [orderStatusChangedV1];
export const otpCommands: CommandContract[] = [
  startChallengeV1,
  checkChallengeV1,
  resendChallengeV1,
  getChallengeV1,
  verifyFactorV1,
  getFactorsV1,
  takeStepUpV1,
  giveBackStepUpV1,
  getCodePolicyV1,
];
export const identityCommands: CommandContract[] = [accountExistsV1];
