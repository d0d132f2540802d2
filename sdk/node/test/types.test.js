'use strict';
/** index.d.ts types the public API as the README uses it: test/types.ts compiles under --strict. */

const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

test('the TypeScript declarations type the README usage (tsc --strict --noEmit)', () => {
  const tsc = require.resolve('typescript/bin/tsc');
  const file = path.join(__dirname, 'types.ts');
  const done = spawnSync(process.execPath, [tsc, '--strict', '--noEmit', '--target', 'es2022', '--module', 'commonjs', '--types', 'node', file], {
    encoding: 'utf8',
  });
  assert.equal(done.status, 0, done.stdout + done.stderr);
});
