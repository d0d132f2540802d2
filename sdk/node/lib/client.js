'use strict';
/**
 * The SDK's gRPC client: submitting canvases to the scheduler and reading results from the
 * results service, status codes mapped to MotetError subclasses (see `errors.js`).
 *
 * Settings come from the constructor's arguments, else the environment, as in the Python SDK
 * (`motet.settings.ClientSettings.resolve`): MOTET_SCHEDULER (default 127.0.0.1:7410),
 * MOTET_RESULTS (default 127.0.0.1:7411), MOTET_NAMESPACE (sent as `motet-namespace` metadata),
 * MOTET_TOKEN (sent as `authorization: Bearer <token>`), MOTET_TLS_CA / MOTET_TLS_CERT /
 * MOTET_TLS_KEY (PEM files; a CA means TLS, a certificate and key mutual TLS).
 */

const fs = require('node:fs');
const grpc = require('@grpc/grpc-js');
const { grpcObject } = require('./protos');
const { currentTraceparent } = require('./tracing');
const { Signature } = require('./canvas');
const { AsyncResult, GroupResult, stateName } = require('./result');
const { ImproperlyConfigured, MotetError, Timeout, errorFromGrpc } = require('./errors');

/** The scheduler endpoint when neither an argument nor MOTET_SCHEDULER gives one. */
const DEFAULT_SCHEDULER = '127.0.0.1:7410';
/** The results endpoint when neither an argument nor MOTET_RESULTS gives one. */
const DEFAULT_RESULTS = '127.0.0.1:7411';
/** The queue a task goes to when nothing names one. */
const DEFAULT_QUEUE = 'celery';
/** The largest gRPC message sent or received (a wide canvas travels in one call). */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

const UNARY_TIMEOUT = 30; // seconds; a unary call that takes longer means a sick service
const SUBMIT_TIMEOUT = 60; // a wide canvas is written in several batched transactions
const UNAVAILABLE_RETRIES = 3; // calls are idempotent on their ids; a restarting service gets ~1.5 s
const WAIT_RETRIES = 5;
const RESULTS_PER_CALL = 10000; // the results service's limit per GetResults call and per WaitResult stream
const DIAGNOSED = 3; // pending ids a timed-out wait looks at to say why
const PROBE_TIMEOUT = 1; // seconds

const { v1 } = grpcObject.motet;
const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));
const deadlineIn = (seconds) => new Date(Date.now() + seconds * 1000);

function readPem(value, what) {
  if (value === undefined || value === null || value === '') return null;
  if (Buffer.isBuffer(value)) return value;
  try {
    return fs.readFileSync(value);
  } catch (err) {
    throw new ImproperlyConfigured(`cannot read the ${what} ${value}: ${err.code || err.message}`);
  }
}

/**
 * Channel credentials from PEM files (paths or Buffers), or plaintext when no CA is given.
 * @param {{ca?: string|Buffer, cert?: string|Buffer, key?: string|Buffer}} tls
 * @throws {ImproperlyConfigured} a file cannot be read, a certificate comes without its key (or
 *   the reverse), or a client certificate without a CA.
 */
function credentials({ ca, cert, key }) {
  if (!ca) {
    if (cert || key) throw new ImproperlyConfigured('a TLS client certificate needs MOTET_TLS_CA (the CA of the services)');
    return grpc.credentials.createInsecure();
  }
  if (Boolean(cert) !== Boolean(key)) {
    throw new ImproperlyConfigured('give both MOTET_TLS_CERT and MOTET_TLS_KEY (one of them is missing)');
  }
  return grpc.credentials.createSsl(readPem(ca, 'TLS CA'), readPem(key, 'TLS key'), readPem(cert, 'TLS certificate'));
}

