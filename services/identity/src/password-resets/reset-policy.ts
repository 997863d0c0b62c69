/**
 * What a reset's code is at the otp service: how long it lives (otp's OTP_RESET_TTL) and how many
 * wrong codes it takes (otp's OTP_MAX_ATTEMPTS). A decoy reset must answer by the same numbers as a
 * real one (S6), whatever identity's own settings say, so identity takes them from the otp service.
 */
export interface ResetPolicy {
  ttlMs: number;
  maxAttempts: number;
}

/**
 * The otp service's reset policy as one of its fresh reset challenges shows it: its
 * `attemptsRemaining` is the whole allowance; its `expiresAt` less the moment the otp service made
 * it is the code's life. That moment lies between identity's request (`sentAt`) and the answer
 * (`answeredAt`); halfway, rounded to the whole second (code lives are set in seconds or more, and
 * the round trip and the clocks' skew are well under half of one), gives the same value for every
 * reset under one setting.
 */
export function policyOf(
  challenge: { expiresAt: string; attemptsRemaining: number },
  sentAt: number,
  answeredAt: number,
): ResetPolicy | undefined {
  const expiresAt = Date.parse(challenge.expiresAt);
  if (!Number.isFinite(expiresAt) || answeredAt < sentAt) return undefined;
  const ttlMs = Math.round((expiresAt - (sentAt + answeredAt) / 2) / 1000) * 1000;
  if (ttlMs < 1000 || challenge.attemptsRemaining < 1) return undefined;
  return { ttlMs, maxAttempts: challenge.attemptsRemaining };
}

/**
 * When a reset ends: a sent code's end at the otp service; for a reset whose code the otp service
 * does not hold (`lifeFrom`), the otp service's code life from then, by the policy known now.
 */
export function resetEnd(
  record: { codeExpiresAt: number; lifeFrom?: number },
  policy: ResetPolicy,
): number {
  return record.lifeFrom === undefined ? record.codeExpiresAt : record.lifeFrom + policy.ttlMs;
}

export function samePolicy(a: ResetPolicy, b: ResetPolicy): boolean {
  return a.ttlMs === b.ttlMs && a.maxAttempts === b.maxAttempts;
}

/**
 * What identity's own settings say differently from the otp service's (both variables named), for
 * a log line; empty when they agree.
 */
export function policyDifferences(
  configured: ResetPolicy,
  otp: ResetPolicy,
): { variable: string; otpVariable: string; configured: number; otp: number }[] {
  const out = [];
  if (configured.ttlMs !== otp.ttlMs)
    out.push({
      variable: 'IDENTITY_RESET_TTL',
      otpVariable: 'OTP_RESET_TTL',
      configured: configured.ttlMs,
      otp: otp.ttlMs,
    });
  if (configured.maxAttempts !== otp.maxAttempts)
    out.push({
      variable: 'OTP_MAX_ATTEMPTS',
      otpVariable: 'OTP_MAX_ATTEMPTS',
      configured: configured.maxAttempts,
      otp: otp.maxAttempts,
    });
  return out;
}
