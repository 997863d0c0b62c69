import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedDatabase {
  name: string;
  url: string;
  close(): Promise<void>;
}

/**
 * A PostgreSQL for one service inside this process: PGlite (PostgreSQL
 * compiled to WebAssembly, in memory) behind its wire-protocol socket on
 * loopback, so the services use their ordinary `pg` driver, migrations and SQL.
 * PGlite is single-session: the service must use a pool of one connection.
 */
export async function startEmbeddedDatabase(name: string): Promise<EmbeddedDatabase> {
  const db = await PGlite.create();
  const server = new PGLiteSocketServer({ db, port: 0, host: '127.0.0.1' });
  await server.start();
  const address = server.getServerConn();
  return {
    name,
    url: `postgres://postgres@${address}/postgres`,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}
