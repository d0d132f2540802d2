'use strict';
/**
 * index.d.ts types the public API as the README uses it: test/types.ts compiles under --strict,
 * and the README's own ```js blocks type-check as they are written (tsc --checkJs, not run).
 */

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.join(__dirname, '..');
const tsc = require.resolve('typescript/bin/tsc');

function runTsc(args) {
  return spawnSync(process.execPath, [tsc, ...args], { encoding: 'utf8' });
}

test('the TypeScript declarations type the README usage (tsc --strict --noEmit)', () => {
  const file = path.join(__dirname, 'types.ts');
  const done = runTsc(['--strict', '--noEmit', '--target', 'es2022', '--module', 'commonjs', '--types', 'node', file]);
  assert.equal(done.status, 0, done.stdout + done.stderr);
});

/** The ```js blocks of a Markdown text, in order. */
function jsBlocks(markdown) {
  return [...markdown.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

test("the README's JavaScript blocks parse and type-check against index.d.ts (tsc --checkJs, not run)", (t) => {
  const blocks = jsBlocks(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  assert.ok(blocks.length >= 2, `the README shows the client and the worker (found ${blocks.length} js blocks)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'motet-readme-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // Each block is its own CommonJS module, `require('motet')` resolving to this package's types.
  const files = blocks.map((code, i) => {
    const file = path.join(dir, `readme-${i + 1}.js`);
    fs.writeFileSync(file, `${code}module.exports = {};\n`);
    return file;
  });
  const config = {
    compilerOptions: {
      allowJs: true,
      checkJs: true,
      noEmit: true,
      strict: true,
      noImplicitAny: false, // the README's callbacks are plain JavaScript, unannotated
      target: 'es2022',
      module: 'commonjs',
      moduleResolution: 'node10',
      baseUrl: dir,
      paths: { motet: [path.join(ROOT, 'index.d.ts')] },
      typeRoots: [path.join(ROOT, 'node_modules', '@types')],
      types: ['node'],
    },
    files,
  };
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(config, null, 2));
  const done = runTsc(['--project', path.join(dir, 'tsconfig.json')]);
  assert.equal(done.status, 0, `README.md's js blocks do not type-check:\n${done.stdout}${done.stderr}`);
});
