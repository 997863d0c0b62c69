import type { Envelope } from '@phonegate/contracts';
import { BaseRpcContext } from '@nestjs/microservices';

type BusContextArgs = [envelope: Envelope, queue: string, attempt: number];

/**
 * What `@Ctx()` gives a bus handler: the envelope (CloudEvents attributes,
 * data still as on the wire, i.e. sensitive fields encrypted), the queue the
 * message came from and the attempt number (1 on the first delivery).
 */
export class BusContext extends BaseRpcContext<BusContextArgs> {
  get envelope(): Envelope {
    return this.args[0];
  }

  get queue(): string {
    return this.args[1];
  }

  get attempt(): number {
    return this.args[2];
  }

  getPattern(): string {
    return this.args[0].type;
  }
}
