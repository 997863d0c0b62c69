import { accountExistsV1, type CommandContract, type CommandRequest, type CommandResponse } from '@phonegate/contracts';
import type { AccountLookup } from './known-accounts';

/** What the lookup needs of the bus (`EventBus.request`). */
export interface CommandSender {
  request<C extends CommandContract>(
    command: C,
    data: CommandRequest<C>,
    opts?: { timeoutMs?: number },
  ): Promise<CommandResponse<C>>;
}

/** Asks identity over the bus whether an account exists (`identity.account.exists.v1`). */
export class IdentityAccountLookup implements AccountLookup {
  constructor(
    private readonly bus: CommandSender,
    private readonly timeoutMs: number,
  ) {}

  async exists(accountId: string): Promise<boolean> {
    const answer = await this.bus.request(accountExistsV1, { accountId }, { timeoutMs: this.timeoutMs });
    return answer.exists;
  }
}
