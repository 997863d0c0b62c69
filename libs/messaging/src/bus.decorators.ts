import type {
  CommandContract,
  CommandRequest,
  CommandResponse,
  EventContract,
  EventData,
} from '@phonegate/contracts';
import { EventPattern, MessagePattern } from '@nestjs/microservices';
import type { BusContext } from './bus-context';

type Method<Args extends unknown[], R> = TypedPropertyDescriptor<(...args: Args) => R>;

/**
 * `@EventPattern(contract.type)` with the handler's parameters checked against
 * the contract: `@OnEvent(phoneAddedV1) onPhoneAdded(@Payload() data: EventData<typeof phoneAddedV1>, @Ctx() ctx: BusContext)`.
 * (Nest 12 types the data of a bare `@EventPattern('…')` handler as `{}`, so
 * typed handlers need this or `@EventPattern<string>('…')`.)
 */
export function OnEvent<C extends EventContract>(contract: C) {
  const decorate = EventPattern<string>(contract.type);
  return <R>(
    target: object,
    key: string | symbol,
    descriptor: Method<[data: EventData<C>, ctx: BusContext], R> | Method<[data: EventData<C>], R>,
  ): void => {
    decorate(target, key, descriptor as TypedPropertyDescriptor<unknown>);
  };
}

/** `@MessagePattern(command.pattern)` with the request and response checked against the contract. */
export function OnCommand<C extends CommandContract>(command: C) {
  const decorate = MessagePattern<string>(command.pattern);
  type Res = CommandResponse<C> | Promise<CommandResponse<C>>;
  return <R extends Res>(
    target: object,
    key: string | symbol,
    descriptor:
      Method<[req: CommandRequest<C>, ctx: BusContext], R> | Method<[req: CommandRequest<C>], R>,
  ): void => {
    decorate(target, key, descriptor as TypedPropertyDescriptor<unknown>);
  };
}
