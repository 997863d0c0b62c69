import type { EmailSource, LocaleCatalogue } from '../template.types';

// SMS: one GSM-7 segment (160) with a host of up to 16 characters and a report link of up to 32.
const otpSms = (lead: string) =>
  `${lead} Never share it: nobody at {{brand}} will ask for it.{{#reportUrl}}\nNot you? {{reportUrl}}{{/reportUrl}}\n@{{host}} #{{code}}`;
const otpVoice = (what: string) =>
  `Your {{brand}} ${what} code is {{code:spaced}}. Again, your code is {{code:spaced}}. Never share it with anyone.`;
const otpEmail = (subject: string, lead: string): EmailSource => ({
  subject,
  text:
    `${lead}{{#minutes}} It expires in {{minutes}} minutes.{{/minutes}}\n\n` +
    'Never share this code. No one from {{brand}} will ever ask you for it, by phone, e-mail or chat.\n' +
    '{{#reportUrl}}\nDid not ask for it? Tell us: {{reportUrl}}\n{{/reportUrl}}' +
    '\n@{{host}} #{{code}}',
});
const alert = (subject: string, body: string): { email: EmailSource } => ({
  email: {
    subject: `{{brand}}: ${subject}`,
    text: `${body}\n{{#supportUrl}}\nHelp: {{supportUrl}}\n{{/supportUrl}}\nThis is an automatic security notice from {{brand}}. We will never ask you for a code or your password.`,
  },
});
const notMe = 'If this was not you, change your password now and check your phone numbers.';
const order = (what: string) => ({
  sms: `{{brand}}: your order {{orderId}} ${what}{{#trackingUrl}} {{trackingUrl}}{{/trackingUrl}}`,
});

