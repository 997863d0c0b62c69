import { type DynamicModule, Global, Module } from '@nestjs/common';
import { CreateOutbox1732240000000, OutboxMessage } from '@phonegate/messaging';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { AccountEntity } from './accounts/account.entity';
import { CreateIdentity1763800000000 } from './migrations/1763800000000-create-identity';
import { PhoneEntity } from './phones/phone.entity';
import { DeviceEntity } from './sessions/device.entity';
import { SessionEntity } from './sessions/session.entity';

export const IDENTITY_ENTITIES = [AccountEntity, PhoneEntity, DeviceEntity, SessionEntity, OutboxMessage];
export const IDENTITY_MIGRATIONS = [CreateIdentity1763800000000, CreateOutbox1732240000000];

/** The connection options a caller passes (URL, pool); entities and migrations are the service's own. */
export type DatabaseOptions = DataSourceOptions extends infer T ? (T extends unknown ? Omit<T, 'entities' | 'migrations' | 'migrationsRun'> : never) : never;

/** The identity DataSource (not yet initialized) for connection options: its entities and migrations. */
export function identityDataSource(options: DatabaseOptions): DataSource {
  return new DataSource({
    ...options,
    entities: IDENTITY_ENTITIES,
    migrations: IDENTITY_MIGRATIONS,
    migrationsRun: true,
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false,
  });
}

/**
 * The identity DataSource, migrated at start (migrationsRun): built from options, or one the
 * caller built (`identityDataSource`, shared with a bus built in service.ts for its outbox relay).
 */
@Global()
@Module({})
export class DatabaseModule {
  static forRoot(options: DatabaseOptions | DataSource): DynamicModule {
    return {
      module: DatabaseModule,
      providers: [
        {
          provide: DataSource,
          useFactory: async () => {
            const ds = options instanceof DataSource ? options : identityDataSource(options);
            if (!ds.isInitialized) await ds.initialize();
            return ds;
          },
        },
      ],
      exports: [DataSource],
    };
  }
}

/** Options for PostgreSQL from a URL. */
export function postgresOptions(url: string, poolSize = 10): DatabaseOptions {
  return { type: 'postgres', url, extra: { max: poolSize, connectionTimeoutMillis: 3_000 } };
}
