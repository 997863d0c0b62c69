// Preload for the notifier under bench (`node --require ./bench/notifier/count-calls.js ...`):
// counts PostgreSQL statements (pg Client#query) and Redis commands (ioredis sendCommand: one
// round trip each, outside pipelines) by their first word, and writes the counts so far as JSON
// to $COUNT_CALLS_OUT whenever the process gets SIGUSR2 (and at exit). The bench diffs two
// snapshots to get statements and round trips per message. Measurement only: not for production.
'use strict';
const { writeFileSync } = require('node:fs');

const out = process.env.COUNT_CALLS_OUT;
const counts = { pg: {}, redis: {} };
const bump = (table, key) => {
  table[key] = (table[key] ?? 0) + 1;
};

const pg = require('pg');
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function countedQuery(config, ...rest) {
  const text = typeof config === 'string' ? config : config?.text;
  if (typeof text === 'string') {
    const words = text.trim().split(/\s+/, 3);
    // `WITH x AS (INSERT ...`: name a CTE by the statement it opens with.
    const word = (
      words[0] === 'WITH' ? `WITH ${(/\(\s*(\w+)/.exec(text) ?? [])[1] ?? ''}` : (words[0] ?? '')
    ).toUpperCase();
    bump(counts.pg, word);
  }
  return query.call(this, config, ...rest);
};

const { Redis } = require('ioredis');
const sendCommand = Redis.prototype.sendCommand;
Redis.prototype.sendCommand = function countedSendCommand(command, stream) {
  if (command && typeof command.name === 'string') bump(counts.redis, command.name.toUpperCase());
  return sendCommand.call(this, command, stream);
};

function dump() {
  if (out) writeFileSync(out, JSON.stringify(counts));
}
process.on('SIGUSR2', dump);
process.on('exit', dump);
