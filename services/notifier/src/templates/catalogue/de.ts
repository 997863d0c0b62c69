import type { EmailSource, LocaleCatalogue } from '../template.types';

// ä, ö, ü and ß are GSM-7 characters: German SMS stay one segment.
const otpSms = (lead: string) =>
  `${lead} Nie weitergeben: {{brand}} fragt nie danach.{{#reportUrl}}\nNicht du? {{reportUrl}}{{/reportUrl}}\n@{{host}} #{{code}}`;
const otpVoice = (what: string) =>
  `Dein ${what} von {{brand}} lautet {{code:spaced}}. Noch einmal, dein Code lautet {{code:spaced}}. Gib ihn niemandem weiter.`;
const otpEmail = (subject: string, lead: string): EmailSource => ({
  subject,
  text:
    `${lead}{{#minutes}} Er läuft in {{minutes}} Minuten ab.{{/minutes}}\n\n` +
    'Gib diesen Code niemals weiter. Niemand von {{brand}} wird dich je danach fragen, weder am Telefon noch per E-Mail oder Chat.\n' +
    '{{#reportUrl}}\nNicht angefordert? Sag uns Bescheid: {{reportUrl}}\n{{/reportUrl}}' +
    '\n@{{host}} #{{code}}',
});
const alert = (subject: string, body: string): { email: EmailSource } => ({
  email: {
    subject: `{{brand}}: ${subject}`,
    text: `${body}\n{{#supportUrl}}\nHilfe: {{supportUrl}}\n{{/supportUrl}}\nDies ist ein automatischer Sicherheitshinweis von {{brand}}. Wir fragen dich nie nach einem Code oder deinem Passwort.`,
  },
});
const notMe = 'Wenn du das nicht warst, ändere jetzt dein Passwort und prüfe deine Telefonnummern.';
const when = '{{#at}} am {{at:date}} um {{at:time}}{{/at}}';
const order = (what: string) => ({
  sms: `{{brand}}: Deine Bestellung {{orderId}} ${what}{{#trackingUrl}} {{trackingUrl}}{{/trackingUrl}}`,
});

