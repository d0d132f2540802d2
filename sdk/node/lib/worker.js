'use strict';
/**
 * A Motet worker in Node: runs JavaScript tasks for a scheduler over `WorkerService.Connect`,
 * the stream docs/protocol.md ("Writing a worker in any language") describes, as the Python
 * worker does (`services/motet_server/worker/session.py`).
 *
 *     const { Worker } = require('motet');
 *     const worker = new Worker({ queues: ['celery'], concurrency: 4 });
 *     worker.task('js.multiply', async (x, y) => x * y);
 *     worker.handleSignals();   // SIGTERM / SIGINT: drain, then exit
 *     await worker.run();
 *
 * The session: `hello` (worker id, queues, task names, concurrency, pid), then `credit`
 * (concurrency × prefetch). Each `assignment` runs when a slot is free and is reported once:
 * `succeeded`, `failed`, `retry` or `replaced`, echoing its `delivery`. A `heartbeat` goes out
 * after `HEARTBEAT` seconds of silence. `revoke` drops a task not started yet (reported
 * REVOKED) or, with `terminate`, aborts a running one (its `ctx.signal` fires; reported REVOKED at
 * once, whatever it returns later is dropped). A `shutdown` from the scheduler, or `stop()`:
 * withdraw the credit, let what is held finish (up to `grace` seconds), close the stream; the
 * scheduler hands anything unreported to another worker. Delivery is at least once: a dropped
 * stream is reopened with backoff, and reports of tasks received on the old stream are dropped
 * (the scheduler gives those tasks to another session).
 *
 * Task functions get the task's positional arguments, then its keyword arguments as one object
 * when there are any; `{ bind: true }` puts a `TaskContext` first (Celery's `bind=True`), with the
 * request (`id`, `retries`, `rootId`, ...), `retry()`, `replace()` and an AbortSignal.
 * Errors: a thrown error reaches Python clients as `RemoteError` with type `js.<name>` and its
 * message and stack (an error with an `excType` string property is sent as that type, e.g.
 * `builtins.ValueError` to be re-raised as Python's ValueError); Motet's own conditions use the
 * Python SDK's names (`motet.exceptions.TimeLimitExceeded`, ...), so Python re-raises them.
 */

const os = require('node:os');
const path = require('node:path');
const { EventEmitter } = require('node:events');
const grpc = require('@grpc/grpc-js');
const { grpcObject } = require('./protos');
const { credentials, DEFAULT_QUEUE, DEFAULT_SCHEDULER, MAX_MESSAGE_BYTES } = require('./client');
const payload = require('./payload');
const tracing = require('./tracing');
const { MotetError, TaskError } = require('./errors');

/** Seconds of silence after which a heartbeat is sent (the scheduler ends a session silent 15 s). */
const HEARTBEAT = 5;
/** Celery's default delay before a retry, in seconds (`default_retry_delay`). */
const DEFAULT_RETRY_DELAY = 180;
/** Celery's default `max_retries`. */
const DEFAULT_MAX_RETRIES = 3;
/** The longest automatic-retry backoff, in seconds (Celery's `retry_backoff_max`). */
const RETRY_BACKOFF_MAX = 600;

const { v1 } = grpcObject.motet;
const HERE = __dirname;

/** Errors a worker reports under the Python SDK's class names. */
class WorkerError extends MotetError {
  constructor(message, excType) {
    super(message);
    this.excType = excType;
  }
}
/** The task ran past its hard time limit (reported at once; its eventual value is dropped). */
class TimeLimitExceeded extends WorkerError {
  constructor(message) {
    super(message, 'motet.exceptions.TimeLimitExceeded');
  }
}
/** The reason `ctx.signal` aborts with at the soft time limit. */
class SoftTimeLimitExceeded extends WorkerError {
  constructor(message) {
    super(message, 'motet.exceptions.SoftTimeLimitExceeded');
  }
}
/** The task was revoked (dropped before it started, or terminated). */
class TaskRevoked extends WorkerError {
  constructor(message) {
    super(message, 'motet.exceptions.TaskRevokedError');
  }
}
/** No task of that name is registered in this worker. */
class NotRegistered extends WorkerError {
  constructor(message) {
    super(message, 'motet.exceptions.NotRegistered');
  }
}
/** `ctx.retry()` found no retries left (and was given no error to throw instead). */
class MaxRetriesExceededError extends WorkerError {
  constructor(message) {
    super(message, 'motet.exceptions.MaxRetriesExceededError');
  }
}

