import type { EmailSource, LocaleCatalogue } from '../template.types';

// Devanagari needs UCS-2 (70 characters a segment): kept short, the segment count is recorded.
const otpSms = (lead: string) =>
  `${lead} इसे किसी को न बताएँ: {{brand}} से कोई इसे नहीं माँगेगा।{{#reportUrl}}\nआपने नहीं माँगा? {{reportUrl}}{{/reportUrl}}\n@{{host}} #{{code}}`;
const otpVoice = (what: string) =>
  `आपका {{brand}} ${what} कोड है {{code:spaced}}। फिर से, आपका कोड है {{code:spaced}}। इसे किसी को न बताएँ।`;
const otpEmail = (subject: string, lead: string): EmailSource => ({
  subject,
  text:
    `${lead}{{#minutes}} यह {{minutes}} मिनट में समाप्त हो जाएगा।{{/minutes}}\n\n` +
    'यह कोड कभी किसी को न बताएँ। {{brand}} से कोई भी आपसे यह कोड फ़ोन, ई-मेल या चैट पर कभी नहीं माँगेगा।\n' +
    '{{#reportUrl}}\nआपने यह कोड नहीं माँगा? हमें बताएँ: {{reportUrl}}\n{{/reportUrl}}' +
    '\n@{{host}} #{{code}}',
});
const alert = (subject: string, body: string): { email: EmailSource } => ({
  email: {
    subject: `{{brand}}: ${subject}`,
    text: `${body}\n{{#supportUrl}}\nसहायता: {{supportUrl}}\n{{/supportUrl}}\nयह {{brand}} की ओर से एक स्वचालित सुरक्षा सूचना है। हम आपसे कभी कोड या पासवर्ड नहीं माँगेंगे।`,
  },
});
const notMe = 'अगर यह आप नहीं थे, तो अभी अपना पासवर्ड बदलें और अपने फ़ोन नंबर जाँचें।';
const when = '{{#at}} ({{at:date}}, {{at:time}}){{/at}}';
const order = (what: string) => ({
  sms: `{{brand}}: आपका ऑर्डर {{orderId}} ${what}{{#trackingUrl}} {{trackingUrl}}{{/trackingUrl}}`,
});

