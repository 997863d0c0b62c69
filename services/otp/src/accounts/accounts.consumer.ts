import { Controller, Inject } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { accountCreatedV1, type EventData } from '@phonegate/contracts';
import { KnownAccounts } from './known-accounts';

/** Keeps the id of every account identity creates (the rest of the event is not kept). */
@Controller()
export class AccountsConsumer {
  constructor(@Inject(KnownAccounts) private readonly accounts: KnownAccounts) {}

  @EventPattern<string>(accountCreatedV1.type)
  async onAccountCreated(@Payload() data: EventData<typeof accountCreatedV1>): Promise<void> {
    await this.accounts.remember(data.accountId, 'event');
  }
}