/** Thrown by `ctx.retry()`: the worker reports `retry` instead of a failure. */
class Retry extends Error {
  constructor(message, { exc = null, countdown = null, maxRetries = null } = {}) {
    super(message);
    this.name = 'Retry';
    this.exc = exc;
    this.countdown = countdown;
    this.maxRetries = maxRetries;
  }
}

/** Thrown by `ctx.replace(canvas)`: the task is replaced by the canvas (Celery's `self.replace`). */
class Replace extends Error {
  constructor(canvas) {
    super('replaced');
    this.name = 'Replace';
    this.canvas = canvas;
  }
}

/** The stack of an error without the SDK's own frames, so a report starts at the user's code. */
function userStack(err) {
  const stack = typeof err?.stack === 'string' ? err.stack : String(err);
  return stack
    .split('\n')
    .filter((line) => !line.includes(HERE + path.sep) && !line.includes('node:internal'))
    .join('\n');
}

/** The wire name of a thrown value's type. */
function excTypeOf(err) {
  if (err && typeof err.excType === 'string' && err.excType) return err.excType;
  const name = (err && (err.name || err.constructor?.name)) || typeof err;
  return `js.${name}`;
}

/**
 * A `motet.v1.TaskFailure` for a thrown value.
 * @param {*} err
 * @param {string} taskId
 * @param {string} [kind] - A `FailureKind` name; REVOKED for a revocation.
 */
