'use strict';
/** The Node worker's pure logic: how errors go on the wire, retry limits, backoff. No cluster. */

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { Worker, TaskContext, Retry, MaxRetriesExceededError, TimeLimitExceeded, failureOf } = require('../lib/worker');
const { TaskError } = require('../lib/errors');

class CardDeclined extends Error {
  constructor(message) {
    super(message);
    this.name = 'CardDeclined';
  }
}

test('a JS error goes out as js.<name> with its message, arguments and stack', () => {
  const f = failureOf(new CardDeclined('no funds'), 't1');
  assert.equal(f.excType, 'js.CardDeclined');
  assert.equal(f.message, 'no funds');
  assert.equal(f.taskId, 't1');
  assert.equal(f.kind, 'FAILURE_KIND_RAISED');
  assert.equal(Buffer.from(f.excArgs.data).toString(), '["no funds"]');
  assert.match(f.traceback, /worker\.test\.js/);
  assert.doesNotMatch(f.traceback, /lib[/\\]worker\.js/);
});

test('an error naming a Python type, Motet conditions and relayed failures keep their type', () => {
  const e = new Error('bad');
  e.excType = 'builtins.ValueError';
  assert.equal(failureOf(e, 't').excType, 'builtins.ValueError');
  assert.equal(failureOf(new TimeLimitExceeded('late'), 't').excType, 'motet.exceptions.TimeLimitExceeded');
  const relayed = new TaskError({ excType: 'builtins.KeyError', message: "'x'", traceback: 'tb', taskId: 'upstream' });
  assert.deepEqual(failureOf(relayed, 't'), {
    excType: 'builtins.KeyError',
    message: "'x'",
    traceback: 'tb',
    taskId: 'upstream',
    kind: 'FAILURE_KIND_RAISED',
  });
  assert.equal(failureOf('a string', 't').excType, 'js.String'); // a thrown non-Error: its constructor's name
});

function ctx({ retries = 0, maxRetries, defMax = 3 } = {}) {
  const request = { retries };
  if (maxRetries !== undefined) Object.assign(request, { _maxRetries: 'maxRetries', maxRetries });
  return new TaskContext({ taskId: 'id-1', task: 'js.t', request }, { maxRetries: defMax, defaultRetryDelay: 180 }, [], {}, null);
}

test('retry() throws Retry with the countdown until the limit, then the error or MaxRetriesExceeded', () => {
  assert.throws(() => ctx().retry({ countdown: 2 }), (err) => err instanceof Retry && err.countdown === 2);
  assert.throws(() => ctx().retry(), (err) => err instanceof Retry && err.countdown === 180);
  assert.throws(() => ctx({ retries: 3 }).retry(), MaxRetriesExceededError);
  const cause = new CardDeclined('x');
  assert.throws(() => ctx({ retries: 3 }).retry({ exc: cause }), (err) => err === cause);
  // The request's max_retries (sent by the client) wins over the task's; a retry may raise it.
  assert.throws(() => ctx({ retries: 1, maxRetries: 1 }).retry(), MaxRetriesExceededError);
  assert.throws(() => ctx({ retries: 1, maxRetries: 1 }).retry({ maxRetries: 5 }), Retry);
  assert.throws(() => ctx({ retries: 50, defMax: null }).retry(), Retry); // null: no limit
});

test('automatic retries back off exponentially up to the cap, or wait the default delay', () => {
  const w = new Worker({ log: () => {} });
  w.task('a', () => null, { autoretryFor: [RangeError], retryBackoff: true });
  w.task('b', () => null, { autoretryFor: (err) => err.message === 'again', defaultRetryDelay: 7 });
  const a = w.tasks.get('a');
  const b = w.tasks.get('b');
  assert.deepEqual([0, 1, 2, 3].map((n) => w._backoff(a, n)), [1, 2, 4, 8]);
  assert.equal(w._backoff(a, 20), 600);
  assert.equal(w._backoff(b, 3), 7);
  assert.ok(w._autoretries(a, new RangeError('x')));
  assert.ok(!w._autoretries(a, new TypeError('x')));
  assert.ok(w._autoretries(b, new Error('again')));
});

test('bad settings are refused at construction, and run() needs a task', async () => {
  assert.throws(() => new Worker({ concurrency: 0 }), /concurrency/);
  assert.throws(() => new Worker({ prefetch: 1.5 }), /prefetch/);
  assert.throws(() => new Worker().task('', () => 1), /name/);
  await assert.rejects(new Worker({ log: () => {} }).run(), /register at least one task/);
});