export const en: LocaleCatalogue = {
  'otp.sign_in': {
    sms: otpSms('Your sign-in code is {{code}}.'),
    voice: otpVoice('sign-in'),
    email: otpEmail('Your {{brand}} sign-in code', 'Your sign-in code is {{code}}.'),
  },
  'otp.phone_verification': {
    sms: otpSms('Phone verification code: {{code}}.'),
    voice: otpVoice('verification'),
    email: otpEmail(
      'Verify your phone number',
      'Your code to verify your phone number is {{code}}.',
    ),
  },
  'otp.step_up': {
    sms: otpSms('Confirmation code: {{code}}.'),
    voice: otpVoice('confirmation'),
    email: otpEmail(
      'Confirm a change to your {{brand}} account',
      'Your code to confirm this change is {{code}}.',
    ),
  },
  'otp.password_reset': {
    sms: otpSms('Password reset code: {{code}}.'),
    voice: otpVoice('password reset'),
    email: otpEmail('Reset your {{brand}} password', 'Your password reset code is {{code}}.'),
  },
  'otp.verification': {
    sms: otpSms('Verification code: {{code}}.'),
    voice: otpVoice('verification'),
    email: otpEmail('Your {{brand}} verification code', 'Your verification code is {{code}}.'),
  },
  'security.new_device': alert(
    'new sign-in to your account',
    'Your account was signed in from a new device{{#device}} ({{device}}){{/device}}{{#location}} near {{location}}{{/location}}{{#at}} on {{at:date}} at {{at:time}}{{/at}}.\n' +
      `If this was you, there is nothing to do. ${notMe}`,
  ),
  'security.phone_added': alert(
    'a phone number was added',
    'The number {{phone:masked}} was added to your account{{#at}} on {{at:date}} at {{at:time}}{{/at}}.\n' +
      notMe,
  ),
  // The old number is told too (S8): by SMS, or by voice when it cannot take SMS.
  'security.phone_changed': {
    ...alert(
      'your phone number was changed',
      'Your number {{oldPhone:masked}} was replaced by {{phone:masked}}{{#at}} on {{at:date}} at {{at:time}}{{/at}}.\n' +
        notMe,
    ),
    sms: '{{brand}}: the phone number of your account was changed from this number to another. Not you? Change your password now.',
    voice:
      'This is {{brand}}. The phone number of your account was changed from this number to another one. If this was not you, change your password now.',
  },
  'security.phone_removed': alert(
    'a phone number was removed',
    'The number {{phone:masked}} was removed from your account{{#at}} on {{at:date}} at {{at:time}}{{/at}}.\n' +
      notMe,
  ),
  'security.two_step_disabled': alert(
    'two-step sign-in was turned off',
    'Two-step sign-in was turned off for your account{{#at}} on {{at:date}} at {{at:time}}{{/at}}. Your account is now protected by your password only.\n' +
      notMe,
  ),
  'security.two_step_changed': alert(
    'your two-step sign-in settings were changed',
    'The two-step sign-in settings of your account (how your sign-in codes reach you) were changed{{#at}} on {{at:date}} at {{at:time}}{{/at}}.\n' +
      notMe,
  ),
  'security.password_changed': alert(
    'your password was changed',
    'The password of your account was changed{{#at}} on {{at:date}} at {{at:time}}{{/at}}. Every session was signed out.\n' +
      'If this was not you, reset your password now.',
  ),
  'security.failed_codes': alert(
    'wrong codes were entered',
    'Someone entered {{#count}}{{count}} {{/count}}wrong codes while signing in to your account{{#at}} on {{at:date}} at {{at:time}}{{/at}}.\n' +
      'If this was not you, someone may know your password: change it now. Never share a code with anyone.',
  ),
  'security.unrequested_codes': alert(
    'codes you may not have asked for',
    'We sent {{#count}}{{count}} {{/count}}codes{{#phone}} to {{phone:masked}}{{/phone}} that may not have been asked for by you.\n' +
      'Never share these codes: no one from {{brand}} will ask for them. If you did not ask for them, change your password.',
  ),
  'security.lockout': alert(
    'too many wrong sign-in codes',
    '{{#minutes}}Sign-in to your account is locked for {{minutes}} minutes after too many wrong codes.{{/minutes}}{{^minutes}}A sign-in to your account was stopped after too many wrong codes; signing in again takes a new code.{{/minutes}}\n' +
      'If this was not you, change your password as soon as you can sign in.',
  ),
  'security.code_reported': alert(
    'thank you for reporting a code',
    'You told us you did not ask for a code we sent{{#at}} on {{at:date}} at {{at:time}}{{/at}}. That code no longer works.\n' +
      'Someone may know your password: change it now.',
  ),
  'delivery.handoff_code': {
    sms:
      'Your {{brand}} delivery code{{#orderId}} for order {{orderId}}{{/orderId}} is {{code}}. Only give it to the courier at your door' +
      '{{#windowStart}} ({{windowStart:time}}-{{windowEnd:time}}){{/windowStart}}.{{#host}}\n@{{host}} #{{code}}{{/host}}',
  },
  'delivery.handoff_code_email': {
    email: {
      subject: 'Your {{brand}} delivery code{{#orderId}} for order {{orderId}}{{/orderId}}',
      text:
        'Your delivery code is {{code}}.\n\n' +
        '{{#windowStart}}Your order arrives on {{windowStart:date}} between {{windowStart:time}} and {{windowEnd:time}}. {{/windowStart}}' +
        'Give the code to the courier only at your door, when you receive the parcel. No one from {{brand}} will ask for it by phone.',
    },
  },
  'delivery.handed_off': {
    sms: '{{brand}}: your order {{orderId}} was handed over{{#at}} at {{at:time}}{{/at}}. Not you? Contact us at once.',
    email: {
      subject: '{{brand}}: your order {{orderId}} was delivered',
      text: 'Your order {{orderId}} was handed over{{#at}} on {{at:date}} at {{at:time}}{{/at}}.\nIf you did not receive it, contact us at once.',
    },
  },
  'order.status_changed.confirmed': order('is confirmed. Thank you!'),
  'order.status_changed.packed': order('is packed and will ship soon.'),
  'order.status_changed.shipped': order('has shipped.'),
  'order.status_changed.out_for_delivery': order('is out for delivery today.'),
  'order.status_changed.delivered': order('was delivered.'),
  'order.status_changed.cancelled': order('was cancelled.'),
  'order.status_changed.refunded': order('was refunded.'),
};
