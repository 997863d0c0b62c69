const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
    if (name[0] === '#') {
      const code =
        name[1] === 'x' || name[1] === 'X'
          ? parseInt(name.slice(2), 16)
          : parseInt(name.slice(1), 10);
      return Number.isFinite(code) ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[name.toLowerCase()] ?? whole;
  });
}

/** The spoken text of a TwiML document: every `<Say>` element's text, joined by a space. */
export function textOfTwiml(twiml: string): string {
  const out: string[] = [];
  for (const match of twiml.matchAll(/<Say(?:\s[^>]*)?>([\s\S]*?)<\/Say>/g))
    out.push(unescapeXml(match[1]!.trim()));
  return out.join(' ');
}
