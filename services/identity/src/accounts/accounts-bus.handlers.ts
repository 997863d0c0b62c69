import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { accountExistsV1, type CommandRequest } from '@phonegate/contracts';
import { AccountsService } from './accounts.service';

/** The commands other services send identity over the bus about accounts. Thin. */
@Controller()
export class AccountsBusHandlers {
  constructor(@Inject(AccountsService) private readonly accounts: AccountsService) {}

  /** The otp service's question before it keeps a factor for an account it has not heard of. */
  @MessagePattern<string>(accountExistsV1.pattern)
  exists(@Payload() req: CommandRequest<typeof accountExistsV1>) {
    return this.accounts.exists(req.accountId);
  }
}
