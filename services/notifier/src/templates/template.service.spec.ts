import { notificationRequestedV1 } from '@phonegate/contracts';
import { DomainError } from '@phonegate/platform';
import { CATALOGUES } from './catalogue';
import {
  CODE_MASK,
  LINK_MASK,
  resolveLocale,
  sensitiveVariablesOf,
  TemplateService,
} from './template.service';
import { requiredVariables } from './template-renderer';
import {
  channelsOf,
  LOCALES,
  ORDER_STATUSES,
  TEMPLATE_NAMES,
  type TemplateSource,
} from './template.types';

const templates = new TemplateService({ host: 'shop.example.com' });
const code = '048213';
const typical = {
  code,
  host: 'shop.example.com',
  // One segment is promised for hosts up to 16 characters and report links up to 32.
  reportUrl: 'https://shop.example.com/r/Zq81k',
  orderId: 'ord_20011',
  windowStart: '2026-11-22T10:00:00Z',
  windowEnd: '2026-11-22T12:00:00Z',
  at: '2026-11-22T10:15:00Z',
  phone: '+14155550123',
  oldPhone: '+14155550999',
  minutes: 5,
};
const OTP = [
  'otp.sign_in',
  'otp.phone_verification',
  'otp.step_up',
  'otp.password_reset',
  'otp.verification',
] as const;

function sourcesOf(source: TemplateSource): string[] {
  return [source.sms, source.voice, source.email?.subject, source.email?.text].filter(
    (s): s is string => s !== undefined,
  );
}

describe('template catalogue', () => {
  it.each(LOCALES)(
    '%s has every template on the same channels and with the same required variables as en',
    (locale) => {
      for (const name of TEMPLATE_NAMES) {
        const en = CATALOGUES.en[name];
        const other = CATALOGUES[locale][name];
        expect({ name, channels: channelsOf(other) }).toEqual({ name, channels: channelsOf(en) });
        const req = (s: TemplateSource) => sourcesOf(s).flatMap(requiredVariables).sort();
        expect({ name, vars: [...new Set(req(other))] }).toEqual({
          name,
          vars: [...new Set(req(en))],
        });
      }
    },
  );

  it('sends security alerts by e-mail (a changed number also to the old number) and order updates by SMS', () => {
    for (const name of TEMPLATE_NAMES.filter((n) => n.startsWith('security.')))
      expect({ name, channels: channelsOf(CATALOGUES.en[name]) }).toEqual({
        name,
        channels: name === 'security.phone_changed' ? ['sms', 'voice', 'email'] : ['email'],
      });
    for (const status of ORDER_STATUSES)
      expect(channelsOf(CATALOGUES.en[`order.status_changed.${status}`])).toEqual(['sms']);
  });
});

