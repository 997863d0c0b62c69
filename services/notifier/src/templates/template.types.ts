import type { Channel } from '@phonegate/contracts';

/**
 * Every template the notifier knows. WIRE NAMES: callers put these in
 * `notification.requested.v1.template`; never rename one, add new ones.
 */
export const ORDER_STATUSES = [
  'confirmed',
  'packed',
  'shipped',
  'out_for_delivery',
  'delivered',
  'cancelled',
  'refunded',
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export const TEMPLATE_NAMES = [
  'otp.sign_in',
  'otp.phone_verification',
  'otp.step_up',
  'otp.password_reset',
  'otp.verification',
  'security.new_device',
  'security.phone_added',
  'security.phone_changed',
  'security.phone_removed',
  'security.two_step_disabled',
  'security.two_step_changed',
  'security.password_changed',
  'security.failed_codes',
  'security.unrequested_codes',
  'security.lockout',
  'security.code_reported',
  'delivery.handoff_code',
  'delivery.handoff_code_email',
  'delivery.handed_off',
  ...ORDER_STATUSES.map((s) => `order.status_changed.${s}` as const),
] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];

export const LOCALES = ['en', 'es', 'de', 'hi', 'ja'] as const;
export type SupportedLocale = (typeof LOCALES)[number];

export interface EmailSource {
  subject: string;
  text: string;
}

/** One template in one locale: a text per channel it can be sent on. */
export interface TemplateSource {
  sms?: string;
  voice?: string;
  email?: EmailSource;
}

export type LocaleCatalogue = Readonly<Record<TemplateName, TemplateSource>>;

export function isTemplateName(name: string): name is TemplateName {
  return (TEMPLATE_NAMES as readonly string[]).includes(name);
}

export function channelsOf(source: TemplateSource): Channel[] {
  return (['sms', 'voice', 'email'] as const).filter((c) => source[c] !== undefined);
}
