import type { EmailSource, LocaleCatalogue } from '../template.types';

// Japanese needs UCS-2 (70 characters a segment): kept short, the segment count is recorded.
const otpSms = (lead: string) =>
  `${lead}誰にも教えないでください。{{brand}}がこのコードを尋ねることはありません。{{#reportUrl}}\n心当たりがない場合: {{reportUrl}}{{/reportUrl}}\n@{{host}} #{{code}}`;
const otpVoice = (what: string) =>
  `{{brand}}の${what}コードは、{{code:spaced}}、です。もう一度、{{code:spaced}}、です。誰にも教えないでください。`;
const otpEmail = (subject: string, lead: string): EmailSource => ({
  subject,
  text:
    `${lead}{{#minutes}}有効期限は{{minutes}}分です。{{/minutes}}\n\n` +
    'このコードは誰にも教えないでください。{{brand}}が電話、メール、チャットでこのコードを尋ねることは決してありません。\n' +
    '{{#reportUrl}}\n心当たりがない場合はお知らせください: {{reportUrl}}\n{{/reportUrl}}' +
    '\n@{{host}} #{{code}}',
});
const alert = (subject: string, body: string): { email: EmailSource } => ({
  email: {
    subject: `{{brand}}: ${subject}`,
    text: `${body}\n{{#supportUrl}}\nヘルプ: {{supportUrl}}\n{{/supportUrl}}\nこれは{{brand}}からの自動セキュリティ通知です。コードやパスワードをお尋ねすることはありません。`,
  },
});
const notMe = 'お心当たりがない場合は、今すぐパスワードを変更し、電話番号をご確認ください。';
const when = '{{#at}}（{{at:date}} {{at:time}}）{{/at}}';
const order = (what: string) => ({
  sms: `{{brand}}: ご注文{{orderId}}は${what}{{#trackingUrl}} {{trackingUrl}}{{/trackingUrl}}`,
});

