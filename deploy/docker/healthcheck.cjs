#!/usr/bin/env node
// Docker HEALTHCHECK: exits 0 when GET <url> answers 2xx within the timeout,
// else 1. The URL defaults to this container's own readiness endpoint,
// http://127.0.0.1:$PORT/health/ready; pass another as the first argument
// (the carrier simulator has no /health/ready). No curl in the slim image.
'use strict';

const http = require('node:http');

const url = process.argv[2] || `http://127.0.0.1:${process.env.PORT || '3000'}/health/ready`;
const timeoutMs = 3000;

const request = http.get(url, { timeout: timeoutMs }, (response) => {
  response.resume();
  const ok =
    response.statusCode !== undefined && response.statusCode >= 200 && response.statusCode < 300;
  process.exit(ok ? 0 : 1);
});
request.on('timeout', () => request.destroy(new Error('timeout')));
request.on('error', () => process.exit(1));
