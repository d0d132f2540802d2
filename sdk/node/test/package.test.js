'use strict';
/**
 * The package a Node team installs works: `npm pack` (real, offline: no registry is reachable),
 * the tarball extracted into `<tmp>/app/node_modules/motet`, its runtime dependencies linked from
 * this checkout's node_modules, then a child `node` in `<tmp>/app` requires `motet`, builds a
 * chord and compiles it to the same bytes as the checkout does, loading the .proto files from
 * inside the installed package. The declarations ship too and type-check from `<tmp>/app`.
 * prepack/postpack leave the checkout as it was.
 */

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const { REPO } = require('./support');

const ROOT = path.join(__dirname, '..');

/** The same chord in the checkout and in the installed package, frozen with fixed ids. */
const CHORD_SOURCE = `
  let k = 0;
  motet.setIdFactory(() => 'pkg-' + ++k);
  const c = motet.chord(
    [motet.signature('tasks.add', [1, 1]), motet.signature('tasks.add', [2, 2], {}, { queue: 'fast' })],
    motet.signature('tasks.xsum'),
  );
  c.freeze();
  return c.toBinary().toString('hex');
`;

function gitStatus() {
  return execFileSync('git', ['status', '--porcelain', '--ignored', '--', 'sdk/node'], { cwd: REPO, encoding: 'utf8' });
}

test('npm pack (offline) makes a package that installs and runs on its own', (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'motet-pack-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const before = gitStatus();
  const bundledBefore = fs.existsSync(path.join(ROOT, 'protos'));
  const pack = spawnSync('npm', ['pack', '--json', '--pack-destination', tmp], {
    cwd: ROOT,
    encoding: 'utf8',
    env: {
      ...process.env,
      npm_config_offline: 'true',
      npm_config_registry: 'http://127.0.0.1:9/', // nothing listens: any registry call fails
      npm_config_cache: path.join(tmp, 'npm-cache'),
      npm_config_ignore_scripts: 'false',
      npm_config_update_notifier: 'false',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
    },
  });
  assert.equal(pack.status, 0, pack.stdout + pack.stderr);
  assert.equal(gitStatus(), before, 'npm pack changed sdk/node');
  assert.equal(fs.existsSync(path.join(ROOT, 'protos')), bundledBefore, 'postpack left sdk/node/protos behind');

  // The tarball's listing: code, declarations and the .proto files the package loads.
  const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[')));
  const listed = new Set(info.files.map((f) => f.path));
  const protoFiles = fs.readdirSync(path.join(REPO, 'protos', 'motet', 'v1')).filter((f) => f.endsWith('.proto'));
  assert.ok(protoFiles.includes('canvas.proto'));
  for (const file of [
    'package.json',
    'index.js',
    'index.d.ts',
    'lib/protos.js',
    'lib/canvas.js',
    'protos-google/google/rpc/status.proto',
    'protos-google/google/rpc/error_details.proto',
    ...protoFiles.map((f) => `protos/motet/v1/${f}`),
  ]) {
    assert.ok(listed.has(file), `the tarball lacks ${file} (it has: ${[...listed].join(', ')})`);
  }
  assert.ok(![...listed].some((f) => f.startsWith('test/') || f.startsWith('node_modules/')), 'tests or node_modules packed');

  // Install it by hand: extract, and link the dependencies from this checkout (no fetching).
  const app = path.join(tmp, 'app');
  const installed = path.join(app, 'node_modules', 'motet');
  fs.mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', path.join(tmp, info.filename), '-C', installed, '--strip-components=1']);
  for (const entry of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
    if (entry === 'motet' || entry.startsWith('.')) continue;
    fs.symlinkSync(path.join(ROOT, 'node_modules', entry), path.join(app, 'node_modules', entry));
  }
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  for (const f of protoFiles) {
    assert.equal(
      fs.readFileSync(path.join(installed, 'protos', 'motet', 'v1', f), 'utf8'),
      fs.readFileSync(path.join(REPO, 'protos', 'motet', 'v1', f), 'utf8'),
      `the packed ${f} differs from protos/motet/v1/${f}`,
    );
  }

  // Run it from the app, as a user would.
  const script = `
    const motet = require('motet');
    const protos = require('motet/lib/protos');
    const hex = (() => { ${CHORD_SOURCE} })();
    console.log(JSON.stringify({
      main: require.resolve('motet'),
      protos: protos.PROTOS,
      google: protos.GOOGLE_PROTOS,
      canvas: require.resolve('motet/protos/motet/v1/canvas.proto'),
      types: require('motet/package.json').types,
      hex,
    }));
  `;
  const run = spawnSync(process.execPath, ['-e', script], { cwd: app, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  const got = JSON.parse(run.stdout);
  const inside = (p) => fs.realpathSync(p).startsWith(fs.realpathSync(installed) + path.sep);
  assert.ok(inside(got.main), `require('motet') -> ${got.main}`);
  assert.ok(inside(got.protos), `the package loads its protos from ${got.protos}, not from itself`);
  assert.ok(inside(got.google), `google protos from ${got.google}`);
  assert.ok(inside(got.canvas), got.canvas);
  assert.ok(!fs.realpathSync(got.protos).startsWith(fs.realpathSync(REPO) + path.sep));

  const motet = require('..');
  const want = new Function('motet', CHORD_SOURCE)(motet);
  motet.setIdFactory(null);
  assert.ok(want.length > 0);
  assert.equal(got.hex, want, 'the installed package compiles the chord to other bytes than the checkout');

  // The declarations ship and type an app that uses the installed package.
  assert.equal(got.types, 'index.d.ts');
  assert.ok(fs.existsSync(path.join(installed, got.types)));
  fs.writeFileSync(
    path.join(app, 'app.ts'),
    `import { chord, signature } from 'motet';\n` +
      `const bytes: Buffer = chord([signature('tasks.add', [1, 1])], signature('tasks.xsum')).toBinary();\n` +
      `console.log(bytes.length);\n`,
  );
  const tsc = spawnSync(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '--strict', '--noEmit', '--target', 'es2022', '--module', 'commonjs', '--types', 'node', 'app.ts'],
    { cwd: app, encoding: 'utf8' },
  );
  assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
});