function failureOf(err, taskId, kind = null) {
  if (err instanceof TaskError && err.excType) {
    // A failure relayed from another task (awaited and re-thrown) keeps its origin.
    return {
      excType: err.excType,
      message: err.remoteMessage,
      traceback: err.traceback,
      taskId: err.taskId || taskId,
      kind: 'FAILURE_KIND_RAISED',
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  let excArgs;
  try {
    excArgs = payload.encode([message], 'exception arguments');
  } catch {
    excArgs = undefined;
  }
  return {
    excType: excTypeOf(err),
    message,
    traceback: userStack(err),
    taskId,
    kind: kind || (err instanceof TaskRevoked ? 'FAILURE_KIND_REVOKED' : 'FAILURE_KIND_RAISED'),
    ...(excArgs ? { excArgs } : {}),
  };
}

/** What a bound task sees as its first argument. */
class TaskContext {
  constructor(assignment, def, args, kwargs, signal) {
    const r = assignment.request || {};
    this.name = assignment.task;
    this.signal = signal;
    this.request = {
      id: assignment.taskId,
      task: assignment.task,
      args,
      kwargs,
      rootId: r.rootId || assignment.taskId,
      parentId: r.parentId || null,
      groupId: r.groupId || null,
      groupIndex: r.groupId ? r.groupIndex : null,
      retries: r.retries || 0,
      maxRetries: r._maxRetries === 'maxRetries' ? r.maxRetries : def.maxRetries,
      queue: r.queue || DEFAULT_QUEUE,
      priority: r.priority || 0,
      timeLimit: r.timeLimit || null,
      softTimeLimit: r.softTimeLimit || null,
    };
    this.id = this.request.id;
    this._def = def;
  }

  /**
   * Asks for this task to run again later (Celery's `self.retry`). Throws; use `throw ctx.retry()`
   * or just call it.
   * @param {object} [opts]
   * @param {Error} [opts.exc] - The error that caused the retry; thrown instead when no retries are left.
   * @param {number} [opts.countdown] - Seconds to wait (default `defaultRetryDelay`).
   * @param {number} [opts.maxRetries] - A new limit for this task.
   */
  retry({ exc = null, countdown = null, maxRetries = null } = {}) {
    const limit = maxRetries !== null ? maxRetries : this.request.maxRetries;
    if (limit !== null && limit !== undefined && limit >= 0 && this.request.retries >= limit) {
      if (exc) throw exc;
      throw new MaxRetriesExceededError(`Can't retry ${this.name}[${this.id}]: ${this.request.retries} retries used`);
    }
    const delay = countdown !== null ? countdown : this._def.defaultRetryDelay;
    throw new Retry(`Retry in ${delay}s${exc ? `: ${exc.message}` : ''}`, { exc, countdown: delay, maxRetries });
  }

  /** Replaces this task by a canvas (its result becomes this task's). Throws. */
  replace(canvas) {
    throw new Replace(canvas);
  }
}

/** A worker process's session loop. */
class Worker extends EventEmitter {
  /**
   * @param {object} [opts]
   * @param {string} [opts.scheduler] - host:port (default MOTET_SCHEDULER, else 127.0.0.1:7410).
   * @param {string[]} [opts.queues] - Queues served (default `['celery']`).
   * @param {number} [opts.concurrency] - Tasks run at once (default 4).
   * @param {number} [opts.prefetch] - Credit per unit of concurrency (default 1).
   * @param {number} [opts.grace] - Seconds a stopping worker waits for what it holds (default 10).
   * @param {string} [opts.token] - Bearer token (default MOTET_TOKEN).
   * @param {{ca?: string, cert?: string, key?: string}} [opts.tls] - PEM files (default MOTET_TLS_*).
   * @param {string} [opts.workerId] - Default `<hostname>.<pid>`.
   * @param {(level: string, message: string) => void} [opts.log] - Where log lines go (default stderr).
   */
  constructor({ scheduler, queues, concurrency = 4, prefetch = 1, grace = 10, token, tls = {}, workerId, log } = {}) {
    super();
    const env = process.env;
    this.scheduler = scheduler || env.MOTET_SCHEDULER || DEFAULT_SCHEDULER;
    this.queues = queues && queues.length ? [...queues] : [DEFAULT_QUEUE];
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new MotetError('concurrency must be a positive integer');
    if (!Number.isInteger(prefetch) || prefetch < 1) throw new MotetError('prefetch must be a positive integer');
    this.concurrency = concurrency;
    this.prefetch = prefetch;
    this.grace = grace;
    this.token = token || env.MOTET_TOKEN || null;
    this.tls = { ca: tls.ca || env.MOTET_TLS_CA || null, cert: tls.cert || env.MOTET_TLS_CERT || null, key: tls.key || env.MOTET_TLS_KEY || null };
    this.workerId = workerId || `${os.hostname()}.${process.pid}`;
    this.log = log || ((level, message) => process.stderr.write(`${new Date().toISOString()} ${level} motet.worker: ${message}\n`));
    this.tasks = new Map();
    this._stopping = false;
    this._stopped = null;
    this._held = new Map(); // task id -> {assignment, call, started, abort, done}
    this._waiting = []; // assignments waiting for a slot, in the order received
    this._running = 0;
    this._call = null;
    this._lastWrite = 0;
  }

  /**
   * Registers a task.
   * @param {string} name - The task name clients send (e.g. 'js.multiply').
   * @param {Function} fn - Sync or async; gets the args (and the kwargs object when not empty).
   * @param {object} [opts]
   * @param {boolean} [opts.bind] - Pass a `TaskContext` first.
   * @param {number} [opts.maxRetries] - Retries allowed (default 3; null for no limit).
   * @param {number} [opts.defaultRetryDelay] - Seconds before a retry (default 180).
   * @param {Array<Function>|((err: *) => boolean)} [opts.autoretryFor] - Error classes (or a predicate) retried automatically.
   * @param {boolean|number} [opts.retryBackoff] - Exponential backoff for automatic retries (factor in seconds).
   * @param {number} [opts.timeLimit] - Hard time limit in seconds.
   * @param {number} [opts.softTimeLimit] - Soft time limit: `ctx.signal` aborts with SoftTimeLimitExceeded.
   * @param {boolean} [opts.ignoreResult] - Store no result.
   * @param {boolean} [opts.trackStarted] - Report STARTED when it begins.
   * @returns {this}
   */
  task(name, fn, opts = {}) {
    if (typeof name !== 'string' || !name) throw new MotetError('a task needs a name');
    if (typeof fn !== 'function') throw new MotetError(`task ${name}: give a function`);
    this.tasks.set(name, {
      name,
      fn,
      bind: Boolean(opts.bind),
      maxRetries: opts.maxRetries === undefined ? DEFAULT_MAX_RETRIES : opts.maxRetries,
      defaultRetryDelay: opts.defaultRetryDelay ?? DEFAULT_RETRY_DELAY,
      autoretryFor: opts.autoretryFor || null,
      retryBackoff: opts.retryBackoff || false,
      timeLimit: opts.timeLimit || 0,
      softTimeLimit: opts.softTimeLimit || 0,
      ignoreResult: Boolean(opts.ignoreResult),
      trackStarted: Boolean(opts.trackStarted),
    });
    return this;
  }

  /** Stops gracefully on SIGTERM and SIGINT (what Kubernetes and Ctrl-C send). */
  handleSignals() {
    for (const sig of ['SIGTERM', 'SIGINT']) {
      process.once(sig, () => {
        this.log('INFO', `${sig}: draining`);
        this.stop();
      });
    }
    return this;
  }

  /**
   * Keeps a session open, reconnecting with backoff, until `stop()`.
   * @returns {Promise<void>} resolves once stopped.
   * @throws {MotetError} when the scheduler refuses this worker (its token or its task names):
   *   retrying cannot help (`.code` UNAUTHENTICATED or PERMISSION_DENIED).
   */
  async run() {
    if (this.tasks.size === 0) throw new MotetError('register at least one task before run()');
    let backoff = 0.1;
    let saidUnreachable = false;
    while (!this._stopping) {
      let welcomed = false;
      try {
        await this._session(() => {
          welcomed = true;
          saidUnreachable = false;
        });
        backoff = 0.1;
      } catch (err) {
        if (this._stopping) break;
        if (err.code === grpc.status.UNAUTHENTICATED || err.code === grpc.status.PERMISSION_DENIED) {
          this.log('ERROR', `the scheduler at ${this.scheduler} refused this worker: ${err.details}`);
          throw new MotetError(`the scheduler refused this worker: ${err.details}`, { code: err.code });
        }
        if (err.code === grpc.status.UNAVAILABLE && !welcomed) {
          if (!saidUnreachable) this.log('WARNING', `cannot reach the scheduler at ${this.scheduler}; retrying`);
          saidUnreachable = true;
        } else {
          this.log('WARNING', `scheduler stream ended (${err.details || err.message}); reconnecting`);
        }
      }
      if (this._stopping) break;
      await new Promise((resolve) => setTimeout(resolve, backoff * 1000));
      backoff = Math.min(backoff * 2, 2);
    }
    this.emit('stopped');
  }

  /**
   * Drains and stops: no new tasks, what is held finishes (up to `grace` s), the stream closes.
   * @returns {Promise<void>} resolves once the stream is closed.
   */
  stop() {
    if (this._stopped) return this._stopped;
    this._stopping = true;
    this._stopped = this._drain().then(() => {
      if (this._call) this._call.end();
    });
    return this._stopped;
  }

  _write(call, frame) {
    if (call !== this._call || call.__ended) return false; // a report for an old stream is dropped
    call.write(frame);
    this._lastWrite = Date.now();
    return true;
  }

  _session(onWelcome) {
    return new Promise((resolve, reject) => {
      const creds = credentials(this.tls);
      const client = new v1.WorkerService(this.scheduler, creds, {
        'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
        'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
        'grpc.keepalive_time_ms': 10000,
        'grpc.keepalive_timeout_ms': 5000,
      });
      const md = new grpc.Metadata();
      if (this.token) md.set('authorization', `Bearer ${this.token}`);
      const call = client.Connect(md);
      this._call = call;
      const names = [...this.tasks.keys()].sort();
      this._write(call, {
        hello: {
          workerId: this.workerId,
          queues: this.queues,
          taskNames: names,
          concurrency: this.concurrency,
          ignoreResultTasks: names.filter((n) => this.tasks.get(n).ignoreResult),
          hostname: os.hostname(),
          pid: process.pid,
        },
      });
      this._write(call, { credit: { n: this.concurrency * this.prefetch } });
      const beat = setInterval(() => {
        if (Date.now() - this._lastWrite >= HEARTBEAT * 1000) this._write(call, { heartbeat: {} });
      }, 1000);
      const finish = (err) => {
        if (call.__ended) return;
        clearInterval(beat);
        call.__ended = true;
        client.close();
        // What this stream delivered and did not report goes to another session: forget it.
        for (const [id, held] of this._held) {
          if (held.call === call) {
            held.abort.abort(new TaskRevoked('the stream to the scheduler ended'));
            this._held.delete(id);
            if (!held.started) held.settle();
          }
        }
        this._waiting = this._waiting.filter((w) => w.call !== call);
        if (err) reject(err);
        else resolve();
      };
      call.on('data', (frame) => {
        if (frame.frame === 'welcome') {
          onWelcome();
          this.log('INFO', `connected to ${this.scheduler} (session ${frame.welcome.sessionId})`);
          this.emit('ready', frame.welcome);
        } else if (frame.frame === 'assignment') {
          this._receive(frame.assignment, call);
        } else if (frame.frame === 'revoke') {
          this._revoke(frame.revoke);
        } else if (frame.frame === 'shutdown') {
          this.log('INFO', `the scheduler is stopping (${frame.shutdown.reason}): draining, then reconnecting`);
          this._drain().then(() => call.end());
        }
      });
      call.on('error', (err) => finish(err));
      call.on('end', () => finish(null));
    });
  }

  _receive(a, call) {
    this.log('INFO', `Task ${a.task}[${a.taskId}] received`);
    const abort = new AbortController();
    let settle;
    const done = new Promise((resolve) => {
      settle = resolve;
    });
    this._held.set(a.taskId, { assignment: a, call, started: false, abort, done, settle, received: Date.now() });
    this._waiting.push({ taskId: a.taskId, call });
    this.emit('received', a.taskId);
    this._pump();
  }

  _pump() {
    while (this._running < this.concurrency && this._waiting.length) {
      const { taskId } = this._waiting.shift();
      const held = this._held.get(taskId);
      if (!held) continue; // revoked before it started, or its stream ended
      this._running += 1;
      held.started = true;
      this._run(held).finally(() => {
        this._running -= 1;
        this._pump();
      });
    }
  }

  async _run(held) {
    const a = held.assignment;
    const def = this.tasks.get(a.task);
    if (def && def.trackStarted) this._write(held.call, { started: { taskId: a.taskId, delivery: a.delivery } });
    const limit = (a.request && a.request.timeLimit) || (def && def.timeLimit) || 0;
    const soft = (a.request && a.request.softTimeLimit) || (def && def.softTimeLimit) || 0;
    const timers = [];
    if (soft) {
      timers.push(setTimeout(() => held.abort.abort(new SoftTimeLimitExceeded(`soft time limit (${soft}s) exceeded`)), soft * 1000));
    }
    const outcome = [this._execute(a, def, held.abort.signal)];
    if (limit) {
      outcome.push(
        new Promise((resolve) => {
          timers.push(
            setTimeout(() => {
              const err = new TimeLimitExceeded(`task ${a.task}[${a.taskId}] exceeded its time limit of ${limit} s`);
              held.abort.abort(err);
              resolve(this._failed(a, err));
            }, limit * 1000),
          );
        }),
      );
    }
    try {
      const frame = await Promise.race(outcome);
      if (this._held.get(a.taskId) === held) this._report(held, frame); // not terminated meanwhile
    } finally {
      timers.forEach(clearTimeout);
      if (this._held.get(a.taskId) === held) this._held.delete(a.taskId);
      held.settle();
    }
  }

  _report(held, frame) {
    const a = held.assignment;
    const seconds = ((Date.now() - held.received) / 1000).toFixed(3);
    const kind = Object.keys(frame)[0];
    if (kind === 'succeeded') {
      this.log('INFO', `Task ${a.task}[${a.taskId}] succeeded in ${seconds}s: ${Buffer.from(frame.succeeded.value.data).toString().slice(0, 200)}`);
    } else if (kind === 'failed' && frame.failed.failure.kind === 'FAILURE_KIND_REVOKED') {
      this.log('WARNING', `Task ${a.task}[${a.taskId}] revoked: ${frame.failed.failure.message}`);
    } else if (kind === 'failed') {
      const f = frame.failed.failure;
      this.log('ERROR', `Task ${a.task}[${a.taskId}] raised unexpected: ${f.excType}: ${f.message}\n${f.traceback}`);
    } else if (kind === 'retry') {
      this.log('INFO', `Task ${a.task}[${a.taskId}] retry: Retry in ${frame.retry.countdown}s: ${frame.retry.failure.excType}: ${frame.retry.failure.message}`);
    } else if (kind === 'replaced') {
      this.log('INFO', `Task ${a.task}[${a.taskId}] replaced by a new canvas in ${seconds}s`);
    }
    this._write(held.call, frame);
    this.emit('report', a.taskId, kind);
  }

  _failed(a, err, kind = null) {
    return { failed: { taskId: a.taskId, delivery: a.delivery, failure: failureOf(err, a.taskId, kind) } };
  }

  _retryFrame(a, countdown, err, maxRetries) {
    const retry = { taskId: a.taskId, delivery: a.delivery, countdown: Number(countdown), failure: failureOf(err, a.taskId) };
    if (maxRetries !== null && maxRetries !== undefined) retry.maxRetries = maxRetries;
    return { retry };
  }

  async _execute(a, def, signal) {
    if (!def) return this._failed(a, new NotRegistered(`task ${JSON.stringify(a.task)} is not registered in this worker`));
    let args;
    let kwargs;
    try {
      args = payload.decode(a.args, []);
      kwargs = payload.decode(a.kwargs, {});
      if (!Array.isArray(args)) throw new MotetError('args must be a JSON list');
    } catch (err) {
      return this._failed(a, err);
    }
    const ctx = new TaskContext(a, def, args, kwargs, signal);
    const call = (positional, named) => {
      const params = named && Object.keys(named).length ? [...positional, named] : positional;
      return def.bind ? def.fn(ctx, ...params) : def.fn(...params);
    };
    const run = async () => {
      if (a.call === 'CALL_KIND_MAP' || a.call === 'CALL_KIND_STARMAP') {
        const [items, ...rest] = args;
        const out = [];
        for (const item of items) {
          out.push(await call(a.call === 'CALL_KIND_MAP' ? [item, ...rest] : [...item, ...rest], kwargs));
        }
        return out;
      }
      if (a.call === 'CALL_KIND_ERRBACK') return this._errback(a, def, args, kwargs, call);
      return call(args, kwargs);
    };
    const r = a.request || {};
    const attributes = {
      'motet.task_id': a.taskId,
      'motet.task': a.task,
      'motet.root_id': r.rootId || a.taskId,
      'motet.group_id': r.groupId || '',
      'motet.retries': r.retries || 0,
    };
    let value;
    let traceparent = '';
    try {
      ({ value, traceparent } = await tracing.inTaskSpan(a.task, (r.options && r.options.traceparent) || '', attributes, r.links || [], run));
    } catch (err) {
      if (err instanceof Retry) return this._retryFrame(a, err.countdown, err.exc || err, err.maxRetries);
      if (err instanceof Replace) return this._replaced(a, err.canvas);
      if (signal.aborted && signal.reason instanceof TaskRevoked) return this._failed(a, signal.reason);
      if (this._autoretries(def, err) && (ctx.request.maxRetries === null || ctx.request.retries < ctx.request.maxRetries)) {
        return this._retryFrame(a, this._backoff(def, ctx.request.retries), err, null);
      }
      return this._failed(a, err);
    }
    try {
      const encoded = payload.encode(value === undefined ? null : value, `task ${a.task} return value`);
      return { succeeded: { taskId: a.taskId, delivery: a.delivery, value: encoded, traceparent } };
    } catch (err) {
      return this._failed(a, err);
    }
  }

  _errback(a, def, args, kwargs, call) {
    // Celery's two conventions: (request, exc, traceback, ...args) for a function of more than
    // one parameter, else (failedTaskId, ...args).
    const f = a.failedRequest || {};
    if (def.fn.length > (def.bind ? 2 : 1)) {
      const failure = a.errbackFailure || {};
      const exc = new TaskError({ excType: failure.excType, message: failure.message, traceback: failure.traceback, taskId: failure.taskId });
      const request = { id: f.taskId || (a.request && a.request.failedTaskId), task: f.task || null, args: payload.decode(f.args, []), kwargs: payload.decode(f.kwargs, {}) };
      return call([request, exc, failure.traceback || null, ...args], kwargs);
    }
    return call([f.taskId || (a.request && a.request.failedTaskId), ...args], kwargs);
  }

  _autoretries(def, err) {
    const rule = def.autoretryFor;
    if (!rule) return false;
    if (Array.isArray(rule)) return rule.some((cls) => err instanceof cls);
    return Boolean(rule(err));
  }

  _backoff(def, retries) {
    if (!def.retryBackoff) return def.defaultRetryDelay;
    const factor = def.retryBackoff === true ? 1 : Number(def.retryBackoff);
    return Math.min(RETRY_BACKOFF_MAX, factor * 2 ** retries);
  }

  _replaced(a, canvas) {
    try {
      const sig = canvas._copy();
      sig.freeze();
      return { replaced: { taskId: a.taskId, delivery: a.delivery, canvas: sig.toProto() } };
    } catch (err) {
      return this._failed(a, err);
    }
  }

  _revoke(notice) {
    const held = this._held.get(notice.taskId);
    if (!held) return; // not held (or already reported): the scheduler may send a notice twice
    if (!held.started) {
      // Held but not started: dropped, reported REVOKED (Celery discards a revoked task it holds).
      this._held.delete(notice.taskId);
      this._report(held, this._failed(held.assignment, new TaskRevoked(`task ${notice.taskId} was revoked`)));
      held.settle();
      return;
    }
    if (!notice.terminate) return; // a started task goes on (Celery without terminate)
    this._held.delete(notice.taskId);
    const err = new TaskRevoked(`task ${notice.taskId} was revoked (terminate=True)`);
    held.abort.abort(err);
    this._report(held, this._failed(held.assignment, err));
  }

  async _drain() {
    const call = this._call;
    if (call && !call.__ended) this._write(call, { credit: { n: -this.concurrency * this.prefetch } });
    const pending = [...this._held.values()].map((h) => h.done);
    if (!pending.length) return;
    this.log('WARNING', `draining: waiting for ${pending.length} task${pending.length === 1 ? '' : 's'} to finish, up to ${this.grace} s`);
    let timer;
    const late = await Promise.race([
      Promise.all(pending).then(() => false),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve(true), this.grace * 1000);
      }),
    ]);
    clearTimeout(timer);
    if (late) this.log('WARNING', 'drained: tasks still running are handed back (they run again elsewhere)');
    else this.log('INFO', 'drained: every task finished and reported');
  }
}

module.exports = {
  HEARTBEAT,
  MaxRetriesExceededError,
  NotRegistered,
  Replace,
  Retry,
  SoftTimeLimitExceeded,
  TaskContext,
  TaskRevoked,
  TimeLimitExceeded,
  Worker,
  failureOf,
};
