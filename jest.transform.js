// Jest transformer: our TypeScript, and the ESM-only packages in node_modules
// (NestJS 12, otplib, jose), compiled to CommonJS with SWC. Node 20 itself
// loads those packages through require(esm); Jest's module system does not
// (before Node 24.9), so tests compile them instead.
const { transformSync } = require('@swc/core');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const swcrc = JSON.parse(fs.readFileSync(path.join(__dirname, '.swcrc'), 'utf8'));
delete swcrc.$schema;
const VERSION = '4';
const ESM = /^\s*(import\s*[\w{*'"]|export\s+(\{|\*|default|const|let|var|function|class|async))/m;

function options(filename) {
  const isTs = filename.endsWith('.ts');
  return {
    ...swcrc,
    swcrc: false,
    filename,
    sourceMaps: 'inline',
    jsc: {
      ...swcrc.jsc,
      parser: isTs ? swcrc.jsc.parser : { syntax: 'ecmascript', importAttributes: true },
    },
    module: { type: 'commonjs', ignoreDynamic: false },
  };
}

module.exports = {
  process(source, filename) {
    let code = source;
    // CommonJS files in node_modules pass through untouched; only ESM is compiled.
    if (filename.includes('/node_modules/') && !ESM.test(source)) return { code: source };
    if (!filename.endsWith('.ts')) {
      code = code
        // CommonJS already has a `require`; an ESM module's own one would clash.
        .replace(/\b(const|let|var)\s+require\s*=\s*createRequire\([^)]*\);?/g, '')
        .replace(/\bimport\.meta\.url\b/g, 'require("node:url").pathToFileURL(__filename).href')
        .replace(/\bimport\.meta\.dirname\b/g, '__dirname')
        .replace(/\bimport\.meta\.filename\b/g, '__filename');
    }
    return { code: transformSync(code, options(filename)).code };
  },
  getCacheKey(source, filename) {
    return crypto.createHash('sha1').update(VERSION).update(filename).update(source).digest('hex');
  },
};