export const hi: LocaleCatalogue = {
  'otp.sign_in': {
    sms: otpSms('आपका साइन-इन कोड {{code}} है।'),
    voice: otpVoice('साइन-इन'),
    email: otpEmail('आपका {{brand}} साइन-इन कोड', 'आपका साइन-इन कोड {{code}} है।'),
  },
  'otp.phone_verification': {
    sms: otpSms('इस नंबर की पुष्टि का कोड {{code}} है।'),
    voice: otpVoice('पुष्टि'),
    email: otpEmail('अपने फ़ोन नंबर की पुष्टि करें', 'आपके फ़ोन नंबर की पुष्टि का कोड {{code}} है।'),
  },
  'otp.step_up': {
    sms: otpSms('इस बदलाव की पुष्टि का कोड {{code}} है।'),
    voice: otpVoice('पुष्टि'),
    email: otpEmail('अपने {{brand}} खाते में बदलाव की पुष्टि करें', 'इस बदलाव की पुष्टि का कोड {{code}} है।'),
  },
  'otp.password_reset': {
    sms: otpSms('पासवर्ड रीसेट कोड {{code}} है।'),
    voice: otpVoice('पासवर्ड रीसेट'),
    email: otpEmail('अपना {{brand}} पासवर्ड रीसेट करें', 'आपका पासवर्ड रीसेट कोड {{code}} है।'),
  },
  'otp.verification': {
    sms: otpSms('आपका सत्यापन कोड {{code}} है।'),
    voice: otpVoice('सत्यापन'),
    email: otpEmail('आपका {{brand}} सत्यापन कोड', 'आपका सत्यापन कोड {{code}} है।'),
  },
  'security.new_device': alert(
    'आपके खाते में नया साइन-इन',
    `आपके खाते में एक नए डिवाइस से साइन-इन हुआ{{#device}} ({{device}}){{/device}}{{#location}}, {{location}} के पास{{/location}}${when}।\n` +
      `अगर यह आप थे, तो कुछ करने की ज़रूरत नहीं है। ${notMe}`,
  ),
  'security.phone_added': alert(
    'एक फ़ोन नंबर जोड़ा गया',
    `नंबर {{phone:masked}} आपके खाते में जोड़ा गया${when}।\n${notMe}`,
  ),
  // The old number is told too (S8): by SMS, or by voice when it cannot take SMS.
  'security.phone_changed': {
    ...alert(
      'आपका फ़ोन नंबर बदला गया',
      `आपका नंबर {{oldPhone:masked}} बदलकर {{phone:masked}} किया गया${when}।\n${notMe}`,
    ),
    sms: '{{brand}}: आपके खाते का फ़ोन नंबर इस नंबर से बदलकर दूसरा कर दिया गया। यह आप नहीं थे? अभी पासवर्ड बदलें।',
    voice:
      '{{brand}} की ओर से सूचना। आपके खाते का फ़ोन नंबर इस नंबर से बदलकर दूसरा कर दिया गया है। अगर यह आप नहीं थे, तो अभी अपना पासवर्ड बदलें।',
  },
  'security.phone_removed': alert(
    'एक फ़ोन नंबर हटाया गया',
    `नंबर {{phone:masked}} आपके खाते से हटाया गया${when}।\n${notMe}`,
  ),
  'security.two_step_disabled': alert(
    'दो-चरणीय साइन-इन बंद किया गया',
    `आपके खाते के लिए दो-चरणीय साइन-इन बंद किया गया${when}। अब आपका खाता केवल पासवर्ड से सुरक्षित है।\n${notMe}`,
  ),
  'security.two_step_changed': alert(
    'दो-चरणीय साइन-इन की सेटिंग बदली गई',
    `आपके खाते के दो-चरणीय साइन-इन की सेटिंग (आपके कोड आप तक कैसे पहुँचते हैं) बदली गई${when}।\n${notMe}`,
  ),
  'security.password_changed': alert(
    'आपका पासवर्ड बदला गया',
    `आपके खाते का पासवर्ड बदला गया${when}। सभी सत्रों से साइन-आउट कर दिया गया।\nअगर यह आप नहीं थे, तो अभी अपना पासवर्ड रीसेट करें।`,
  ),
  'security.failed_codes': alert(
    'गलत कोड डाले गए',
    `आपके खाते में साइन-इन करते समय {{#count}}{{count}} {{/count}}गलत कोड डाले गए${when}।\n` +
      'अगर यह आप नहीं थे, तो शायद किसी को आपका पासवर्ड पता है: इसे अभी बदलें। कोड कभी किसी को न बताएँ।',
  ),
  'security.unrequested_codes': alert(
    'ऐसे कोड जो शायद आपने नहीं माँगे',
    'हमने{{#phone}} {{phone:masked}} पर{{/phone}} {{#count}}{{count}} {{/count}}कोड भेजे जो शायद आपने नहीं माँगे।\n' +
      'ये कोड किसी को न बताएँ: {{brand}} से कोई इन्हें नहीं माँगेगा। अगर आपने इन्हें नहीं माँगा, तो अपना पासवर्ड बदलें।',
  ),
  'security.lockout': alert(
    'बहुत अधिक गलत साइन-इन कोड',
    '{{#minutes}}बहुत अधिक गलत कोड के बाद आपके खाते में साइन-इन {{minutes}} मिनट के लिए बंद कर दिया गया है।{{/minutes}}{{^minutes}}बहुत अधिक गलत कोड के बाद आपके खाते में एक साइन-इन रोक दिया गया; फिर से साइन-इन करने के लिए नया कोड चाहिए।{{/minutes}}\n' +
      'अगर यह आप नहीं थे, तो साइन-इन कर पाते ही अपना पासवर्ड बदलें।',
  ),
  'security.code_reported': alert(
    'कोड की सूचना देने के लिए धन्यवाद',
    `आपने बताया कि आपने हमारा भेजा कोड नहीं माँगा था${when}। वह कोड अब काम नहीं करेगा।\nशायद किसी को आपका पासवर्ड पता है: इसे अभी बदलें।`,
  ),
  'delivery.handoff_code': {
    sms:
      '{{brand}} डिलीवरी कोड{{#orderId}} (ऑर्डर {{orderId}}){{/orderId}}: {{code}}। इसे केवल दरवाज़े पर कूरियर को दें' +
      '{{#windowStart}} ({{windowStart:time}}-{{windowEnd:time}}){{/windowStart}}।{{#host}}\n@{{host}} #{{code}}{{/host}}',
  },
  'delivery.handoff_code_email': {
    email: {
      subject: 'आपका {{brand}} डिलीवरी कोड{{#orderId}} (ऑर्डर {{orderId}}){{/orderId}}',
      text:
        'आपका डिलीवरी कोड {{code}} है।\n\n' +
        '{{#windowStart}}आपका ऑर्डर {{windowStart:date}} को {{windowStart:time}} से {{windowEnd:time}} के बीच पहुँचेगा। {{/windowStart}}' +
        'कोड केवल अपने दरवाज़े पर, पार्सल मिलने पर कूरियर को दें। {{brand}} से कोई भी इसे फ़ोन पर नहीं माँगेगा।',
    },
  },
  'delivery.handed_off': {
    sms: '{{brand}}: आपका ऑर्डर {{orderId}} सौंप दिया गया{{#at}} ({{at:time}}){{/at}}। आपको नहीं मिला? तुरंत संपर्क करें।',
    email: {
      subject: '{{brand}}: आपका ऑर्डर {{orderId}} पहुँचा दिया गया',
      text: `आपका ऑर्डर {{orderId}} सौंप दिया गया${when}।\nअगर आपको यह नहीं मिला, तो तुरंत हमसे संपर्क करें।`,
    },
  },
  'order.status_changed.confirmed': order('पक्का हो गया है। धन्यवाद!'),
  'order.status_changed.packed': order('पैक हो गया है और जल्द भेजा जाएगा।'),
  'order.status_changed.shipped': order('भेज दिया गया है।'),
  'order.status_changed.out_for_delivery': order('आज डिलीवरी के लिए निकला है।'),
  'order.status_changed.delivered': order('पहुँचा दिया गया है।'),
  'order.status_changed.cancelled': order('रद्द कर दिया गया है।'),
  'order.status_changed.refunded': order('का पैसा वापस कर दिया गया है।'),
};
