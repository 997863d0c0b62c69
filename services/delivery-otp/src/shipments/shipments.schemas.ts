import { Inject, Injectable } from '@nestjs/common';
import { deliveryWindow, e164, emailAddress } from '@phonegate/contracts';
import { ZodPipe } from '@phonegate/platform';
import { z } from 'zod';
import type { CallingCodePolicy, DeliveryOtpConfig } from '../config/delivery-otp.config';
import { DELIVERY_OTP_CONFIG } from '../tokens';
import { CALLING_CODE_REFUSED, callingCodeAllowed, NOT_SMS_CAPABLE, smsCapable } from './contact-phone';

export const shipmentRef = z.string().min(1).max(100);

const window = deliveryWindow.refine((w) => Date.parse(w.end) > Date.parse(w.start), {
  message: 'window.end must be after window.start',
  path: ['end'],
});

/**
 * The out-for-delivery body under a calling-code policy (SECURITY S3): a
 * contact number that cannot take the code by SMS, or whose calling code the
 * policy refuses, is a 422 naming contact.phone.
 */
export const outForDeliveryBody = (smsCallingCodes: CallingCodePolicy) =>
  z.object({
    orderId: shipmentRef,
    accountId: shipmentRef,
    merchantId: shipmentRef.optional(),
    contact: z.object({
      phone: e164
        .refine(smsCapable, NOT_SMS_CAPABLE)
        .refine((phone) => callingCodeAllowed(phone, smsCallingCodes), CALLING_CODE_REFUSED)
        .optional(),
      email: z.string().max(320).pipe(emailAddress).optional(),
    }),
    courierId: shipmentRef,
    window,
    locale: z.string().regex(/^[a-z]{2}(-[A-Z]{2})?$/).optional(),
  });
export type OutForDeliveryBody = z.infer<ReturnType<typeof outForDeliveryBody>>;

/** Validates an out-for-delivery body under this deployment's calling-code policy (DELIVERY_ALLOWED_COUNTRIES, DELIVERY_DENIED_COUNTRIES). */
@Injectable()
export class OutForDeliveryPipe extends ZodPipe<ReturnType<typeof outForDeliveryBody>> {
  constructor(@Inject(DELIVERY_OTP_CONFIG) config: DeliveryOtpConfig) {
    super(outForDeliveryBody(config.smsCallingCodes));
  }
}

export const rescheduleBody = z.object({ window, courierId: shipmentRef.optional() });
export type RescheduleBody = z.infer<typeof rescheduleBody>;

export const cancelBody = z.object({ reason: z.string().max(200).optional() }).optional();

export const accountQuery = z.object({ accountId: shipmentRef });

export const regenerateBody = z.object({ accountId: shipmentRef.optional() }).optional();

export const shipmentParams = z.object({ shipmentId: shipmentRef });

/** The answer of every logistics and customer call about a shipment. */
export interface ShipmentAnswer {
  shipmentId: string;
  status: 'awaiting_handoff' | 'locked' | 'handed_off' | 'cancelled';
  expiresAt?: string;
}
