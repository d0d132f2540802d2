#!/usr/bin/env node
'use strict';
/**
 * npm `prepack`: copies the repository's `protos/motet` into this package's `protos/motet`, so a
 * published package carries the .proto files it loads at run time (lib/protos.js prefers
 * `sdk/node/protos` when it exists). `--clean` (npm `postpack`) removes the copy again, so a
 * checkout keeps reading the repository's protos/ and never a stale copy. The copy is
 * git-ignored: the repository's protos/ stay the one source.
 */

const fs = require('node:fs');
const path = require('node:path');

const PACKAGE_ROOT = path.join(__dirname, '..');
const SOURCE = path.join(PACKAGE_ROOT, '..', '..', 'protos', 'motet');
const TARGET = path.join(PACKAGE_ROOT, 'protos');

if (process.argv.includes('--clean')) {
  fs.rmSync(TARGET, { recursive: true, force: true });
} else {
  if (!fs.existsSync(SOURCE)) {
    console.error(`copy-protos: ${SOURCE} not found; run npm pack from the repository's sdk/node`);
    process.exit(1);
  }
  fs.rmSync(TARGET, { recursive: true, force: true });
  fs.cpSync(SOURCE, path.join(TARGET, 'motet'), { recursive: true });
  console.log(`copy-protos: ${path.relative(PACKAGE_ROOT, SOURCE)} -> ${path.relative(PACKAGE_ROOT, TARGET)}/motet`);
}
