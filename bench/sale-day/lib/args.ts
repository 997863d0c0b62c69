/** `--flag` and `--name=value` arguments of a scenario script. */
export function parseArgs(argv = process.argv.slice(2)): {
  flag(name: string): boolean;
  value(name: string): string | undefined;
  number(name: string, fallback: number): number;
  list(name: string): string[] | undefined;
} {
  const values = new Map<string, string>();
  for (const a of argv) {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    if (m) values.set(m[1]!, m[2] ?? 'true');
  }
  return {
    flag: (name) => values.get(name) === 'true',
    value: (name) => values.get(name),
    number: (name, fallback) => {
      const v = values.get(name);
      return v === undefined ? fallback : Number(v);
    },
    list: (name) => values.get(name)?.split(',').filter(Boolean),
  };
}
