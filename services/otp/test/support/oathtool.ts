import { execFileSync } from 'node:child_process';

/** A TOTP code from Debian's oathtool (an independent RFC 6238 implementation) at a given time. */
export function oathtool(base32Secret: string, atMs: number): string {
  const when = new Date(atMs)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
  return execFileSync('oathtool', ['--totp', '-b', base32Secret, '--now', when]).toString().trim();
}
