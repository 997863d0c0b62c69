/** Injection tokens of the delivery-otp service. */
export const DELIVERY_OTP_CONFIG = Symbol('DELIVERY_OTP_CONFIG');
