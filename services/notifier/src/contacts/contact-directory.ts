/** Where a message for an account goes, from the local projection of identity's events. */
export interface AccountEmail {
  accountId: string;
  email: string;
  locale: string | null;
}

export interface VerifiedNumber {
  accountId: string;
  e164: string;
  locale: string | null;
  /** The owner's choice for order updates (true unless they opted out). */
  orderUpdates: boolean;
}

export interface Preferences {
  accountId: string;
  orderUpdates: boolean;
}

/** The contact projection (accounts' e-mail and locale, verified numbers, preferences). */
export abstract class ContactDirectory {
  abstract accountCreated(
    accountId: string,
    email: string,
    locale: string,
    at: Date,
  ): Promise<void>;
  abstract phoneVerified(
    accountId: string,
    phoneId: string,
    e164: string,
    primary: boolean,
    at: Date,
    replacedPhoneId?: string,
  ): Promise<void>;
  abstract primaryChanged(
    accountId: string,
    phoneId: string,
    e164: string,
    at: Date,
  ): Promise<void>;
  /**
   * A number deregistered or replaced. Its row stays as a tombstone, also when the removal comes
   * before the number's verification (a delivery of it retried through the bus's delay queues),
   * so that the late verification does not bring it back.
   */
  abstract phoneRemoved(accountId: string, phoneId: string, e164: string, at: Date): Promise<void>;
  abstract setPreferences(accountId: string, orderUpdates: boolean, at: Date): Promise<Preferences>;
  abstract emailOf(accountId: string): Promise<AccountEmail | undefined>;
  /** The account's primary verified number (or its only verified one). */
  abstract primaryNumberOf(accountId: string): Promise<VerifiedNumber | undefined>;
  /** The account a number is verified on, if any. */
  abstract ownerOfNumber(e164: string): Promise<VerifiedNumber | undefined>;
}
