import { Controller, Inject, type BeforeApplicationShutdown } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import {
  type EventData,
  notificationRequestedV1,
  orderStatusChangedV1,
} from '@phonegate/contracts';
import type { BusContext } from '@phonegate/messaging';
import { orderUpdateRequest } from './order-updates';
import { PriorityLanes } from './priority-lanes';

/** notification.requested.v1 and order.status_changed.v1 from the priority queues. */
@Controller()
export class NotificationConsumer implements BeforeApplicationShutdown {
  constructor(@Inject(PriorityLanes) private readonly lanes: PriorityLanes) {}

  @EventPattern<string>(notificationRequestedV1.type)
  async onRequested(
    @Payload() data: EventData<typeof notificationRequestedV1>,
    @Ctx() ctx: BusContext,
  ): Promise<void> {
    await this.lanes.run(data, ctx);
  }

  @EventPattern<string>(orderStatusChangedV1.type)
  async onOrderStatusChanged(
    @Payload() data: EventData<typeof orderStatusChangedV1>,
    @Ctx() ctx: BusContext,
  ): Promise<void> {
    await this.lanes.run(orderUpdateRequest(data, ctx.envelope.id), ctx);
  }

  beforeApplicationShutdown(): void {
    this.lanes.stop();
  }
}
