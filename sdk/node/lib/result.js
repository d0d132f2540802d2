'use strict';
/**
 * Result objects: AsyncResult and GroupResult, read from the results service.
 *
 * Waiting is push-driven, as in the Python SDK: `get()` opens one `WaitResult` stream (for a
 * group: one stream per 10,000 member ids) and the results service sends each result when it is
 * ready. `parent` is known from freeze when the canvas was built here (a chain's last result's
 * parent is the step before; a chord body's parent is the header GroupResult).
 */

const payload = require('./payload');
const { MotetError, TaskError, TaskRevokedError } = require('./errors');

/** Wire states (`motet.v1.TaskState` names) -> Celery's state strings. */
const STATES = {
  TASK_STATE_UNSPECIFIED: 'PENDING',
  TASK_STATE_PENDING: 'PENDING',
  TASK_STATE_RECEIVED: 'RECEIVED',
  TASK_STATE_STARTED: 'STARTED',
  TASK_STATE_SUCCESS: 'SUCCESS',
  TASK_STATE_FAILURE: 'FAILURE',
  TASK_STATE_RETRY: 'RETRY',
  TASK_STATE_REVOKED: 'REVOKED',
};

/** States after which a task's result does not change. */
const READY_STATES = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);

/**
 * Celery's state string of a `motet.v1.TaskResult` (as decoded by proto-loader).
 * @param {object} result
 * @returns {string}
 */
function stateName(result) {
  return STATES[result && result.state] || 'PENDING';
}

/**
 * The TaskError for a failed or revoked result.
 * @param {object} result - A `motet.v1.TaskResult`.
 * @returns {TaskError}
 */
function taskError(result) {
  const failure = result.failure || {};
  const state = stateName(result);
  let excArgs = [];
  try {
    excArgs = payload.decode(failure.excArgs, []);
  } catch {
    excArgs = [];
  }
  const fields = {
    excType: failure.excType || '',
    message: failure.message || '',
    traceback: failure.traceback || '',
    taskId: failure.taskId || result.taskId,
    excArgs,
    kind: failure.kind || '',
    state,
    resultId: result.taskId,
  };
  if (state === 'REVOKED' && (failure.kind === 'FAILURE_KIND_REVOKED' || !failure.excType)) {
    return new TaskRevokedError({
      ...fields,
      excType: fields.excType || 'motet.exceptions.TaskRevokedError',
      message: fields.message || `task ${result.taskId} was revoked`,
    });
  }
  return new TaskError(fields);
}

/**
 * The value of a ready result, or its error.
 * @param {object} result - A ready `motet.v1.TaskResult`.
 * @param {boolean} propagate - Throw the error (else return it).
 */
function valueOf(result, propagate) {
  if (stateName(result) === 'SUCCESS') return payload.decode(result.value, null);
  const err = taskError(result);
  if (propagate) throw err;
  return err;
}

function needClient(result) {
  if (!result.client) {
    throw new MotetError(`result ${result.id} is not bound to a client; submit the canvas with client.submit()`);
  }
  return result.client;
}

/** What AsyncResult and GroupResult share: the id, the client, the parent. */
class ResultBase {
  /**
   * @param {string} id
   * @param {object} [opts]
   * @param {import('./client').Client|null} [opts.client] - The client that reads the result.
   * @param {ResultBase|null} [opts.parent] - The result this one received its input from.
   */
  constructor(id, { client = null, parent = null } = {}) {
    this.id = id;
    this.client = client;
    this.parent = parent;
  }

  toString() {
    return this.id;
  }

  /**
   * Binds this result, its parents and its members to a client (done by `client.submit`).
   * @param {import('./client').Client} client
   * @returns {this}
   */
  bind(client) {
    const seen = new Set();
    const visit = (node) => {
      if (!node || seen.has(node)) return;
      seen.add(node);
      node.client = client;
      visit(node.parent);
      for (const member of node.results || []) visit(member);
    };
    visit(this);
    return this;
  }

  /**
   * Celery's `follow_parents`: walks the parents from the root down and throws the first failed
   * one's error (so a chord body's ChordError gives way to the header member's own error).
   */
  async _raiseFailedAncestor() {
    const line = [];
    const seen = new Set([this.id]);
    for (let node = this.parent; node && !seen.has(node.id); node = node.parent) {
      seen.add(node.id);
      line.push(node);
    }
    for (const ancestor of line.reverse()) await ancestor._maybeThrow();
  }
}

/** A task's result (Celery's AsyncResult); works in any process that knows the id. */
class AsyncResult extends ResultBase {
  /**
   * @param {string} id - The task id.
   * @param {object} [opts] - `client`, `parent`, and `ignored` (sent with ignoreResult: nothing is stored).
   */
  constructor(id, { client = null, parent = null, ignored = false } = {}) {
    super(id, { client, parent });
    /** Whether the task was sent with ignoreResult: `get()` answers null at once. */
    this.ignored = ignored;
    this._meta = null;
  }

  /** The task id (Celery's alias of `id`). */
  get taskId() {
    return this.id;
  }

  _readyMeta() {
    return this._meta && READY_STATES.has(stateName(this._meta)) ? this._meta : null;
  }

  /**
   * The current `motet.v1.TaskResult` (GetResult; a ready one is not asked again).
   * @returns {Promise<object>}
   */
  async meta() {
    const ready = this._readyMeta();
    if (ready) return ready;
    this._meta = await needClient(this).getResult(this.id);
    return this._meta;
  }

  /**
   * PENDING, RECEIVED, STARTED, SUCCESS, FAILURE, RETRY or REVOKED.
   * @returns {Promise<string>}
   */
  async state() {
    return stateName(await this.meta());
  }

