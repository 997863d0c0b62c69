#!/usr/bin/env node
// Container entry point: runs the one program named by SERVICE (set at build
// time with --build-arg SERVICE=..., overridable at run time). Node stays PID 1
// and receives SIGTERM itself, so the services' graceful shutdown runs.
'use strict';

const path = require('node:path');
const fs = require('node:fs');

const ENTRY_POINTS = {
  identity: 'services/identity/dist/main.js',
  otp: 'services/otp/dist/main.js',
  notifier: 'services/notifier/dist/main.js',
  'delivery-otp': 'services/delivery-otp/dist/main.js',
  'carrier-sim': 'tools/carrier-sim/dist/main.js',
};

// In the image this file is /app/deploy/docker/launch.cjs, so the root is /app.
const root = path.resolve(__dirname, '..', '..');
const service = process.env.SERVICE || '';
const entry = Object.prototype.hasOwnProperty.call(ENTRY_POINTS, service)
  ? ENTRY_POINTS[service]
  : undefined;

if (!entry) {
  process.stderr.write(
    `${JSON.stringify({ level: 'fatal', msg: 'SERVICE must be one of the programs in this image', service, allowed: Object.keys(ENTRY_POINTS) })}\n`,
  );
  process.exit(64);
}

const file = path.join(root, entry);
if (!fs.existsSync(file)) {
  process.stderr.write(
    `${JSON.stringify({ level: 'fatal', msg: 'entry point missing: was the image built?', service, file })}\n`,
  );
  process.exit(66);
}

require(file);
