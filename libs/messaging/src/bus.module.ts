import {
  type DynamicModule,
  Global,
  Inject,
  Injectable,
  Module,
  type ModuleMetadata,
  type OnApplicationShutdown,
  type OnModuleInit,
  type Provider,
} from '@nestjs/common';
import { Bus, type BusOptions } from './bus';
import { ConnectionManager } from './connection';
import { EventBus } from './event-bus';
import { Outbox } from './outbox/outbox';
import { OutboxRelay } from './outbox/outbox.relay';
import { RabbitMqServer } from './rabbitmq.server';

/** Either options to build the bus from, or a bus built in main.ts (to hand its server to bootstrapService). */
export type BusModuleOptions = BusOptions | { bus: Bus };

export interface BusModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  inject?: unknown[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Nest passes the injected values untyped
  useFactory: (...args: any[]) => BusModuleOptions | Promise<BusModuleOptions>;
}

/** Starts the bus with the module and closes it last on shutdown (after consumers drained). */
@Injectable()
export class BusLifecycle implements OnModuleInit, OnApplicationShutdown {
  constructor(@Inject(Bus) private readonly bus: Bus) {}

  async onModuleInit(): Promise<void> {
    await this.bus.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.bus.close();
  }
}

function toBus(options: BusModuleOptions): Bus {
  return 'bus' in options ? options.bus : new Bus(options);
}

const derived: Provider[] = [
  { provide: EventBus, useFactory: (bus: Bus) => bus.events, inject: [Bus] },
  { provide: Outbox, useFactory: (bus: Bus) => bus.outbox, inject: [Bus] },
  { provide: ConnectionManager, useFactory: (bus: Bus) => bus.connection, inject: [Bus] },
  { provide: RabbitMqServer, useFactory: (bus: Bus) => bus.server, inject: [Bus] },
  { provide: OutboxRelay, useFactory: (bus: Bus) => bus.relay ?? null, inject: [Bus] },
  BusLifecycle,
];
const exported = [Bus, EventBus, Outbox, ConnectionManager, RabbitMqServer, OutboxRelay];

/**
 * Provides EventBus (publish, request), Outbox, the RabbitMqServer to connect
 * as a microservice, the ConnectionManager (health) and OutboxRelay (if
 * `outbox` is configured; otherwise null).
 */
@Global()
@Module({})
export class BusModule {
  static forRoot(options: BusModuleOptions): DynamicModule {
    return {
      module: BusModule,
      providers: [{ provide: Bus, useValue: toBus(options) }, ...derived],
      exports: exported,
    };
  }

  static forRootAsync(options: BusModuleAsyncOptions): DynamicModule {
    return {
      module: BusModule,
      imports: options.imports ?? [],
      providers: [
        {
          provide: Bus,
          useFactory: async (...args: unknown[]) => toBus(await options.useFactory(...args)),
          inject: (options.inject ?? []) as never[],
        },
        ...derived,
      ],
      exports: exported,
    };
  }
}