describe('TemplateService', () => {
  it.each(LOCALES.flatMap((l) => OTP.map((t) => [l, t] as const)))(
    '%s %s: the last SMS line is the origin-bound code',
    (locale, template) => {
      const out = templates.render({ template, channel: 'sms', locale, variables: typical });
      const lines = out.send.text.split('\n');
      expect(lines[lines.length - 1]).toBe(`@shop.example.com #${code}`);
      expect(out.send.text).toContain(typical.reportUrl);
      expect(out.stored.text).not.toContain(code);
      expect(out.stored.text.split('\n').pop()).toBe(`@shop.example.com #${CODE_MASK}`);
    },
  );

  it('tells the reader never to share the code and that nobody from the store will ask', () => {
    const out = templates.render({
      template: 'otp.sign_in',
      channel: 'sms',
      locale: 'en',
      variables: { code, host: 'shop.example.com' },
    });
    expect(out.send.text).toBe(
      `Your sign-in code is ${code}. Never share it: nobody at shop.example.com will ask for it.\n@shop.example.com #${code}`,
    );
  });

  it.each(['en', 'es', 'de'] as const)(
    '%s: every SMS fits one GSM-7 segment with typical variables',
    (locale) => {
      for (const name of TEMPLATE_NAMES) {
        if (!templates.supports(name, 'sms')) continue;
        const out = templates.render({
          template: name,
          channel: 'sms',
          locale,
          variables: typical,
        });
        expect({
          name,
          encoding: out.encoding,
          segments: out.segments,
          length: out.send.text.length,
        }).toMatchObject({
          name,
          encoding: 'gsm7',
          segments: 1,
        });
      }
    },
  );

  it.each(LOCALES)(
    '%s: tells the old number of a change by SMS and by voice, with no number in it',
    (locale) => {
      for (const channel of ['sms', 'voice'] as const) {
        const out = templates.render({
          template: 'security.phone_changed',
          channel,
          locale,
          variables: { oldNumber: '+1 ••• ••• ••99', newNumber: '+1 ••• ••• ••23' },
        });
        expect(out.send.text).toContain('shop.example.com');
        expect(out.send.text).not.toMatch(/••|99|23/);
        if (channel === 'sms' && (locale === 'en' || locale === 'de'))
          expect({ encoding: out.encoding, segments: out.segments }).toEqual({
            encoding: 'gsm7',
            segments: 1,
          });
      }
    },
  );

  it.each(LOCALES)(
    '%s: a lockout alert says an account lock for its minutes, and a stopped sign-in for one challenge',
    (locale) => {
      const render = (variables: Record<string, string | number>) =>
        templates.render({ template: 'security.lockout', channel: 'email', locale, variables }).send
          .text;
      const account = render({ scope: 'account', minutes: 15 });
      const challenge = render({ scope: 'challenge' });
      expect(account).toContain('15');
      expect(challenge).not.toContain('15');
      expect(challenge).not.toEqual(account);
    },
  );

  it('records the segment count of UCS-2 texts', () => {
    const out = templates.render({
      template: 'otp.sign_in',
      channel: 'sms',
      locale: 'ja',
      variables: typical,
    });
    expect(out.encoding).toBe('ucs2');
    expect(out.segments).toBeGreaterThanOrEqual(2);
  });

  it('renders every template in every locale on every channel without the code in the stored copy', () => {
    for (const locale of LOCALES) {
      for (const name of TEMPLATE_NAMES) {
        for (const channel of channelsOf(CATALOGUES.en[name])) {
          const out = templates.render({ template: name, channel, locale, variables: typical });
          expect(out.send.text.length).toBeGreaterThan(10);
          expect(`${out.stored.subject ?? ''}${out.stored.text}`).not.toContain(code);
          expect(out.stored.text).not.toContain([...code].join(', '));
          expect(out.send.text).not.toMatch(/\{\{|\}\}/);
        }
      }
    }
  });

  it('masks a code that sneaks into another variable in the stored copy', () => {
    const out = templates.render({
      template: 'otp.sign_in',
      channel: 'sms',
      locale: 'en',
      variables: { code, reportUrl: `https://shop.example.com/r?c=${code}` },
    });
    expect(out.send.text).toContain(code);
    expect(out.stored.text).not.toContain(code);
  });

  describe('the stored copy and the contract’s sensitive variables', () => {
    const token = 'k1.c2lnbmF0dXJlLW9mLXRoZS1saW5r';
    const reportUrl = `https://shop.example.com/v1/verifications/3c2d/report?t=${token}`;

    it.each(
      LOCALES.flatMap((l) => (['sms', 'voice', 'email'] as const).map((c) => [l, c] as const)),
    )(
      '%s %s: the report link is sent, and stored as [link] without its token',
      (locale, channel) => {
        for (const template of OTP) {
          const out = templates.render({
            template,
            channel,
            locale,
            variables: { ...typical, reportUrl },
          });
          const stored = `${out.stored.subject ?? ''}\n${out.stored.text}`;
          if (channel !== 'voice') {
            expect(out.send.text).toContain(reportUrl);
            expect(out.stored.text).toContain(LINK_MASK);
          }
          expect(stored).not.toContain(token);
          expect(stored).not.toContain('/report');
          expect(stored).not.toContain(code);
        }
      },
    );

    it('keeps no value the contract marks sensitive, for the contract’s own example', () => {
      const { example } = notificationRequestedV1;
      const out = templates.render({
        template: example.template,
        channel: example.channel,
        locale: example.locale,
        variables: example.variables,
      });
      const names = sensitiveVariablesOf(notificationRequestedV1.sensitive);
      expect(names).toEqual(expect.arrayContaining(['code', 'reportUrl']));
      for (const name of names) {
        const value = String(example.variables[name]);
        expect(out.send.text).toContain(value);
        expect(out.stored.text).not.toContain(value);
      }
      expect(out.stored.text).toContain(LINK_MASK);
      expect(out.stored.text.split('\n').pop()).toBe(`@shop.example.com #${CODE_MASK}`);
    });

    it('masks whatever variables it is told are sensitive, links as [link] and others like a code', () => {
      const strict = new TemplateService({ host: 'shop.example.com' }, ['orderId', 'trackingUrl']);
      const variables = { orderId: 'ord_secret_1', trackingUrl: 'https://t.example/x?t=abcd1234' };
      const request = { template: 'order.status_changed.shipped', channel: 'sms' as const };
      const out = strict.render({ ...request, locale: 'en', variables });
      const sent =
        'shop.example.com: your order ord_secret_1 has shipped. https://t.example/x?t=abcd1234';
      expect(out.send.text).toBe(sent);
      expect(out.stored.text).toBe(
        `shop.example.com: your order ${CODE_MASK} has shipped. ${LINK_MASK}`,
      );
      // The contract's list does not name them: the default service stores them as sent.
      expect(templates.render({ ...request, locale: 'en', variables }).stored.text).toBe(sent);
    });

    it('masks a report link that sneaks into another variable', () => {
      const out = templates.render({
        template: 'security.new_device',
        channel: 'email',
        locale: 'en',
        variables: { device: 'Pixel', supportUrl: reportUrl, reportUrl },
      });
      expect(out.send.text).toContain(reportUrl);
      expect(out.stored.text).not.toContain(token);
      expect(out.stored.text).toContain(`Help: ${LINK_MASK}`);
    });
  });

  it('refuses an unknown template, or a known one on a channel it lacks, with unknown_template', () => {
    expect(() =>
      templates.render({ template: 'otp.nope', channel: 'sms', locale: 'en', variables: {} }),
    ).toThrow(expect.objectContaining({ code: 'unknown_template', retryable: false }));
    expect(() =>
      templates.render({
        template: 'security.lockout',
        channel: 'sms',
        locale: 'en',
        variables: {},
      }),
    ).toThrow(DomainError);
  });

  it('answers validation_failed naming the missing variables', () => {
    expect(() =>
      templates.render({ template: 'otp.sign_in', channel: 'sms', locale: 'en', variables: {} }),
    ).toThrow(
      expect.objectContaining({
        code: 'validation_failed',
        extra: { errors: [expect.objectContaining({ field: 'variables.code' })] },
      }),
    );
  });

  it('takes the variable names other services send (already masked numbers, handedOffAt)', () => {
    const changed = templates.render({
      template: 'security.phone_changed',
      channel: 'email',
      locale: 'en',
      variables: { oldNumber: '+1 ••• ••• ••99', newNumber: '+1 ••• ••• ••23' },
    });
    expect(changed.send.text).toContain(
      'Your number +1 ••• ••• ••99 was replaced by +1 ••• ••• ••23.',
    );
    const handed = templates.render({
      template: 'delivery.handed_off',
      channel: 'email',
      locale: 'en',
      variables: { orderId: 'ord_1', handedOffAt: '2026-11-22T10:15:00Z' },
    });
    expect(handed.send.text).toContain('at 10:15');
  });

  it('falls back from regional and unknown locales', () => {
    expect(resolveLocale('es-MX')).toBe('es');
    expect(resolveLocale('fr')).toBe('en');
    expect(resolveLocale(undefined)).toBe('en');
  });

  it('reads the code out digit by digit on voice and keeps the @host line for e-mail', () => {
    const voice = templates.render({
      template: 'otp.sign_in',
      channel: 'voice',
      locale: 'en',
      variables: typical,
    });
    expect(voice.send.text).toContain('0, 4, 8, 2, 1, 3');
    const email = templates.render({
      template: 'otp.sign_in',
      channel: 'email',
      locale: 'en',
      variables: typical,
    });
    expect(email.send.subject).toBe('Your shop.example.com sign-in code');
    expect(email.send.text.split('\n').pop()).toBe(`@shop.example.com #${code}`);
  });
});
