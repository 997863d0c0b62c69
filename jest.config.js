const fs = require('node:fs');
const path = require('node:path');

const projects = ['libs', 'services', 'tools']
  .flatMap((group) => {
    const dir = path.join(__dirname, group);
    return fs.existsSync(dir) ? fs.readdirSync(dir).map((name) => path.join(dir, name)) : [];
  })
  .filter((dir) => fs.existsSync(path.join(dir, 'jest.config.js')));

// testTimeout is a global option: per-project values are ignored when the
// projects run together, so it is set here too.
module.exports = { projects, testTimeout: 30_000 };
