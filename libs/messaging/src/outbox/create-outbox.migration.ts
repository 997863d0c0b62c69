import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Creates the `outbox` table of OutboxMessage. Services add it to their migrations. */
export class CreateOutbox1732240000000 implements MigrationInterface {
  name = 'CreateOutbox1732240000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE IF NOT EXISTS "outbox" (
        "id" uuid PRIMARY KEY,
        "routing_key" varchar(255) NOT NULL,
        "envelope" jsonb NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT clock_timestamp(),
        "sent_at" timestamptz NULL,
        "attempts" integer NOT NULL DEFAULT 0,
        "last_error" text NULL
      )`);
    await queryRunner.query(
      `CREATE INDEX IF NOT EXISTS "outbox_unsent_idx" ON "outbox" ("created_at") WHERE "sent_at" IS NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX IF NOT EXISTS "outbox_sent_idx" ON "outbox" ("sent_at") WHERE "sent_at" IS NOT NULL`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE IF EXISTS "outbox"`);
  }
}
