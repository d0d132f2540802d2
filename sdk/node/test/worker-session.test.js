'use strict';
/**
 * The Node worker's session over a fake `WorkerService.Connect` stream (no cluster): the frames
 * it writes for heartbeats, soft time limits and revoked prefetched tasks. Timing runs on
 * node:test's mocked timers (setTimeout, setInterval and Date), so no test waits in real time.
 */

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { EventEmitter } = require('node:events');
const { v1 } = require('../lib/protos').grpcObject.motet;
const payload = require('../lib/payload');
const { Worker, HEARTBEAT } = require('../lib/worker');

/** One `Connect` stream: records what the worker writes; the test emits the scheduler's frames. */
class FakeCall extends EventEmitter {
  constructor() {
    super();
    this.written = [];
  }

  write(frame) {
    this.written.push(frame);
  }

  end() {
    process.nextTick(() => this.emit('end'));
  }

  /** The written frames of one kind (`heartbeat`, `failed`, ...), in order. */
  frames(kind) {
    return this.written.filter((f) => kind in f).map((f) => f[kind]);
  }

  /** Sends the scheduler's `assignment` frame for a task. */
  assign(taskId, task, { args = [], delivery = 1, request = {} } = {}) {
    const assignment = { taskId, task, delivery, args: payload.encode(args), call: 'CALL_KIND_CALL', request };
    this.emit('data', { frame: 'assignment', assignment });
  }
}

/**
 * A worker whose `Connect` returns a FakeCall (the generated client swapped out for the test).
 * @returns {{worker: Worker, calls: FakeCall[], start: () => Promise<void>}}
 */
function connected(t, settings = {}) {
  const calls = [];
  const real = v1.WorkerService;
  v1.WorkerService = class {
    Connect() {
      const call = new FakeCall();
      calls.push(call);
      return call;
    }

    close() {}
  };
  t.after(() => {
    v1.WorkerService = real;
  });
  const worker = new Worker({ scheduler: 'fake:1', log: () => {}, ...settings });
  return { worker, calls, start: () => worker.run() };
}

/** Lets promise callbacks and nextTicks run (setImmediate is not mocked). */
const flush = async () => {
  for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
};

const valueOf = (frame) => JSON.parse(Buffer.from(frame.value.data).toString());

test(`a heartbeat goes out after ${HEARTBEAT} s of silence, and any frame written restarts the count`, async (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: 0 });
  const { worker, calls, start } = connected(t);
  worker.task('js.echo', (x) => x);
  const running = start();
  const [call] = calls;
  assert.deepEqual(Object.keys(call.written[0]), ['hello']);
  assert.deepEqual(call.written[1], { credit: { n: 4 } });

  t.mock.timers.tick(4999);
  assert.equal(call.frames('heartbeat').length, 0, 'silent for less than 5 s: no heartbeat');
  t.mock.timers.tick(1); // t = 5 s
  assert.deepEqual(call.frames('heartbeat'), [{}]);
  t.mock.timers.tick(4000); // t = 9 s
  assert.equal(call.frames('heartbeat').length, 1);
  t.mock.timers.tick(1000); // t = 10 s: 5 s since the last heartbeat
  assert.equal(call.frames('heartbeat').length, 2);

  t.mock.timers.tick(2000); // t = 12 s: a report goes out, so the next heartbeat is due at 17 s, not 15 s
  call.assign('t1', 'js.echo', { args: [7] });
  await flush();
  assert.equal(valueOf(call.frames('succeeded')[0]), 7);
  t.mock.timers.tick(3000); // t = 15 s
  assert.equal(call.frames('heartbeat').length, 2, 'a report is not silence');
  t.mock.timers.tick(2000); // t = 17 s
  assert.equal(call.frames('heartbeat').length, 3);

  await worker.stop();
  await running;
});

