// Shared Jest settings: every package's jest.config.js calls this, and the root
// jest.config.js runs all of them together (`npm test`).
const path = require('node:path');
const fs = require('node:fs');

const root = __dirname;

module.exports = function preset(dir, overrides = {}) {
  const name = path.relative(root, dir);
  return {
    displayName: name,
    rootDir: dir,
    testEnvironment: 'node',
    transform: { '^.+\\.(ts|js|mjs)$': `${root}/jest.transform.js` },
    // ESM-only packages are compiled to CommonJS for Jest (see jest.transform.js).
    transformIgnorePatterns: [],
    moduleFileExtensions: ['ts', 'js', 'json'],
    moduleNameMapper: {
      '^@phonegate/(contracts|platform|messaging)$': `${root}/libs/$1/src/index.ts`,
      '^@phonegate/(platform|messaging)/(.*)$': `${root}/libs/$1/src/$2`,
      '^@phonegate/carrier-sim$': `${root}/tools/carrier-sim/src/index.ts`,
      '^@phonegate/gateway$': `${root}/tools/gateway/src/index.ts`,
      '^@phonegate/stack$': `${root}/tools/stack/src/index.ts`,
    },
    testMatch: [
      '<rootDir>/src/**/*.spec.ts',
      '<rootDir>/test/**/*.integration-spec.ts',
      '<rootDir>/test/**/*.e2e-spec.ts',
    ],
    setupFiles: [`${root}/jest.setup.js`],
    testTimeout: 30_000,
    ...overrides,
  };
};