export const de: LocaleCatalogue = {
  'otp.sign_in': {
    sms: otpSms('Dein Anmeldecode lautet {{code}}.'),
    voice: otpVoice('Anmeldecode'),
    email: otpEmail('Dein Anmeldecode für {{brand}}', 'Dein Anmeldecode lautet {{code}}.'),
  },
  'otp.phone_verification': {
    sms: otpSms('Dein Bestätigungscode lautet {{code}}.'),
    voice: otpVoice('Bestätigungscode'),
    email: otpEmail(
      'Bestätige deine Telefonnummer',
      'Dein Code zur Bestätigung deiner Telefonnummer lautet {{code}}.',
    ),
  },
  'otp.step_up': {
    sms: otpSms('Dein Freigabecode lautet {{code}}.'),
    voice: otpVoice('Bestätigungscode'),
    email: otpEmail(
      'Bestätige eine Änderung an deinem {{brand}}-Konto',
      'Dein Code zur Bestätigung dieser Änderung lautet {{code}}.',
    ),
  },
  'otp.password_reset': {
    sms: otpSms('Code für dein neues Passwort: {{code}}.'),
    voice: otpVoice('Code zum Zurücksetzen des Passworts'),
    email: otpEmail(
      'Setze dein {{brand}}-Passwort zurück',
      'Dein Code zum Zurücksetzen des Passworts lautet {{code}}.',
    ),
  },
  'otp.verification': {
    sms: otpSms('Dein Code lautet {{code}}.'),
    voice: otpVoice('Bestätigungscode'),
    email: otpEmail(
      'Dein Bestätigungscode für {{brand}}',
      'Dein Bestätigungscode lautet {{code}}.',
    ),
  },
  'security.new_device': alert(
    'neue Anmeldung bei deinem Konto',
    `Dein Konto wurde auf einem neuen Gerät angemeldet{{#device}} ({{device}}){{/device}}{{#location}} in der Nähe von {{location}}{{/location}}${when}.\n` +
      `Wenn du das warst, musst du nichts tun. ${notMe}`,
  ),
  'security.phone_added': alert(
    'eine Telefonnummer wurde hinzugefügt',
    `Die Nummer {{phone:masked}} wurde deinem Konto${when} hinzugefügt.\n${notMe}`,
  ),
  // The old number is told too (S8): by SMS, or by voice when it cannot take SMS.
  'security.phone_changed': {
    ...alert(
      'deine Telefonnummer wurde geändert',
      `Deine Nummer {{oldPhone:masked}} wurde${when} durch {{phone:masked}} ersetzt.\n${notMe}`,
    ),
    sms: '{{brand}}: Die Telefonnummer deines Kontos wurde von dieser Nummer auf eine andere geändert. Nicht du? Ändere jetzt dein Passwort.',
    voice:
      'Hier ist {{brand}}. Die Telefonnummer deines Kontos wurde von dieser Nummer auf eine andere geändert. Wenn du das nicht warst, ändere jetzt dein Passwort.',
  },
  'security.phone_removed': alert(
    'eine Telefonnummer wurde entfernt',
    `Die Nummer {{phone:masked}} wurde${when} aus deinem Konto entfernt.\n${notMe}`,
  ),
  'security.two_step_disabled': alert(
    'die Anmeldung in zwei Schritten wurde ausgeschaltet',
    `Die Anmeldung in zwei Schritten wurde für dein Konto${when} ausgeschaltet. Dein Konto ist jetzt nur noch durch dein Passwort geschützt.\n${notMe}`,
  ),
  'security.two_step_changed': alert(
    'die Einstellungen der Anmeldung in zwei Schritten wurden geändert',
    `Die Einstellungen der Anmeldung in zwei Schritten (wie dich deine Codes erreichen) wurden für dein Konto${when} geändert.\n${notMe}`,
  ),
  'security.password_changed': alert(
    'dein Passwort wurde geändert',
    `Das Passwort deines Kontos wurde${when} geändert. Alle Sitzungen wurden abgemeldet.\nWenn du das nicht warst, setze dein Passwort jetzt zurück.`,
  ),
  'security.failed_codes': alert(
    'es wurden falsche Codes eingegeben',
    `Bei der Anmeldung an deinem Konto wurden${when} {{#count}}{{count}} {{/count}}falsche Codes eingegeben.\n` +
      'Wenn du das nicht warst, kennt jemand vielleicht dein Passwort: ändere es jetzt. Gib niemals einen Code weiter.',
  ),
  'security.unrequested_codes': alert(
    'Codes, die du vielleicht nicht angefordert hast',
    'Wir haben {{#count}}{{count}} {{/count}}Codes{{#phone}} an {{phone:masked}}{{/phone}} gesendet, die du vielleicht nicht angefordert hast.\n' +
      'Gib diese Codes nicht weiter: Niemand von {{brand}} fragt danach. Wenn du sie nicht angefordert hast, ändere dein Passwort.',
  ),
  'security.lockout': alert(
    'zu viele falsche Anmeldecodes',
    '{{#minutes}}Die Anmeldung an deinem Konto ist nach zu vielen falschen Codes für {{minutes}} Minuten gesperrt.{{/minutes}}{{^minutes}}Eine Anmeldung an deinem Konto wurde nach zu vielen falschen Codes abgebrochen; für eine neue Anmeldung braucht es einen neuen Code.{{/minutes}}\n' +
      'Wenn du das nicht warst, ändere dein Passwort, sobald du dich wieder anmelden kannst.',
  ),
  'security.code_reported': alert(
    'danke für deine Meldung',
    `Du hast uns gemeldet, dass du einen Code${when} nicht angefordert hast. Dieser Code funktioniert nicht mehr.\nJemand kennt vielleicht dein Passwort: ändere es jetzt.`,
  ),
  'delivery.handoff_code': {
    sms:
      'Dein Liefercode von {{brand}}{{#orderId}} für Bestellung {{orderId}}{{/orderId}} lautet {{code}}. Gib ihn nur dem Boten an deiner Tür' +
      '{{#windowStart}} ({{windowStart:time}}-{{windowEnd:time}}){{/windowStart}}.{{#host}}\n@{{host}} #{{code}}{{/host}}',
  },
  'delivery.handoff_code_email': {
    email: {
      subject: 'Dein Liefercode von {{brand}}{{#orderId}} für Bestellung {{orderId}}{{/orderId}}',
      text:
        'Dein Liefercode lautet {{code}}.\n\n' +
        '{{#windowStart}}Deine Bestellung kommt am {{windowStart:date}} zwischen {{windowStart:time}} und {{windowEnd:time}}. {{/windowStart}}' +
        'Gib den Code nur dem Boten an deiner Tür, wenn du das Paket erhältst. Niemand von {{brand}} fragt am Telefon danach.',
    },
  },
  'delivery.handed_off': {
    sms: '{{brand}}: Deine Bestellung {{orderId}} wurde{{#at}} um {{at:time}}{{/at}} übergeben. Nicht du? Melde dich sofort bei uns.',
    email: {
      subject: '{{brand}}: Deine Bestellung {{orderId}} wurde zugestellt',
      text: `Deine Bestellung {{orderId}} wurde${when} übergeben.\nWenn du sie nicht erhalten hast, melde dich sofort bei uns.`,
    },
  },
  'order.status_changed.confirmed': order('ist bestätigt. Danke!'),
  'order.status_changed.packed': order('ist verpackt und wird bald versandt.'),
  'order.status_changed.shipped': order('wurde versandt.'),
  'order.status_changed.out_for_delivery': order('wird heute zugestellt.'),
  'order.status_changed.delivered': order('wurde zugestellt.'),
  'order.status_changed.cancelled': order('wurde storniert.'),
  'order.status_changed.refunded': order('wurde erstattet.'),
};
