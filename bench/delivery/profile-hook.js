// Preload for the bench's service process: CPU-profiles one phase at a time.
//
//   node -r ./bench/delivery/profile-hook.js ...   (env PROFILE_DIR, default the working directory)
//
// The first SIGUSR2 starts the V8 sampling profiler, the next one stops it and
// writes <PROFILE_DIR>/<n>-<pid>.cpuprofile; so a profile holds only the
// timed phase, not the start-up (TypeScript compiled at load) or the seeding.
'use strict';
const { Session } = require('node:inspector');
const { writeFileSync, mkdirSync } = require('node:fs');
const { join } = require('node:path');

const dir = process.env.PROFILE_DIR || process.cwd();
const session = new Session();
session.connect();
let running = false;
let count = 0;

const post = (method, params) =>
  new Promise((resolve, reject) => session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result))));

process.on('SIGUSR2', () => {
  if (!running) {
    running = true;
    void post('Profiler.enable')
      .then(() => post('Profiler.setSamplingInterval', { interval: 500 }))
      .then(() => post('Profiler.start'));
    return;
  }
  running = false;
  void post('Profiler.stop').then(({ profile }) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${++count}-${process.pid}.cpuprofile`), JSON.stringify(profile));
    process.stderr.write(`profile-hook: wrote ${join(dir, `${count}-${process.pid}.cpuprofile`)}\n`);
  });
});
