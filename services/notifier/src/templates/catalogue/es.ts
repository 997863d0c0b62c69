import type { EmailSource, LocaleCatalogue } from '../template.types';

// Accents GSM-7 lacks (á, í, ó, ú) become plain letters in SMS (toGsm7IfLatin), so one segment stays one.
const otpSms = (lead: string) =>
  `${lead} No lo compartas; nadie de {{brand}} lo pedirá.{{#reportUrl}}\n¿No fuiste tú? {{reportUrl}}{{/reportUrl}}\n@{{host}} #{{code}}`;
const otpVoice = (what: string) =>
  `Tu código ${what} de {{brand}} es {{code:spaced}}. Repito, tu código es {{code:spaced}}. No lo compartas con nadie.`;
const otpEmail = (subject: string, lead: string): EmailSource => ({
  subject,
  text:
    `${lead}{{#minutes}} Caduca en {{minutes}} minutos.{{/minutes}}\n\n` +
    'No compartas este código. Nadie de {{brand}} te lo pedirá nunca, ni por teléfono, ni por correo, ni por chat.\n' +
    '{{#reportUrl}}\n¿No lo pediste? Avísanos: {{reportUrl}}\n{{/reportUrl}}' +
    '\n@{{host}} #{{code}}',
});
const alert = (subject: string, body: string): { email: EmailSource } => ({
  email: {
    subject: `{{brand}}: ${subject}`,
    text: `${body}\n{{#supportUrl}}\nAyuda: {{supportUrl}}\n{{/supportUrl}}\nEste es un aviso de seguridad automático de {{brand}}. Nunca te pediremos un código ni tu contraseña.`,
  },
});
const notMe = 'Si no fuiste tú, cambia tu contraseña ahora y revisa tus números de teléfono.';
const when = '{{#at}} el {{at:date}} a las {{at:time}}{{/at}}';
const order = (what: string) => ({
  sms: `{{brand}}: tu pedido {{orderId}} ${what}{{#trackingUrl}} {{trackingUrl}}{{/trackingUrl}}`,
});

