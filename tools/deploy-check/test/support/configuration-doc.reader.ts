/**
 * The tables of the README's `## Configuration reference`: one `### <section>`
 * a service (plus `### Every service`), each with the columns variable |
 * default | production | meaning and one variable a row.
 */

export const CONFIGURATION_DOC = 'README.md';
export const REFERENCE_HEADING = '## Configuration reference';

export interface DocRow {
  variable: string;
  default: string;
  production: string;
  meaning: string;
  /** 1-based line in the file, for failure messages. */
  line: number;
}

export interface DocSection {
  heading: string;
  rows: DocRow[];
}

const HEADER = ['variable', 'default', 'production', 'meaning'];

/** Cells of a Markdown table row; `\|` is a literal bar. */
function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim().replace(/\\\|/g, '|'));
}

/** Sections by heading text; `problems` lists every row that is not one variable with four cells. */
export function readConfigurationDoc(text: string): {
  sections: Map<string, DocSection>;
  problems: string[];
} {
  const sections = new Map<string, DocSection>();
  const problems: string[] = [];
  let section: DocSection | undefined;
  let inTable = false;
  let inReference = false;
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    if (/^##\s/.test(raw)) {
      inReference = raw.trim() === REFERENCE_HEADING;
      section = undefined;
      inTable = false;
      return;
    }
    if (!inReference) return;
    const heading = /^###\s+(.+?)\s*$/.exec(raw);
    if (heading) {
      section = { heading: heading[1]!, rows: [] };
      if (sections.has(section.heading))
        problems.push(`${CONFIGURATION_DOC}:${line}: a second section "### ${section.heading}"`);
      sections.set(section.heading, section);
      inTable = false;
      return;
    }
    if (!raw.trimStart().startsWith('|')) {
      inTable = false;
      return;
    }
    const row = cells(raw);
    if (!inTable) {
      inTable = true;
      if (row.join('|').toLowerCase() !== HEADER.join('|'))
        problems.push(
          `${CONFIGURATION_DOC}:${line}: a table's header must be | ${HEADER.join(' | ')} |`,
        );
      return;
    }
    if (row.every((c) => /^:?-+:?$/.test(c))) return;
    const variable = /^`([A-Za-z_][A-Za-z0-9_]*)`$/.exec(row[0] ?? '');
    if (!section || row.length !== HEADER.length || !variable) {
      problems.push(
        `${CONFIGURATION_DOC}:${line}: expected | \`VARIABLE\` | default | production | meaning | under a ### heading of the configuration reference`,
      );
      return;
    }
    section.rows.push({
      variable: variable[1]!,
      default: row[1]!,
      production: row[2]!,
      meaning: row[3]!,
      line,
    });
  });
  return { sections, problems };
}
