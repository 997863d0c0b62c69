import { Controller, Inject } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import {
  accountCreatedV1,
  type EventData,
  phonePrimaryChangedV1,
  phoneRemovedV1,
  phoneVerifiedV1,
} from '@phonegate/contracts';
import type { BusContext } from '@phonegate/messaging';
import { ContactDirectory } from './contact-directory';

/** Keeps the contact projection from identity's events (every write idempotent). */
@Controller()
export class ContactsConsumer {
  constructor(@Inject(ContactDirectory) private readonly contacts: ContactDirectory) {}

  @EventPattern<string>(accountCreatedV1.type)
  async onAccountCreated(
    @Payload() data: EventData<typeof accountCreatedV1>,
    @Ctx() ctx: BusContext,
  ): Promise<void> {
    await this.contacts.accountCreated(data.accountId, data.email, data.locale, eventTime(ctx));
  }

  @EventPattern<string>(phoneVerifiedV1.type)
  async onPhoneVerified(
    @Payload() data: EventData<typeof phoneVerifiedV1>,
    @Ctx() ctx: BusContext,
  ): Promise<void> {
    await this.contacts.phoneVerified(
      data.accountId,
      data.phoneId,
      data.e164,
      data.primary,
      eventTime(ctx),
      data.replacedPhoneId,
    );
  }

  @EventPattern<string>(phonePrimaryChangedV1.type)
  async onPrimaryChanged(
    @Payload() data: EventData<typeof phonePrimaryChangedV1>,
    @Ctx() ctx: BusContext,
  ): Promise<void> {
    await this.contacts.primaryChanged(data.accountId, data.phoneId, data.e164, eventTime(ctx));
  }

  @EventPattern<string>(phoneRemovedV1.type)
  async onPhoneRemoved(
    @Payload() data: EventData<typeof phoneRemovedV1>,
    @Ctx() ctx: BusContext,
  ): Promise<void> {
    await this.contacts.phoneRemoved(data.accountId, data.phoneId, data.e164, eventTime(ctx));
  }
}

function eventTime(ctx: BusContext): Date {
  const t = Date.parse(ctx.envelope.time);
  return Number.isFinite(t) ? new Date(t) : new Date();
}