export const es: LocaleCatalogue = {
  'otp.sign_in': {
    sms: otpSms('Tu código de acceso es {{code}}.'),
    voice: otpVoice('de inicio de sesión'),
    email: otpEmail(
      'Tu código de inicio de sesión de {{brand}}',
      'Tu código de inicio de sesión es {{code}}.',
    ),
  },
  'otp.phone_verification': {
    sms: otpSms('Código de verificación: {{code}}.'),
    voice: otpVoice('de verificación'),
    email: otpEmail(
      'Verifica tu número de teléfono',
      'Tu código para verificar tu número de teléfono es {{code}}.',
    ),
  },
  'otp.step_up': {
    sms: otpSms('Código de confirmación: {{code}}.'),
    voice: otpVoice('de confirmación'),
    email: otpEmail(
      'Confirma un cambio en tu cuenta de {{brand}}',
      'Tu código para confirmar este cambio es {{code}}.',
    ),
  },
  'otp.password_reset': {
    sms: otpSms('Código de recuperación: {{code}}.'),
    voice: otpVoice('para restablecer la contraseña'),
    email: otpEmail(
      'Restablece tu contraseña de {{brand}}',
      'Tu código para restablecer la contraseña es {{code}}.',
    ),
  },
  'otp.verification': {
    sms: otpSms('Tu código es {{code}}.'),
    voice: otpVoice('de verificación'),
    email: otpEmail(
      'Tu código de verificación de {{brand}}',
      'Tu código de verificación es {{code}}.',
    ),
  },
  'security.new_device': alert(
    'nuevo inicio de sesión en tu cuenta',
    `Se inició sesión en tu cuenta desde un dispositivo nuevo{{#device}} ({{device}}){{/device}}{{#location}} cerca de {{location}}{{/location}}${when}.\n` +
      `Si fuiste tú, no tienes que hacer nada. ${notMe}`,
  ),
  'security.phone_added': alert(
    'se añadió un número de teléfono',
    `Se añadió el número {{phone:masked}} a tu cuenta${when}.\n${notMe}`,
  ),
  // The old number is told too (S8): by SMS, or by voice when it cannot take SMS.
  'security.phone_changed': {
    ...alert(
      'se cambió tu número de teléfono',
      `Tu número {{oldPhone:masked}} se sustituyó por {{phone:masked}}${when}.\n${notMe}`,
    ),
    sms: '{{brand}}: el número de teléfono de tu cuenta se cambió de este número a otro. ¿No fuiste tú? Cambia tu contraseña ahora.',
    voice:
      'Te habla {{brand}}. El número de teléfono de tu cuenta se cambió de este número a otro. Si no fuiste tú, cambia tu contraseña ahora.',
  },
  'security.phone_removed': alert(
    'se eliminó un número de teléfono',
    `Se eliminó el número {{phone:masked}} de tu cuenta${when}.\n${notMe}`,
  ),
  'security.two_step_disabled': alert(
    'se desactivó el inicio de sesión en dos pasos',
    `Se desactivó el inicio de sesión en dos pasos de tu cuenta${when}. Ahora solo la protege tu contraseña.\n${notMe}`,
  ),
  'security.two_step_changed': alert(
    'se cambió la configuración del inicio de sesión en dos pasos',
    `Se cambió la configuración del inicio de sesión en dos pasos de tu cuenta (cómo te llegan los códigos)${when}.\n${notMe}`,
  ),
  'security.password_changed': alert(
    'se cambió tu contraseña',
    `Se cambió la contraseña de tu cuenta${when}. Se cerraron todas las sesiones.\nSi no fuiste tú, restablece tu contraseña ahora.`,
  ),
  'security.failed_codes': alert(
    'se introdujeron códigos incorrectos',
    `Alguien introdujo {{#count}}{{count}} {{/count}}códigos incorrectos al iniciar sesión en tu cuenta${when}.\n` +
      'Si no fuiste tú, alguien puede conocer tu contraseña: cámbiala ahora. Nunca compartas un código.',
  ),
  'security.unrequested_codes': alert(
    'códigos que quizá no pediste',
    'Enviamos {{#count}}{{count}} {{/count}}códigos{{#phone}} a {{phone:masked}}{{/phone}} que quizá no pediste tú.\n' +
      'No compartas estos códigos: nadie de {{brand}} te los pedirá. Si no los pediste, cambia tu contraseña.',
  ),
  'security.lockout': alert(
    'demasiados códigos de inicio de sesión incorrectos',
    '{{#minutes}}El inicio de sesión en tu cuenta está bloqueado durante {{minutes}} minutos tras demasiados códigos incorrectos.{{/minutes}}{{^minutes}}Se detuvo un inicio de sesión en tu cuenta tras demasiados códigos incorrectos; para volver a entrar hará falta un código nuevo.{{/minutes}}\n' +
      'Si no fuiste tú, cambia tu contraseña en cuanto puedas iniciar sesión.',
  ),
  'security.code_reported': alert(
    'gracias por avisarnos de un código',
    `Nos dijiste que no pediste un código que enviamos${when}. Ese código ya no sirve.\nAlguien puede conocer tu contraseña: cámbiala ahora.`,
  ),
  'delivery.handoff_code': {
    sms:
      'Tu código de entrega de {{brand}}{{#orderId}} para el pedido {{orderId}}{{/orderId}} es {{code}}. Dáselo solo al repartidor en tu puerta' +
      '{{#windowStart}} ({{windowStart:time}}-{{windowEnd:time}}){{/windowStart}}.{{#host}}\n@{{host}} #{{code}}{{/host}}',
  },
  'delivery.handoff_code_email': {
    email: {
      subject:
        'Tu código de entrega de {{brand}}{{#orderId}} para el pedido {{orderId}}{{/orderId}}',
      text:
        'Tu código de entrega es {{code}}.\n\n' +
        '{{#windowStart}}Tu pedido llega el {{windowStart:date}} entre las {{windowStart:time}} y las {{windowEnd:time}}. {{/windowStart}}' +
        'Da el código al repartidor solo en tu puerta, al recibir el paquete. Nadie de {{brand}} te lo pedirá por teléfono.',
    },
  },
  'delivery.handed_off': {
    sms: '{{brand}}: tu pedido {{orderId}} se entregó{{#at}} a las {{at:time}}{{/at}}. ¿No fuiste tú? Contáctanos enseguida.',
    email: {
      subject: '{{brand}}: tu pedido {{orderId}} se entregó',
      text: `Tu pedido {{orderId}} se entregó${when}.\nSi no lo recibiste, contáctanos enseguida.`,
    },
  },
  'order.status_changed.confirmed': order('está confirmado. ¡Gracias!'),
  'order.status_changed.packed': order('está preparado y saldrá pronto.'),
  'order.status_changed.shipped': order('ha sido enviado.'),
  'order.status_changed.out_for_delivery': order('está en reparto hoy.'),
  'order.status_changed.delivered': order('ha sido entregado.'),
  'order.status_changed.cancelled': order('ha sido cancelado.'),
  'order.status_changed.refunded': order('ha sido reembolsado.'),
};
