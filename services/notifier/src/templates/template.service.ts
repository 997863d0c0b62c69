import type { Channel } from '@phonegate/contracts';
import { CATALOGUES } from './catalogue';
import { smsSize, toGsm7IfLatin, type SmsEncoding } from './sms-encoding';
import { renderTemplate, TemplateVariablesMissing, type Variables } from './template-renderer';
import {
  isTemplateName,
  LOCALES,
  type SupportedLocale,
  type TemplateSource,
} from './template.types';
import { missingVariablesError, unknownTemplateError } from './templates.errors';

/** What the stored copy of a message shows instead of a code. */
export const CODE_MASK = '••••••';

export interface RenderRequest {
  template: string;
  channel: Channel;
  locale: string;
  variables: Variables;
}

export interface RenderedText {
  subject?: string;
  text: string;
}

export interface RenderedMessage {
  /** The locale actually used (after fallback). */
  locale: SupportedLocale;
  /** What goes to the carrier: holds the code. Never stored, never logged. */
  send: RenderedText;
  /** What the message log keeps: the same text with every code replaced by CODE_MASK. */
  stored: RenderedText;
  /** SMS only. */
  segments: number | null;
  encoding: SmsEncoding | null;
}

export interface TemplateDefaults {
  /** Host of the origin-bound `@host #code` line when the request names none. */
  host: string;
  /** Brand named in texts; the host when empty. */
  brand?: string;
}

/** `es-MX` → `es`; anything unsupported → `en`. */
export function resolveLocale(locale: string | undefined): SupportedLocale {
  const base = (locale ?? 'en').slice(0, 2).toLowerCase();
  return (LOCALES as readonly string[]).includes(base) ? (base as SupportedLocale) : 'en';
}

/**
 * Renders templates per type, channel and locale. Every message is rendered
 * twice: once with the code (sent), once with the code masked (stored).
 */
export class TemplateService {
  constructor(private readonly defaults: TemplateDefaults) {}

  supports(template: string, channel: Channel): boolean {
    return isTemplateName(template) && CATALOGUES.en[template][channel] !== undefined;
  }

  /** Throws `unknown_template` (not retryable) when there is no such template for the channel. */
  assertSupported(template: string, channel: Channel): void {
    if (!this.supports(template, channel)) throw unknownTemplateError(template, channel);
  }

  render(request: RenderRequest): RenderedMessage {
    this.assertSupported(request.template, request.channel);
    const locale = resolveLocale(request.locale);
    const source = CATALOGUES[locale][request.template as keyof (typeof CATALOGUES)['en']];
    const host = str(request.variables['host']) ?? this.defaults.host;
    const brand = str(request.variables['brand']) ?? (this.defaults.brand || host);
    const variables: Record<string, string | number | boolean | undefined> = {
      ...withAliases(request.variables),
      host,
      brand,
    };
    const code = str(request.variables['code']);
    try {
      const send = renderChannel(source, request.channel, variables, locale);
      const stored =
        code === undefined
          ? send
          : scrub(
              renderChannel(source, request.channel, { ...variables, code: CODE_MASK }, locale),
              code,
            );
      if (request.channel !== 'sms')
        return { locale, send, stored, segments: null, encoding: null };
      const size = smsSize(send.text);
      return { locale, send, stored, segments: size.segments, encoding: size.encoding };
    } catch (error) {
      if (error instanceof TemplateVariablesMissing) throw missingVariablesError(error.missing);
      throw error;
    }
  }
}

function renderChannel(
  source: TemplateSource,
  channel: Channel,
  variables: Variables,
  locale: string,
): RenderedText {
  const options = { locale };
  if (channel === 'email') {
    const email = source.email!;
    return {
      subject: renderTemplate(email.subject, variables, options),
      text: renderTemplate(email.text, variables, options),
    };
  }
  const text = renderTemplate(source[channel]!, variables, options);
  if (channel !== 'sms') return { text };
  // The stored copy is converted like the sent one around the mask (which is not GSM-7 itself).
  return { text: text.split(CODE_MASK).map(toGsm7IfLatin).join(CODE_MASK) };
}

/** Belt and braces: a code that reached the stored text through another variable is masked too. */
function scrub(rendered: RenderedText, code: string): RenderedText {
  if (code.length < 4) return rendered;
  const spaced = [...code].join(', ');
  const clean = (t: string) => t.split(code).join(CODE_MASK).split(spaced).join(CODE_MASK);
  return {
    ...(rendered.subject !== undefined ? { subject: clean(rendered.subject) } : {}),
    text: clean(rendered.text),
  };
}

/**
 * Names callers use for the same thing (identity sends `number`, delivery-otp
 * `handedOffAt`): the canonical name wins when both are given.
 */
const ALIASES: Readonly<Record<string, string>> = {
  number: 'phone',
  newNumber: 'phone',
  oldNumber: 'oldPhone',
  attempts: 'count',
  handedOffAt: 'at',
};

function withAliases(variables: Variables): Record<string, string | number | boolean | undefined> {
  const out: Record<string, string | number | boolean | undefined> = { ...variables };
  for (const [alias, name] of Object.entries(ALIASES))
    if (out[name] === undefined && out[alias] !== undefined) out[name] = out[alias];
  return out;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0
    ? value
    : typeof value === 'number'
      ? String(value)
      : undefined;
}
