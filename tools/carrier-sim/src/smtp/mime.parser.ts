/**
 * A minimal MIME reader, enough for what nodemailer writes: headers (folded, RFC 2047 encoded
 * words), single-part and nested multipart bodies, 7bit/8bit/quoted-printable/base64 transfer
 * encodings and the charsets TextDecoder knows. Not a general mail parser.
 */

export interface ParsedMail {
  from?: string;
  to: string[];
  subject?: string;
  messageId?: string;
  text: string;
  html?: string;
}

interface Entity {
  headers: Map<string, string>;
  /** The body as a binary ("latin1") string, so no byte is lost before the charset is applied. */
  body: string;
}

function splitEntity(raw: string): Entity {
  const match = /\r?\n\r?\n/.exec(raw);
  const head = match ? raw.slice(0, match.index) : raw;
  const body = match ? raw.slice(match.index + match[0].length) : '';
  const headers = new Map<string, string>();
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  for (const line of unfolded.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return { headers, body };
}

export function parseHeaderValue(value: string): { value: string; params: Record<string, string> } {
  const [first = '', ...rest] = value.split(';');
  const params: Record<string, string> = {};
  for (const part of rest) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim().toLowerCase();
    let v = part.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    params[key] = v;
  }
  return { value: first.trim().toLowerCase(), params };
}

function bytesToText(binary: string, charset = 'utf-8'): string {
  const bytes = Buffer.from(binary, 'latin1');
  try {
    return new TextDecoder(charset).decode(bytes);
  } catch {
    return new TextDecoder('utf-8').decode(bytes);
  }
}

export function decodeQuotedPrintable(text: string): string {
  return text
    .replace(/[ \t]+(?=\r?\n)/g, '')
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

function decodeTransfer(body: string, encoding: string | undefined): string {
  switch ((encoding ?? '7bit').toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64').toString('latin1');
    case 'quoted-printable':
      return decodeQuotedPrintable(body);
    default:
      return body;
  }
}

/** RFC 2047: `=?utf-8?Q?caf=C3=A9?=` and `=?UTF-8?B?Y2Fmw6k=?=`; adjacent words join without the space between. */
export function decodeEncodedWords(value: string): string {
  return value
    .replace(/(\?=)\s+(=\?)/g, '$1$2')
    .replace(
      /=\?([^?]+)\?([bBqQ])\?([^?]*)\?=/g,
      (_m, charset: string, enc: string, text: string) => {
        const binary =
          enc.toUpperCase() === 'B'
            ? Buffer.from(text, 'base64').toString('latin1')
            : text
                .replace(/_/g, ' ')
                .replace(/=([0-9A-Fa-f]{2})/g, (_x, hex: string) =>
                  String.fromCharCode(parseInt(hex, 16)),
                );
        return bytesToText(binary, charset.split('*')[0]);
      },
    );
}

/** `"Name" <a@b.c>, d@e.f` → ['a@b.c', 'd@e.f']. */
export function parseAddresses(value: string | undefined): string[] {
  if (!value) return [];
  const out: string[] = [];
  for (const part of value.match(/(?:"[^"]*"|[^,])+/g) ?? []) {
    const angle = /<([^>]+)>/.exec(part);
    const address = (angle ? angle[1]! : part).trim();
    if (address.includes('@')) out.push(address);
  }
  return out;
}

function collectParts(entity: Entity, out: { text?: string; html?: string }, depth = 0): void {
  const type = parseHeaderValue(
    entity.headers.get('content-type') ?? 'text/plain; charset=us-ascii',
  );
  if (type.value.startsWith('multipart/') && type.params['boundary'] && depth < 10) {
    const delimiter = `--${type.params['boundary']}`;
    const chunks = entity.body.split(new RegExp(`\\r?\\n?${escapeRegExp(delimiter)}`));
    // chunks[0] is the preamble; a chunk starting with "--" is the closing delimiter.
    for (const chunk of chunks.slice(1)) {
      if (chunk.startsWith('--')) break;
      collectParts(splitEntity(chunk.replace(/^[ \t]*\r?\n/, '')), out, depth + 1);
    }
    return;
  }
  const disposition = parseHeaderValue(entity.headers.get('content-disposition') ?? 'inline').value;
  if (disposition === 'attachment') return;
  const decoded = () =>
    bytesToText(
      decodeTransfer(entity.body, entity.headers.get('content-transfer-encoding')),
      type.params['charset'],
    );
  if (type.value === 'text/plain' && out.text === undefined) out.text = decoded();
  else if (type.value === 'text/html' && out.html === undefined) out.html = decoded();
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Parses one RFC 5322 message (as received in SMTP DATA). */
export function parseMime(raw: Buffer | string): ParsedMail {
  const binary =
    typeof raw === 'string' ? Buffer.from(raw, 'utf8').toString('latin1') : raw.toString('latin1');
  const root = splitEntity(binary);
  const header = (name: string): string | undefined => {
    const v = root.headers.get(name);
    return v === undefined ? undefined : decodeEncodedWords(bytesToText(v));
  };
  const parts: { text?: string; html?: string } = {};
  collectParts(root, parts);
  const text = (parts.text ?? (parts.html ? parts.html.replace(/<[^>]*>/g, '') : ''))
    .replace(/\r\n/g, '\n')
    .replace(/\n$/, '');
  const messageId = header('message-id')?.replace(/^<|>$/g, '');
  return {
    from: parseAddresses(header('from'))[0],
    to: parseAddresses(header('to')),
    subject: header('subject'),
    messageId,
    text,
    html: parts.html,
  };
}
