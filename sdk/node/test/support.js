'use strict';
/**
 * What the tests that run Python share: the repository root, the Python to run and its
 * environment. (Loaded by `node --test` as a file of the test folder too; it declares no test.)
 */

const fs = require('node:fs');
const path = require('node:path');

/** The repository root (sdk/node/test -> ../../..). */
const REPO = path.resolve(__dirname, '..', '..', '..');

/** The Python with the Motet SDK and services installed: $MOTET_PYTHON, else the repository's venv. */
function python() {
  if (process.env.MOTET_PYTHON) return process.env.MOTET_PYTHON;
  const venv = path.join(REPO, '.venv', 'bin', 'python'); // what `make venv` builds
  return fs.existsSync(venv) ? venv : 'python3';
}

const CREDENTIALS = ['MOTET_TLS_CA', 'MOTET_TLS_CERT', 'MOTET_TLS_KEY', 'MOTET_TOKEN', 'MOTET_NAMESPACE', 'MOTET_SCHEDULER', 'MOTET_RESULTS'];

/**
 * This process's environment with the repository's sources on PYTHONPATH, unbuffered output,
 * and none of the client settings unless `extra` gives them.
 * @param {object} [extra]
 */
function pythonEnv(extra = {}) {
  const env = { ...process.env };
  for (const name of CREDENTIALS) delete env[name];
  Object.assign(env, {
    PYTHONPATH: [path.join(REPO, 'sdk'), path.join(REPO, 'services'), REPO].join(path.delimiter),
    PYTHONUNBUFFERED: '1',
    ...extra,
  });
  return env;
}

module.exports = { REPO, python, pythonEnv };