/** Calls to one scheduler and one results service. */
class Client {
  /**
   * @param {object} [settings] - Each one defaults from the environment (see the module comment).
   * @param {string} [settings.scheduler] - host:port of a scheduler.
   * @param {string} [settings.results] - host:port of a results service.
   * @param {string} [settings.token] - Bearer token sent with every call.
   * @param {{ca?: string|Buffer, cert?: string|Buffer, key?: string|Buffer}} [settings.tls] - PEM
   *   files (paths) or their contents; a CA means TLS.
   * @param {string} [settings.namespace] - Sent as `motet-namespace` metadata.
   * @throws {ImproperlyConfigured} for unusable TLS settings.
   */
  constructor({ scheduler, results, token, tls = {}, namespace } = {}) {
    const env = process.env;
    this.scheduler = scheduler || env.MOTET_SCHEDULER || DEFAULT_SCHEDULER;
    this.results = results || env.MOTET_RESULTS || DEFAULT_RESULTS;
    this.namespace = namespace || env.MOTET_NAMESPACE || null;
    this.token = token || env.MOTET_TOKEN || null;
    this.tls = {
      ca: tls.ca || env.MOTET_TLS_CA || null,
      cert: tls.cert || env.MOTET_TLS_CERT || null,
      key: tls.key || env.MOTET_TLS_KEY || null,
    };
    const creds = credentials(this.tls);
    const options = {
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    };
    this._scheduler = new v1.SchedulerService(this.scheduler, creds, options);
    this._results = new v1.ResultsService(this.results, creds, options);
  }

  toString() {
    return `<Client scheduler=${this.scheduler} results=${this.results}>`;
  }

  /** The metadata sent with every call. */
  _metadata() {
    const md = new grpc.Metadata();
    if (this.namespace) md.set('motet-namespace', this.namespace);
    if (this.token) md.set('authorization', `Bearer ${this.token}`);
    return md;
  }

  _call(stub, method, request, timeout) {
    return new Promise((resolve, reject) => {
      stub[method](request, this._metadata(), { deadline: deadlineIn(timeout) }, (err, reply) => (err ? reject(err) : resolve(reply)));
    });
  }

  async _unary(service, what, method, request, timeout = UNARY_TIMEOUT) {
    const [stub, endpoint] = service === 'scheduler' ? [this._scheduler, this.scheduler] : [this._results, this.results];
    for (let attempt = 0; ; attempt++) {
      try {
        return await this._call(stub, method, request, timeout);
      } catch (err) {
        if (err.code !== grpc.status.UNAVAILABLE || attempt === UNAVAILABLE_RETRIES) throw errorFromGrpc(err, endpoint, what);
        await sleep(0.25 * (attempt + 1));
      }
    }
  }

  /**
   * Freezes a copy of the canvas (assigns every id), submits it and returns its result object.
   *
   * The call is idempotent on the canvas's root id, so a refused connection is retried briefly,
   * then reported as Unavailable.
   * @param {Signature} canvas - A signature or canvas (not modified; ids already set are kept).
   * @param {object} [opts]
   * @param {string} [opts.parentId] - The task sending it, whose child it becomes.
   * @returns {Promise<AsyncResult|GroupResult>} a task's result (a chain's last step, a chord's
   *   body, parents linked) or a group's; `.submitted` holds the SubmitCanvasResponse.
   * @throws {InvalidCanvas} refused by the scheduler (`.reason`, `.violations`); CanvasError /
   *   EncodeError before sending; NotAuthenticated, PermissionDenied, Unavailable.
   */
  async submit(canvas, { parentId = '' } = {}) {
    if (!(canvas instanceof Signature)) throw new MotetError(`submit takes a signature or canvas, got ${typeof canvas}`);
    const sig = canvas._copy();
    const result = sig.freeze();
    const reply = await this.submitCanvas(sig.toProto(), { parentId });
    result.bind(this);
    result.submitted = reply;
    return result;
  }