  /** Whether the task finished (succeeded, failed or was revoked). */
  async ready() {
    return READY_STATES.has(await this.state());
  }

  /** Whether the task succeeded. */
  async successful() {
    return (await this.state()) === 'SUCCESS';
  }

  /** Whether the task failed. */
  async failed() {
    return (await this.state()) === 'FAILURE';
  }

  /**
   * Waits for the result (pushed by the results service) and returns its value.
   * @param {object} [opts]
   * @param {number|null} [opts.timeout] - Seconds to wait at most (null: no limit).
   * @param {boolean} [opts.propagate] - Throw the task's error if it failed (else return it).
   * @param {boolean} [opts.followParents] - When the task failed, throw the first failed
   *   ancestor's error instead, from the root down (Celery's default): `get()` on a chord whose
   *   header failed throws the member's own error, not the body's ChordError.
   * @returns {Promise<*>} The value decoded from JSON; null at once for an ignored result.
   * @throws {TaskError} if the task (or an ancestor) failed (TaskRevokedError if it was
   *   revoked); Timeout after `timeout` seconds.
   */
  async get({ timeout = null, propagate = true, followParents = true } = {}) {
    if (this.ignored) return null;
    let meta = this._readyMeta();
    if (!meta) {
      for await (const result of needClient(this).wait([this.id], timeout)) {
        this._meta = meta = result;
      }
    }
    if (!meta) throw new MotetError(`the results service ended the wait for ${this.id} without a result`);
    if (propagate && followParents && stateName(meta) !== 'SUCCESS') await this._raiseFailedAncestor();
    return valueOf(meta, propagate);
  }

  async _maybeThrow() {
    const meta = await this.meta();
    const state = stateName(meta);
    if (state === 'FAILURE' || state === 'REVOKED') throw taskError(meta);
  }

  /**
   * Revokes the task and everything downstream of it.
   * @param {object} [opts] - `terminate`: also interrupt it if a worker runs it.
   * @returns {Promise<number>} how many task records were revoked now.
   */
  async revoke({ terminate = false } = {}) {
    return needClient(this).revoke(this.id, { terminate });
  }

  /** Deletes the stored result. */
  async forget() {
    this._meta = null;
    return needClient(this).forget([this.id]);
  }
}

/** The results of a group, in submission order (Celery's GroupResult). */
class GroupResult extends ResultBase {
  /**
   * @param {string} id - The group id.
   * @param {ResultBase[]} results - The members' results, in order.
   * @param {object} [opts] - `client`, `parent`.
   */
  constructor(id, results, { client = null, parent = null } = {}) {
    super(id, { client, parent });
    this.results = results;
  }

  /** The task ids that carry the members' values, depth first (a nested group's members inline). */
  leafIds() {
    const out = [];
    const visit = (r) => {
      if (r instanceof GroupResult) r.results.forEach(visit);
      else out.push(r.id);
    };
    this.results.forEach(visit);
    return out;
  }

  /**
   * Waits for every member over one WaitResult stream (one per 10,000 ids) and returns their
   * values in order (a member that is itself a group gives a nested list).
   * @param {object} [opts]
   * @param {number|null} [opts.timeout] - Seconds to wait at most for all of them.
   * @param {boolean} [opts.propagate] - Throw the first failure that arrives (else put it in the list).
   * @returns {Promise<Array>}
   */
  async get({ timeout = null, propagate = true } = {}) {
    const leaves = [];
    const collect = (r) => {
      if (r instanceof GroupResult) r.results.forEach(collect);
      else leaves.push(r);
    };
    this.results.forEach(collect);
    const byId = new Map(); // id -> its leaves (an id may appear twice): a wide group is not O(n²)
    for (const leaf of leaves) byId.set(leaf.id, [...(byId.get(leaf.id) || []), leaf]);
    const pending = new Set(leaves.filter((leaf) => !leaf.ignored && !leaf._readyMeta()).map((leaf) => leaf.id));
    if (pending.size) {
      for await (const result of needClient(this).wait([...pending], timeout)) {
        for (const leaf of byId.get(result.taskId) || []) leaf._meta = result;
        if (propagate && stateName(result) !== 'SUCCESS') {
          // A member that never ran because what the group waited on failed: throw that failure.
          if (result.failure && result.failure.kind === 'FAILURE_KIND_UPSTREAM') await this._raiseFailedAncestor();
          throw taskError(result);
        }
      }
    }
    const value = (r) => {
      if (r instanceof GroupResult) return r.results.map(value);
      if (r.ignored) return null;
      return valueOf(r._meta, propagate);
    };
    return this.results.map(value);
  }

  async _maybeThrow() {
    const results = await needClient(this).getResults(this.leafIds());
    const failed = results.find((r) => ['FAILURE', 'REVOKED'].includes(stateName(r)));
    if (failed) throw taskError(failed);
  }

  /** Whether every member finished. */
  async ready() {
    const ids = this.leafIds();
    const results = await needClient(this).getResults(ids);
    return results.every((r) => READY_STATES.has(stateName(r)));
  }

  /** How many members succeeded. */
  async completedCount() {
    const results = await needClient(this).getResults(this.leafIds());
    return results.filter((r) => stateName(r) === 'SUCCESS').length;
  }

  /**
   * Revokes every member.
   * @param {object} [opts] - `terminate`: also interrupt running ones.
   */
  async revoke({ terminate = false } = {}) {
    return needClient(this).revoke(this.leafIds(), { terminate });
  }
}

module.exports = { AsyncResult, GroupResult, ResultBase, READY_STATES, STATES, stateName, taskError };
