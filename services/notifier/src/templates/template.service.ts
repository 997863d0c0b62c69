import { type Channel, notificationRequestedV1 } from '@phonegate/contracts';
import { CATALOGUES } from './catalogue';
import { smsSize, toGsm7IfLatin, type SmsEncoding } from './sms-encoding';
import {
  cleanValue,
  renderTemplate,
  TemplateVariablesMissing,
  type Variables,
} from './template-renderer';
import {
  isTemplateName,
  LOCALES,
  type SupportedLocale,
  type TemplateSource,
} from './template.types';
import { missingVariablesError, unknownTemplateError } from './templates.errors';

/** What the stored copy of a message shows instead of a code (or another sensitive value). */
export const CODE_MASK = '••••••';
/** What the stored copy shows instead of a sensitive link (the report link carries a token). */
export const LINK_MASK = '[link]';

/**
 * The variables the notification.requested.v1 contract marks sensitive
 * (`variables.<name>`): the stored copy never holds them in clear.
 */
export const SENSITIVE_VARIABLES: readonly string[] = sensitiveVariablesOf(
  notificationRequestedV1.sensitive,
);

/** `['variables.code', 'to']` → `['code']`. */
export function sensitiveVariablesOf(paths: readonly string[]): string[] {
  const prefix = 'variables.';
  return paths.filter((p) => p.startsWith(prefix)).map((p) => p.slice(prefix.length));
}

/** The stand-in for a sensitive value in the stored copy: `[link]` for a link, else CODE_MASK. */
export function maskOf(value: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? LINK_MASK : CODE_MASK;
}

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
  /** What the message log keeps: the same text with every sensitive variable masked (maskOf). */
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
 * twice: once as given (sent), once with every sensitive variable masked (stored).
 */
export class TemplateService {
  constructor(
    private readonly defaults: TemplateDefaults,
    /** Names of the variables never stored in clear (default: the contract's sensitive list). */
    private readonly sensitive: readonly string[] = SENSITIVE_VARIABLES,
  ) {}

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
    const secrets = this.sensitive
      .map((name) => ({ name, value: str(request.variables[name]) }))
      .filter((s): s is { name: string; value: string } => s.value !== undefined);
    try {
      const send = renderChannel(source, request.channel, variables, locale);
      const masked = { ...variables };
      for (const { name, value } of secrets) masked[name] = maskOf(value);
      const stored =
        secrets.length === 0
          ? send
          : scrub(
              renderChannel(source, request.channel, masked, locale),
              secrets.map((s) => s.value),
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

/**
 * Belt and braces: a sensitive value that reached the stored text through
 * another variable is masked too (as given, as rendered, and read out digit by digit).
 */
function scrub(rendered: RenderedText, values: readonly string[]): RenderedText {
  const needles = values
    .filter((v) => v.length >= 4)
    .flatMap((v) => {
      const mask = maskOf(v);
      return [v, cleanValue(v), [...v].join(', ')].map((needle) => ({ needle, mask }));
    })
    // Longest first: a code inside a link must not cut the link before the link is masked.
    .sort((a, b) => b.needle.length - a.needle.length);
  const clean = (t: string) =>
    needles.reduce((text, { needle, mask }) => text.split(needle).join(mask), t);
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