  /**
   * Submits a `motet.v1.Canvas` message as it is (a plain object with camelCase fields, e.g. one
   * made by `toProto()` or received from elsewhere); empty ids are assigned by the server.
   * @param {object} message - The canvas message.
   * @param {object} [opts] - `parentId`, as in `submit`.
   * @returns {Promise<{rootId: string, resultId: string, created: boolean}>} the SubmitCanvasResponse.
   * @throws {InvalidCanvas} when the scheduler refuses it (`.reason`, `.violations`).
   */
  async submitCanvas(message, { parentId = '' } = {}) {
    const request = { canvas: message, traceparent: currentTraceparent() };
    if (parentId) request.parentId = parentId;
    return this._unary('scheduler', 'submitting the canvas', 'SubmitCanvas', request, SUBMIT_TIMEOUT);
  }

  /**
   * Revokes tasks (and everything downstream of them).
   * @param {string|string[]} ids - Task or group ids.
   * @param {object} [opts] - `terminate`: also interrupt tasks a worker is running.
   * @returns {Promise<number>} how many task records were revoked now.
   */
  async revoke(ids, { terminate = false } = {}) {
    const taskIds = Array.isArray(ids) ? ids : [ids];
    const reply = await this._unary('scheduler', 'revoking', 'RevokeTask', { taskIds, terminate });
    return reply.revoked;
  }

  /**
   * The connected workers (all of them, or those named) and the tasks each holds.
   * @param {string[]} [destination]
   * @returns {Promise<object[]>} `motet.v1.WorkerInfo` objects.
   */
  async inspectWorkers(destination = []) {
    const reply = await this._unary('scheduler', 'inspecting workers', 'InspectWorkers', { destination });
    return reply.workers;
  }

  /**
   * The current state of one task (PENDING for an id never seen).
   * @param {string} taskId
   * @returns {Promise<object>} a `motet.v1.TaskResult`.
   */
  async getResult(taskId) {
    const reply = await this._unary('results', `reading result ${taskId}`, 'GetResult', { taskId });
    return reply.result;
  }

  /**
   * The current state of several tasks, in order.
   * @param {string[]} taskIds
   * @returns {Promise<object[]>}
   */
  async getResults(taskIds) {
    const out = [];
    for (let start = 0; start < taskIds.length; start += RESULTS_PER_CALL) {
      const reply = await this._unary('results', 'reading results', 'GetResults', { taskIds: taskIds.slice(start, start + RESULTS_PER_CALL) });
      out.push(...reply.results);
    }
    return out;
  }

  /**
   * Deletes results and saved groups.
   * @param {string[]} ids
   * @returns {Promise<number>} how many keys were deleted.
   */
  async forget(ids) {
    const reply = await this._unary('results', 'forgetting results', 'ForgetResult', { ids });
    return reply.deleted;
  }

  /**
   * A result object for a task id (bound to this client).
   * @param {string} id
   * @returns {AsyncResult}
   */
  asyncResult(id) {
    return new AsyncResult(id, { client: this });
  }

  /**
   * A result object for a group of task ids (bound to this client).
   * @param {string} id - The group id.
   * @param {string[]} ids - The member task ids, in order.
   * @returns {GroupResult}
   */
  groupResult(id, ids) {
    return new GroupResult(id, ids.map((i) => new AsyncResult(i, { client: this })), { client: this });
  }

  /**
   * Yields each task's `motet.v1.TaskResult` once it is ready, over one WaitResult stream per
   * `RESULTS_PER_CALL` ids (the results service's limit per stream): a wider group is waited for
   * chunk after chunk, as the Python SDK does (a join needs them all anyway). A stream broken by
   * a restarting results service is opened again for the ids still missing (a few tries), never
   * past the deadline.
   * @param {string[]} ids - Duplicates are answered once.
   * @param {number|null} timeout - Seconds for the whole wait (null: no limit).
   * @throws {Timeout} when `timeout` seconds pass first; its message says why when the services
   *   can tell (no connected worker serves the task on its queue).
   */
  async *wait(ids, timeout = null) {
    const deadline = timeout === null || timeout === undefined ? null : Date.now() + timeout * 1000;
    const unique = [...new Set(ids)];
    for (let start = 0; start < unique.length; start += RESULTS_PER_CALL) {
      yield* this._waitStream(unique.slice(start, start + RESULTS_PER_CALL), timeout, deadline);
    }
  }