test('at the soft time limit ctx.signal aborts while the task goes on; what it then returns is reported', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: 0 });
  const { worker, calls, start } = connected(t);
  const seen = [];
  worker.task(
    'js.cleanup',
    (ctx) =>
      new Promise((resolve) => {
        ctx.signal.addEventListener('abort', () => {
          seen.push(ctx.signal.reason.excType);
          setTimeout(() => resolve('cleaned up'), 500); // still running half a second later
        });
      }),
    { bind: true, softTimeLimit: 2 },
  );
  const running = start();
  const [call] = calls;
  call.assign('soft-1', 'js.cleanup', { delivery: 3 });
  await flush();

  t.mock.timers.tick(1999);
  await flush();
  assert.deepEqual(seen, [], 'not aborted before the soft limit');
  t.mock.timers.tick(1); // t = 2 s: the soft limit
  await flush();
  assert.deepEqual(seen, ['motet.exceptions.SoftTimeLimitExceeded']);
  assert.deepEqual(call.frames('failed'), [], 'a soft limit reports nothing by itself');
  assert.deepEqual(call.frames('succeeded'), []);
  t.mock.timers.tick(500);
  await flush();
  assert.equal(call.frames('succeeded').length, 1, 'reported once it returns');
  const [done] = call.frames('succeeded');
  assert.equal(done.taskId, 'soft-1');
  assert.equal(done.delivery, 3);
  assert.equal(valueOf(done), 'cleaned up');
  assert.deepEqual(call.frames('failed'), []);

  await worker.stop();
  await running;
});

test("a soft limit from the request aborts ctx.signal; a task that throws the signal's reason fails with SoftTimeLimitExceeded", async (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: 0 });
  const { worker, calls, start } = connected(t);
  worker.task(
    'js.give-up',
    (ctx) =>
      new Promise((resolve, reject) => {
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
      }),
    { bind: true }, // no soft limit of its own: the request's (the client's option) applies
  );
  const running = start();
  const [call] = calls;
  call.assign('soft-2', 'js.give-up', { request: { softTimeLimit: 1 } });
  await flush();
  t.mock.timers.tick(999);
  await flush();
  assert.deepEqual(call.frames('failed'), []);
  t.mock.timers.tick(1);
  await flush();
  assert.equal(call.frames('failed').length, 1, 'failed at the soft limit');
  const [failed] = call.frames('failed');
  assert.equal(failed.taskId, 'soft-2');
  assert.equal(failed.failure.excType, 'motet.exceptions.SoftTimeLimitExceeded');
  assert.equal(failed.failure.kind, 'FAILURE_KIND_RAISED');
  assert.match(failed.failure.message, /soft time limit \(1s\) exceeded/);

  await worker.stop();
  await running;
});

test('a revoked task held but not started is dropped and reported REVOKED without running', async (t) => {
  const { worker, calls, start } = connected(t, { concurrency: 1, prefetch: 2 });
  let release;
  worker.task('js.busy', () => new Promise((resolve) => (release = resolve)));
  let ranPrefetched = 0;
  worker.task('js.prefetched', () => {
    ranPrefetched += 1;
    return 'ran';
  });
  const reports = [];
  worker.on('report', (id, kind) => reports.push(`${id}:${kind}`));
  const running = start();
  const [call] = calls;
  assert.deepEqual(call.written[1], { credit: { n: 2 } });
  call.assign('busy', 'js.busy', { delivery: 1 });
  call.assign('held', 'js.prefetched', { delivery: 2 }); // the only slot is taken: held, waiting
  await flush();
  assert.equal(worker._held.get('held').started, false);

  call.emit('data', { frame: 'revoke', revoke: { taskId: 'held', terminate: false } });
  assert.equal(call.frames('failed').length, 1, 'the revoke is reported at once');
  const [failed] = call.frames('failed');
  assert.equal(failed.taskId, 'held');
  assert.equal(failed.delivery, 2);
  assert.equal(failed.failure.kind, 'FAILURE_KIND_REVOKED');
  assert.equal(failed.failure.excType, 'motet.exceptions.TaskRevokedError');
  assert.ok(!worker._held.has('held'));
  call.emit('data', { frame: 'revoke', revoke: { taskId: 'held', terminate: false } }); // a repeated notice
  assert.equal(call.frames('failed').length, 1, 'reported once');

  release('done'); // the slot frees: the revoked task must not take it
  await flush();
  assert.equal(ranPrefetched, 0);
  assert.deepEqual(
    call.frames('succeeded').map((f) => f.taskId),
    ['busy'],
  );
  assert.deepEqual(reports, ['held:failed', 'busy:succeeded']);

  await worker.stop();
  await running;
});
