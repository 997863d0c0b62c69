import type { SigninFactor } from '../two-step/two-step.policy';

/** A challenged sign-in waiting for its code (Redis, IDENTITY_LOGIN_TTL). */
export interface PendingLogin {
  accountId: string;
  device: { id: string; name?: string; userAgent?: string };
  ip: string;
  country: string | null;
  reason: 'new_device' | 'new_location';
  factors: SigninFactor[];
  factor: SigninFactor;
  challengeId: string | null;
  /** Epoch ms. */
  expiresAt: number;
}