  /** `wait` for at most `RESULTS_PER_CALL` ids: one stream, reopened while results are missing. */
  async *_waitStream(ids, timeout, deadline) {
    const missing = new Set(ids);
    let retries = 0;
    while (missing.size) {
      const left = deadline === null ? null : (deadline - Date.now()) / 1000;
      if (left !== null && left <= 0) throw await this._timedOut(timeout, [...missing]);
      const options = left === null ? {} : { deadline: deadlineIn(left) };
      const call = this._results.WaitResult({ taskIds: [...missing] }, this._metadata(), options);
      try {
        for await (const reply of call) {
          const result = reply.result;
          if (result && missing.has(result.taskId)) {
            missing.delete(result.taskId);
            retries = 0;
            yield result;
          }
        }
      } catch (err) {
        if (err instanceof MotetError) throw err;
        if (err.code === grpc.status.DEADLINE_EXCEEDED) throw await this._timedOut(timeout, [...missing]);
        if (err.code !== grpc.status.UNAVAILABLE || retries >= WAIT_RETRIES) throw errorFromGrpc(err, this.results, 'waiting for results');
      } finally {
        call.cancel(); // a consumer that stopped early (a failure) closes the stream
      }
      if (missing.size) {
        retries += 1;
        if (retries > WAIT_RETRIES) throw new MotetError(`the results service ended the wait with ${missing.size} result(s) missing`);
        let pause = 0.3 * retries;
        if (deadline !== null) pause = Math.min(pause, Math.max((deadline - Date.now()) / 1000, 0));
        await sleep(pause);
      }
    }
  }

  async _timedOut(timeout, missing) {
    const why = await this.whyWaiting(missing.slice(0, DIAGNOSED));
    return new Timeout(`the operation timed out after ${timeout} s waiting for ${missing.length} result(s)${why ? `: ${why}` : ''}`);
  }

  /**
   * Why the first of `ids` that waits for a worker may never run ("no connected worker serves
   * proj.nope on queue celery"), or "" when a worker serves it or the services cannot tell
   * within a second.
   * @param {string[]} ids
   * @returns {Promise<string>}
   */
  async whyWaiting(ids) {
    try {
      let workers = null;
      for (const taskId of ids) {
        const { result } = await this._call(this._results, 'GetResult', { taskId }, PROBE_TIMEOUT);
        if (stateName(result) !== 'PENDING' || !result.task) continue;
        if (workers === null) workers = (await this._call(this._scheduler, 'InspectWorkers', {}, PROBE_TIMEOUT)).workers;
        const queue = result.queue || DEFAULT_QUEUE;
        if (!workers.some((w) => w.taskNames.includes(result.task) && w.queues.includes(queue))) {
          const served = [...new Set(workers.filter((w) => w.taskNames.includes(result.task)).flatMap((w) => w.queues))].sort();
          const elsewhere = served.length ? ` (workers serve it on ${served.join(', ')})` : '';
          return `no connected worker serves ${result.task} on queue ${queue}${elsewhere}; task ${taskId} is waiting for one`;
        }
        return '';
      }
    } catch {
      return '';
    }
    return '';
  }

  /** Closes the channels. */
  close() {
    this._scheduler.close();
    this._results.close();
  }
}

module.exports = { Client, DEFAULT_QUEUE, DEFAULT_RESULTS, DEFAULT_SCHEDULER, MAX_MESSAGE_BYTES, RESULTS_PER_CALL, credentials };
