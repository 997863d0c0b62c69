import { maskDestination } from '@phonegate/platform';

/**
 * A deliberately small template language (no logic, no HTML):
 * - `{{name}}` a variable (required: missing → TemplateVariablesMissing)
 * - `{{name:filter}}` with a filter: `masked` (destination masked to its last two
 *   digits), `spaced` (digits read one by one, for voice), `time` / `date`
 *   (an ISO time in `variables.timeZone`, UTC by default, in the message locale)
 * - `{{#name}}…{{/name}}` a section rendered only when `name` is present and not empty,
 *   `{{^name}}…{{/name}}` one rendered only when it is not
 */
export type Variables = Readonly<Record<string, string | number | boolean | undefined>>;

export class TemplateVariablesMissing extends Error {
  constructor(readonly missing: readonly string[]) {
    super(`template variables missing: ${missing.join(', ')}`);
    this.name = 'TemplateVariablesMissing';
  }
}

const SECTION = /\{\{([#^])([a-zA-Z][\w]*)\}\}([\s\S]*?)\{\{\/\2\}\}/g;
const VARIABLE = /\{\{([a-zA-Z][\w]*)(?::([a-z]+))?\}\}/g;

export interface RenderOptions {
  locale: string;
}

export function renderTemplate(
  source: string,
  variables: Variables,
  options: RenderOptions,
): string {
  const missing = new Set<string>();
  const withSections = source.replace(SECTION, (_m, kind: string, name: string, inner: string) =>
    present(variables[name]) === (kind === '#') ? inner : '',
  );
  const text = withSections.replace(VARIABLE, (_m, name: string, filter: string | undefined) => {
    const value = variables[name];
    if (!present(value)) {
      missing.add(name);
      return '';
    }
    return applyFilter(cleanValue(String(value)), filter, variables, options);
  });
  if (missing.size > 0) throw new TemplateVariablesMissing([...missing]);
  return text;
}

/** Names of the variables a template uses outside sections (the required ones). */
export function requiredVariables(source: string): string[] {
  const outside = source.replace(SECTION, '');
  return [...new Set([...outside.matchAll(VARIABLE)].map((m) => m[1] as string))];
}

function present(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '';
}

/**
 * Variable values are one line of plain text: a caller cannot add lines (and
 * so cannot forge the origin-bound `@host #code` last line) or control codes.
 */
export function cleanValue(value: string): string {
  return value
    .replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ')
    .replace(/\s{2,}/g, ' ')
    .trim();
}

function applyFilter(
  value: string,
  filter: string | undefined,
  variables: Variables,
  options: RenderOptions,
): string {
  switch (filter) {
    case undefined:
      return value;
    case 'masked':
      // Callers may pass a number they masked already.
      return value.includes('•') ? value : maskDestination(value);
    case 'spaced':
      return [...value.replace(/\s/g, '')].join(', ');
    case 'time':
    case 'date': {
      const date = new Date(value);
      if (Number.isNaN(date.getTime())) return value;
      const timeZone = typeof variables['timeZone'] === 'string' ? variables['timeZone'] : 'UTC';
      return formatter(options.locale, filter, timeZone).format(date);
    }
    default:
      throw new Error(`unknown template filter ${filter}`);
  }
}

const FORMATS: Record<'time' | 'date', Intl.DateTimeFormatOptions> = {
  time: { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' },
  date: { day: 'numeric', month: 'short', year: 'numeric' },
};
/** Built formatters (building one costs far more than formatting), by locale, filter and zone. */
const formatters = new Map<string, Intl.DateTimeFormat>();
const MAX_FORMATTERS = 500;

/** The formatter for a locale, filter and time zone (UTC when the zone is unknown). */
function formatter(locale: string, filter: 'time' | 'date', timeZone: string): Intl.DateTimeFormat {
  const key = `${locale}\n${filter}\n${timeZone}`;
  let f = formatters.get(key);
  if (f) return f;
  try {
    f = new Intl.DateTimeFormat(locale, { ...FORMATS[filter], timeZone });
  } catch {
    f = new Intl.DateTimeFormat(locale, { ...FORMATS[filter], timeZone: 'UTC' });
  }
  // Zones come with requests: keep the cache bounded (the oldest entry goes first).
  if (formatters.size >= MAX_FORMATTERS) formatters.delete(formatters.keys().next().value!);
  formatters.set(key, f);
  return f;
}
