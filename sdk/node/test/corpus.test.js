'use strict';
/**
 * Byte-identical corpus: every canvas of `corpus.js`, frozen with the ids "NAME-1", "NAME-2", ...
 * in the order freeze asks for them, serializes to exactly the bytes the Python SDK writes for
 * the same canvas (`tests/polyglot/corpus.py`, `SerializeToString(deterministic=True)`).
 *
 * Python: $MOTET_PYTHON, else /work/main/.venv/bin/python, else the repository's .venv.
 */

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const { setIdFactory } = require('..');
const { CORPUS } = require('./corpus');
const { REPO, python, pythonEnv } = require('./support');

function pythonCorpus() {
  const out = execFileSync(python(), [`${REPO}/tests/polyglot/corpus.py`], {
    cwd: REPO,
    env: pythonEnv(),
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(out);
}

function nodeHex(name, make) {
  let k = 0;
  const previous = setIdFactory(() => `${name}-${++k}`);
  try {
    const canvas = make();
    canvas.freeze();
    return canvas.toBinary().toString('hex');
  } finally {
    setIdFactory(previous);
  }
}

const expected = pythonCorpus();

test('the corpus has the same canvases on both sides (at least 15)', () => {
  assert.deepEqual(
    CORPUS.map(([name]) => name),
    expected.map((e) => e.name),
  );
  assert.ok(CORPUS.length >= 15);
});

for (const [name, make] of CORPUS) {
  test(`corpus ${name}: the same bytes as the Python SDK`, () => {
    const want = expected.find((e) => e.name === name);
    assert.ok(want, `tests/polyglot/corpus.py has no canvas ${name}`);
    assert.equal(nodeHex(name, make), want.hex);
  });
}
