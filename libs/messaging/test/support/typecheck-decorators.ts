// Compile-time check (tsc) of the handler decorators; never run.
import { Controller } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import type { BusContext } from '../../src/bus-context';
import { OnCommand, OnEvent } from '../../src/bus.decorators';
import { echoV1, itemCreatedV1 } from './fixtures';

@Controller()
export class TypedHandlers {
  @OnEvent(itemCreatedV1)
  onItem(
    @Payload() data: { n: number; run: string; secret?: string },
    @Ctx() ctx: BusContext,
  ): void {
    void data.n;
    void ctx.attempt;
  }

  @OnEvent(itemCreatedV1)
  async onItemAsync(@Payload() data: { n: number; run: string }): Promise<void> {
    void data.run;
  }

  @OnCommand(echoV1)
  echo(@Payload() req: { text: string }): { text: string } {
    return { text: req.text };
  }

  // @ts-expect-error the response does not match the command's contract
  @OnCommand(echoV1)
  wrongResponse(@Payload() req: { text: string }): { nope: number } {
    return { nope: req.text.length };
  }

  // @ts-expect-error the data parameter does not match the event's contract
  @OnEvent(itemCreatedV1)
  wrongData(@Payload() data: { other: boolean }): void {
    void data;
  }

  @EventPattern<string>(itemCreatedV1.type)
  plain(@Payload() data: { n: number }): void {
    void data;
  }
}
