import { Controller, Inject } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { type EventData, shipmentCancelledV1, shipmentOutForDeliveryV1, shipmentRescheduledV1 } from '@phonegate/contracts';
import { OnEvent } from '@phonegate/messaging';
import { DomainError, type Logger, PLATFORM_LOGGER } from '@phonegate/platform';
import type { DeliveryOtpConfig } from '../config/delivery-otp.config';
import { DELIVERY_OTP_CONFIG } from '../tokens';
import { CALLING_CODE_REFUSED, callingCodeAllowed, NOT_SMS_CAPABLE, smsCapable } from './contact-phone';
import { CancelShipment } from './usecases/cancel-shipment';
import { IssueCode } from './usecases/issue-code';
import { RescheduleShipment } from './usecases/reschedule-shipment';

type OutForDeliveryEvent = EventData<typeof shipmentOutForDeliveryV1>;
type RescheduledEvent = EventData<typeof shipmentRescheduledV1>;
type CancelledEvent = EventData<typeof shipmentCancelledV1>;

/**
 * The logistics events: the same use cases as the HTTP routes. Outcomes that
 * need no action (already handed off, an unknown shipment cancelled) are
 * acknowledged; a reschedule that arrives before its out-for-delivery is
 * retried with back-off; other domain refusals are parked with the reason.
 */
@Controller()
export class ShipmentEventsConsumer {
  constructor(
    private readonly issue: IssueCode,
    private readonly reschedule: RescheduleShipment,
    private readonly cancel: CancelShipment,
    @Inject(DELIVERY_OTP_CONFIG) private readonly config: DeliveryOtpConfig,
    @Inject(PLATFORM_LOGGER) private readonly logger: Logger,
  ) {}

  @OnEvent(shipmentOutForDeliveryV1)
  async onOutForDelivery(@Payload() data: OutForDeliveryEvent): Promise<void> {
    await this.ignoring(['already_handed_off'], data.shipmentId, () =>
      this.issue.execute({
        shipmentId: data.shipmentId,
        orderId: data.orderId,
        accountId: data.accountId,
        ...(data.merchantId ? { merchantId: data.merchantId } : {}),
        contact: this.reachable(data.shipmentId, data.contact),
        courierId: data.courierId,
        window: data.window,
      }),
    );
  }

  /**
   * The event's contact without a number that cannot take SMS or whose calling code the policy
   * refuses (SECURITY S3): the code still goes by e-mail and in the app.
   */
  private reachable(shipmentId: string, contact: OutForDeliveryEvent['contact']): OutForDeliveryEvent['contact'] {
    if (!contact.phone) return contact;
    const refusal = !smsCapable(contact.phone) ? NOT_SMS_CAPABLE : !callingCodeAllowed(contact.phone, this.config.smsCallingCodes) ? CALLING_CODE_REFUSED : undefined;
    if (!refusal) return contact;
    this.logger.warn({ shipmentId }, `out for delivery: contact phone dropped, it ${refusal}`);
    const { phone: _phone, ...rest } = contact;
    return rest;
  }

  @OnEvent(shipmentRescheduledV1)
  async onRescheduled(@Payload() data: RescheduledEvent): Promise<void> {
    try {
      await this.ignoring(['already_handed_off'], data.shipmentId, () =>
        this.reschedule.execute(data.shipmentId, { window: data.window, ...(data.courierId ? { courierId: data.courierId } : {}) }),
      );
    } catch (error) {
      if (error instanceof DomainError && error.code === 'not_found') {
        // Possibly ahead of its out_for_delivery event: try again later.
        throw new DomainError('not_found', error.detail, {}, true);
      }
      throw error;
    }
  }

  @OnEvent(shipmentCancelledV1)
  async onCancelled(@Payload() data: CancelledEvent): Promise<void> {
    await this.ignoring(['already_handed_off', 'not_found'], data.shipmentId, () => this.cancel.execute(data.shipmentId));
  }

  private async ignoring(codes: string[], shipmentId: string, work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (error) {
      if (error instanceof DomainError && codes.includes(error.code)) {
        this.logger.info({ shipmentId, outcome: error.code }, 'shipment event needs no action');
        return;
      }
      throw error;
    }
  }
}
