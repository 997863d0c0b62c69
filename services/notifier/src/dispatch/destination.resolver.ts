import type { Channel } from '@phonegate/contracts';
import type { ContactDirectory } from '../contacts/contact-directory';

export type RefusalReason =
  | 'no_destination'
  | 'no_verified_number'
  | 'opted_out'
  | 'destination_refused'
  | 'invalid_destination';

export type Resolution =
  | { ok: true; to: string; accountId?: string }
  | { ok: false; reason: RefusalReason; detail: string };

const E164 = /^\+[1-9]\d{6,14}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Order updates (and only they) are held to the owner's consent and to verified numbers. */
export function isOrderUpdate(template: string): boolean {
  return template.startsWith('order.');
}

/**
 * Where a message goes: its `to`, or the account's e-mail / primary verified
 * number from the contact projection. Order updates by SMS go only to numbers
 * verified on some account (on the one asked for, when one is named) whose owner has not opted out.
 */
export class DestinationResolver {
  constructor(private readonly contacts: ContactDirectory) {}

  async resolve(request: {
    channel: Channel;
    to?: string;
    accountId?: string;
    template: string;
  }): Promise<Resolution> {
    const { channel } = request;
    const phone = channel !== 'email';
    if (request.to !== undefined) {
      const to = request.to.trim();
      if (phone ? !E164.test(to) : !EMAIL.test(to)) {
        return {
          ok: false,
          reason: 'invalid_destination',
          detail: phone ? 'not an E.164 number' : 'not an e-mail address',
        };
      }
      if (phone && isOrderUpdate(request.template)) {
        const owner = await this.contacts.ownerOfNumber(to);
        if (!owner)
          return {
            ok: false,
            reason: 'destination_refused',
            detail: 'order updates go only to verified numbers',
          };
        // Asked for an account (POST by accountId queues the number it had then): the number
        // must still be that account's, not one it gave up and another account verified since.
        if (
          request.accountId !== undefined &&
          owner.accountId.toLowerCase() !== request.accountId.toLowerCase()
        )
          return {
            ok: false,
            reason: 'destination_refused',
            detail: 'the number is not verified on that account',
          };
        if (!owner.orderUpdates)
          return { ok: false, reason: 'opted_out', detail: 'the owner turned order updates off' };
        return { ok: true, to, accountId: owner.accountId };
      }
      return { ok: true, to, ...(request.accountId ? { accountId: request.accountId } : {}) };
    }
    if (!request.accountId)
      return { ok: false, reason: 'no_destination', detail: 'neither to nor accountId' };
    if (!phone) {
      const account = await this.contacts.emailOf(request.accountId);
      return account
        ? { ok: true, to: account.email, accountId: account.accountId }
        : {
            ok: false,
            reason: 'no_destination',
            detail: 'no e-mail address known for the account',
          };
    }
    const number = await this.contacts.primaryNumberOf(request.accountId);
    if (!number)
      return {
        ok: false,
        reason: 'no_verified_number',
        detail: 'the account has no verified number',
      };
    if (isOrderUpdate(request.template) && !number.orderUpdates) {
      return { ok: false, reason: 'opted_out', detail: 'the owner turned order updates off' };
    }
    return { ok: true, to: number.e164, accountId: number.accountId };
  }
}
