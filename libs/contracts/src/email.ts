import { z } from 'zod';

/**
 * RFC 5321 §4.5.3.1 size limits, in octets: local part 64, domain 255 (a DNS label 63,
 * RFC 1035), and the whole address 254 (a path of 256 octets less its angle brackets).
 */
export const EMAIL_LIMITS = { localPart: 64, domain: 255, label: 63, address: 254 } as const;

const octets = (text: string): number => new TextEncoder().encode(text).length;

/**
 * Why `address` cannot be a deliverable address by RFC 5321's size limits, or undefined when
 * it is within them. Pure; the address itself is never part of the answer.
 */
export function emailLimitProblem(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  if (at < 0) return undefined;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (octets(local) > EMAIL_LIMITS.localPart)
    return `the part before @ is longer than ${EMAIL_LIMITS.localPart} octets`;
  if (octets(domain) > EMAIL_LIMITS.domain)
    return `the domain is longer than ${EMAIL_LIMITS.domain} octets`;
  if (domain.split('.').some((label) => octets(label) > EMAIL_LIMITS.label))
    return `a domain label is longer than ${EMAIL_LIMITS.label} octets`;
  if (octets(address) > EMAIL_LIMITS.address)
    return `the address is longer than ${EMAIL_LIMITS.address} octets`;
  return undefined;
}

/**
 * An e-mail address a mail server can take: zod's format check plus RFC 5321's size limits
 * (every refused address fails validation on its own field). Trim or bound the input before
 * it (`z.string().trim().max(320).pipe(emailAddress)`) as the route needs.
 */
export const emailAddress = z.email().superRefine((value, ctx) => {
  const problem = emailLimitProblem(value);
  if (problem)
    ctx.addIssue({ code: 'custom', message: `must be a valid e-mail address: ${problem}` });
});