export const ja: LocaleCatalogue = {
  'otp.sign_in': {
    sms: otpSms('サインインコードは{{code}}です。'),
    voice: otpVoice('サインイン'),
    email: otpEmail('{{brand}}のサインインコード', 'サインインコードは{{code}}です。'),
  },
  'otp.phone_verification': {
    sms: otpSms('電話番号の確認コードは{{code}}です。'),
    voice: otpVoice('確認'),
    email: otpEmail('電話番号の確認', '電話番号の確認コードは{{code}}です。'),
  },
  'otp.step_up': {
    sms: otpSms('変更を確定するコードは{{code}}です。'),
    voice: otpVoice('確認'),
    email: otpEmail('{{brand}}アカウントの変更の確認', '変更を確定するコードは{{code}}です。'),
  },
  'otp.password_reset': {
    sms: otpSms('パスワード再設定コードは{{code}}です。'),
    voice: otpVoice('パスワード再設定'),
    email: otpEmail('{{brand}}のパスワード再設定', 'パスワード再設定コードは{{code}}です。'),
  },
  'otp.verification': {
    sms: otpSms('確認コードは{{code}}です。'),
    voice: otpVoice('確認'),
    email: otpEmail('{{brand}}の確認コード', '確認コードは{{code}}です。'),
  },
  'security.new_device': alert(
    'アカウントへの新しいサインイン',
    `新しいデバイス{{#device}}（{{device}}）{{/device}}{{#location}}（{{location}}付近）{{/location}}からアカウントにサインインがありました${when}。\n` +
      `ご本人の場合、対応は不要です。${notMe}`,
  ),
  'security.phone_added': alert(
    '電話番号が追加されました',
    `電話番号{{phone:masked}}がアカウントに追加されました${when}。\n${notMe}`,
  ),
  // The old number is told too (S8): by SMS, or by voice when it cannot take SMS.
  'security.phone_changed': {
    ...alert(
      '電話番号が変更されました',
      `電話番号{{oldPhone:masked}}が{{phone:masked}}に変更されました${when}。\n${notMe}`,
    ),
    sms: '{{brand}}: アカウントの電話番号がこの番号から別の番号に変更されました。心当たりがない場合はすぐにパスワードを変更してください。',
    voice:
      '{{brand}}からのお知らせです。アカウントの電話番号が、この番号から別の番号に変更されました。お心当たりがない場合は、すぐにパスワードを変更してください。',
  },
  'security.phone_removed': alert(
    '電話番号が削除されました',
    `電話番号{{phone:masked}}がアカウントから削除されました${when}。\n${notMe}`,
  ),
  'security.two_step_disabled': alert(
    '2段階サインインが無効になりました',
    `アカウントの2段階サインインが無効になりました${when}。現在、アカウントはパスワードのみで保護されています。\n${notMe}`,
  ),
  'security.two_step_changed': alert(
    '2段階サインインの設定が変更されました',
    `アカウントの2段階サインインの設定（コードの受け取り方法）が変更されました${when}。\n${notMe}`,
  ),
  'security.password_changed': alert(
    'パスワードが変更されました',
    `アカウントのパスワードが変更されました${when}。すべてのセッションがサインアウトされました。\nお心当たりがない場合は、今すぐパスワードを再設定してください。`,
  ),
  'security.failed_codes': alert(
    '誤ったコードが入力されました',
    `アカウントへのサインイン中に{{#count}}{{count}}回{{/count}}誤ったコードが入力されました${when}。\n` +
      'お心当たりがない場合、パスワードが知られている可能性があります。今すぐ変更してください。コードは誰にも教えないでください。',
  ),
  'security.unrequested_codes': alert(
    'ご依頼でない可能性のあるコード',
    '{{#phone}}{{phone:masked}}に、{{/phone}}ご本人が依頼していない可能性のあるコードを{{#count}}{{count}}件{{/count}}送信しました。\n' +
      'これらのコードは誰にも教えないでください。{{brand}}が尋ねることはありません。ご依頼でない場合はパスワードを変更してください。',
  ),
  'security.lockout': alert(
    'サインインコードの誤りが多すぎます',
    '{{#minutes}}誤ったコードが多すぎたため、アカウントへのサインインが{{minutes}}分間ロックされました。{{/minutes}}{{^minutes}}誤ったコードが多すぎたため、アカウントへのサインインが中止されました。再度サインインするには新しいコードが必要です。{{/minutes}}\n' +
      'お心当たりがない場合は、サインインでき次第パスワードを変更してください。',
  ),
  'security.code_reported': alert(
    'コードのご報告ありがとうございます',
    `送信したコード${when}をご依頼していないとのご報告を受けました。そのコードは無効になりました。\nパスワードが知られている可能性があります。今すぐ変更してください。`,
  ),
  'delivery.handoff_code': {
    sms:
      '{{brand}}の配達コード{{#orderId}}（ご注文{{orderId}}）{{/orderId}}は{{code}}です。玄関で配達員にのみお伝えください' +
      '{{#windowStart}}（{{windowStart:time}}-{{windowEnd:time}}）{{/windowStart}}。{{#host}}\n@{{host}} #{{code}}{{/host}}',
  },
  'delivery.handoff_code_email': {
    email: {
      subject: '{{brand}}の配達コード{{#orderId}}（ご注文{{orderId}}）{{/orderId}}',
      text:
        '配達コードは{{code}}です。\n\n' +
        '{{#windowStart}}ご注文は{{windowStart:date}}の{{windowStart:time}}から{{windowEnd:time}}の間に届きます。{{/windowStart}}' +
        'コードは荷物を受け取るときに、玄関で配達員にのみお伝えください。{{brand}}が電話でコードを尋ねることはありません。',
    },
  },
  'delivery.handed_off': {
    sms: '{{brand}}: ご注文{{orderId}}をお渡ししました{{#at}}（{{at:time}}）{{/at}}。お心当たりがない場合はすぐにご連絡ください。',
    email: {
      subject: '{{brand}}: ご注文{{orderId}}をお届けしました',
      text: `ご注文{{orderId}}をお渡ししました${when}。\n受け取っていない場合は、すぐにご連絡ください。`,
    },
  },
  'order.status_changed.confirmed': order('確定しました。ありがとうございます。'),
  'order.status_changed.packed': order('梱包済みで、まもなく発送されます。'),
  'order.status_changed.shipped': order('発送されました。'),
  'order.status_changed.out_for_delivery': order('本日配達予定です。'),
  'order.status_changed.delivered': order('配達されました。'),
  'order.status_changed.cancelled': order('キャンセルされました。'),
  'order.status_changed.refunded': order('返金されました。'),
};
