'use strict';
/**
 * The canvas: signatures and the primitives that compose them, with Celery's rules, building the
 * same `motet.v1.Canvas` as the Python SDK (`sdk/motet/canvas`) for the same canvas and ids.
 *
 * - Building is pure: `signature`, `chain`, `group`, `chord`, `map`, `starmap`, `chunks`.
 *   `chain(...)` folds its steps with Celery's `|` rules (`compose`, also `a.pipe(b)`): nested
 *   chains are spliced in and a group followed by a step becomes a chord.
 * - `freeze()` assigns ids in place exactly where the Python SDK does (`motet/canvas/freeze.py`):
 *   every task id, a group's id, a chord's header group id (`options.groupId`), the chunk ids
 *   (`memberIds`), and root / parent / group membership; ids already set are kept. It returns
 *   the result object (AsyncResult / GroupResult, parents linked as in Celery).
 * - `toProto()` gives the `motet.v1.Canvas` as a plain object (camelCase fields, default values
 *   left out, as protobuf leaves them out), `toBinary()` its bytes.
 *
 * Options use the proto's field names in camelCase: taskId, countdown, eta, expires, retries,
 * maxRetries, queue, priority, timeLimit, softTimeLimit, ignoreResult, link, linkError, groupId,
 * groupIndex, rootId, parentId (and `immutable`, which sets the signature's flag). snake_case
 * spellings are accepted too. Celery's routing and message options (routingKey, headers, ...)
 * are carried uninterpreted in `Options.extra` under their Python names, as the Python SDK does.
 */

const crypto = require('node:crypto');
const payload = require('./payload');
const { CanvasError } = require('./errors');
const { AsyncResult, GroupResult } = require('./result');

/** The deepest canvas nesting accepted (`motet.settings.MAX_DEPTH`). */
const MAX_DEPTH = 32;

// -- ids ------------------------------------------------------------------------------------

let idFactory = () => crypto.randomUUID();

/**
 * Replaces the id generator used by `freeze()` (default: random UUID4 strings). For tests and
 * reproducible canvases; returns the previous generator.
 * @param {() => string} fn
 * @returns {() => string}
 */
function setIdFactory(fn) {
  const previous = idFactory;
  idFactory = fn || (() => crypto.randomUUID());
  return previous;
}

function newId() {
  return idFactory();
}

/** Python's `dict.setdefault(key, default)`: the default is computed even when the key is set. */
function setdefault(options, key, value) {
  if (!Object.prototype.hasOwnProperty.call(options, key)) options[key] = value;
  return options[key];
}

// -- options --------------------------------------------------------------------------------

/** Options Motet interprets (the fields of `motet.v1.Options`; `expires` covers `expires_at`). */
const OPTIONS = new Set([
  'taskId',
  'countdown',
  'eta',
  'expires',
  'retries',
  'maxRetries',
  'queue',
  'priority',
  'timeLimit',
  'softTimeLimit',
  'immutable',
  'ignoreResult',
  'link',
  'linkError',
  'groupId',
  'groupIndex',
  'rootId',
  'parentId',
]);

/** Celery options accepted and carried, uninterpreted, in `Options.extra` (Python names). */
const CARRIED_OPTIONS = new Set([
  'routing_key',
  'exchange',
  'exchange_type',
  'serializer',
  'headers',
  'shadow',
  'retry',
  'retry_policy',
  'reply_to',
  'add_to_parent',
  'compression',
  'delivery_mode',
  'mandatory',
  'correlation_id',
  'track_started',
  'stamped_headers',
  'stamps',
]);

/** Celery-internal options accepted and dropped. */
const DROPPED_OPTIONS = new Set(['chord', 'producer', 'connection', 'publisher', 'router', 'resultCls', 'routeName']);

const camel = (key) => key.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
const snake = (key) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const CARRIED_CAMEL = new Set([...CARRIED_OPTIONS].map(camel));

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') return value.constructor ? value.constructor.name : 'object';
  return typeof value;
}

function whenValue(value, key, where) {
  if (typeof value === 'string') {
    // Python reads a naive ISO date and time as UTC (Celery's rule); JavaScript would read local time.
    const text = /(?:[zZ]|[+-]\d\d:?\d\d)$/.test(value) || !value.includes('T') ? value : `${value}Z`;
    const d = new Date(text);
    if (Number.isNaN(d.getTime())) throw new CanvasError(`${where}: ${key} ${JSON.stringify(value)} is not an ISO 8601 date and time`);
    return d;
  }
  return value;
}

function checkNumber(options, key, where, { minimum, strict }) {
  const value = options[key];
  if (value === undefined || value === null) return;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new CanvasError(`${where}: ${key} must be a finite number of seconds (got ${String(value)})`);
  }
  if (value < minimum || (strict && value === minimum)) {
    throw new CanvasError(`${where}: ${key} must ${strict ? 'be positive' : 'not be negative'} (got ${value})`);
  }
}

function checkInteger(options, key, where, low, high = null) {
  const value = options[key];
  if (value === undefined || value === null) return;
  if (!Number.isInteger(value) || value < low || (high !== null && value > high)) {
    const span = high !== null ? `between ${low} and ${high}` : `a whole number of at least ${low}`;
    throw new CanvasError(`${where}: ${key} must be ${span} (got ${String(value)})`);
  }
}

/**
 * Refuses option values out of range or of the wrong type (`validate.check_option_values`).
 * @throws {CanvasError}
 */
function checkOptionValues(options, where) {
  checkNumber(options, 'countdown', where, { minimum: 0, strict: false });
  checkNumber(options, 'timeLimit', where, { minimum: 0, strict: true });
  checkNumber(options, 'softTimeLimit', where, { minimum: 0, strict: true });
  checkInteger(options, 'priority', where, 0, 9);
  checkInteger(options, 'retries', where, 0);
  checkInteger(options, 'maxRetries', where, 0);
  checkInteger(options, 'groupIndex', where, 0);
  const expires = options.expires;
  if (expires !== undefined && expires !== null && !(expires instanceof Date)) {
    checkNumber(options, 'expires', where, { minimum: 0, strict: true });
  }
  for (const key of ['eta', 'expires']) {
    if (options[key] instanceof Date && Number.isNaN(options[key].getTime())) {
      throw new CanvasError(`${where}: ${key} is an invalid Date`);
    }
  }
  if (options.eta !== undefined && options.eta !== null && !(options.eta instanceof Date)) {
    throw new CanvasError(`${where}: eta must be a Date or an ISO 8601 string (got ${describe(options.eta)})`);
  }
  for (const key of ['taskId', 'groupId', 'rootId', 'parentId', 'queue']) {
    const value = options[key];
    if (value !== undefined && value !== null && typeof value !== 'string') {
      throw new CanvasError(`${where}: ${key} must be a string (got ${describe(value)})`);
    }
  }
  for (const key of ['link', 'linkError']) {
    for (const sig of options[key] || []) {
      if (!(sig instanceof Signature)) {
        throw new CanvasError(`${where}: ${key} takes signatures or canvases, got ${describe(sig)}`);
      }
    }
  }
}

/**
 * Checks and normalises options given by a caller (`validate.normalise_options`): names in
 * camelCase, null / undefined dropped, link / linkError as arrays, eta / expires strings as Dates.
 * @param {object} options - Not modified.
 * @param {string} where - The part of the canvas, for messages ("task proj.add").
 * @returns {object} a new object of valid options.
 * @throws {CanvasError} for an unknown name or an invalid value.
 */
function normaliseOptions(options, where) {
  const out = {};
  const unknown = [];
  for (const [rawKey, value] of Object.entries(options || {})) {
    const key = camel(rawKey);
    if (!OPTIONS.has(key) && !CARRIED_CAMEL.has(key) && !DROPPED_OPTIONS.has(key)) {
      unknown.push(rawKey);
      continue;
    }
    if (value === undefined || value === null || DROPPED_OPTIONS.has(key)) continue;
    out[key] = value;
  }
  if (unknown.length) {
    throw new CanvasError(
      `${where}: unknown option(s) ${unknown.sort().join(', ')}; Motet knows ${[...OPTIONS].sort().join(', ')} ` +
        `and carries Celery's ${[...CARRIED_CAMEL].sort().join(', ')}`,
    );
  }
  for (const key of ['link', 'linkError']) {
    if (key in out) out[key] = out[key] instanceof Signature ? [out[key]] : [...out[key]];
  }
  for (const key of ['eta', 'expires']) {
    if (typeof out[key] === 'string') out[key] = whenValue(out[key], key, where);
  }
  checkOptionValues(out, where);
  return out;
}

/** A copy of an options object whose link / linkError signatures are copies too. */
function copyOptions(options) {
  const out = { ...options };
  for (const key of ['link', 'linkError']) {
    if (key in out) out[key] = out[key].map((s) => s._copy());
  }
  return out;
}

function asArgs(args, where) {
  if (args === undefined || args === null) return [];
  if (!Array.isArray(args)) throw new CanvasError(`${where}: args must be an array, got ${describe(args)}`);
  return [...args];
}

function asKwargs(kwargs, where) {
  if (kwargs === undefined || kwargs === null) return {};
  if (typeof kwargs !== 'object' || Array.isArray(kwargs)) {
    throw new CanvasError(`${where}: kwargs must be a plain object, got ${describe(kwargs)}`);
  }
  return { ...kwargs };
}

function asMember(value, where) {
  if (value instanceof Signature) return value;
  throw new CanvasError(`${where} takes signatures or canvases, got ${describe(value)}`);
}

// -- the kinds ------------------------------------------------------------------------------

/** One task invocation: a task name, arguments and execution options (Celery's Signature). */
class Signature {
  /**
   * @param {string} task - The registered task name ("proj.tasks.add").
   * @param {Array} [args] - Positional arguments.
   * @param {object} [kwargs] - Keyword arguments.
   * @param {object} [options] - Execution options (see the module comment); `immutable: true`
   *   makes the signature ignore a parent's result.
   * @throws {CanvasError} for malformed args, kwargs or options.
   */
  constructor(task, args = [], kwargs = {}, options = {}) {
    if (typeof task !== 'string' || !task) {
      throw new CanvasError(`a signature needs a task name, got ${describe(task)}`);
    }
    this.task = task;
    const where = this._where();
    this.args = asArgs(args, where);
    this.kwargs = asKwargs(kwargs, where);
    const opts = { ...(options || {}) };
    let immutable = false;
    if ('immutable' in opts) {
      immutable = Boolean(opts.immutable);
      delete opts.immutable;
    }
    this.options = normaliseOptions(opts, where);
    this.immutable = immutable;
    /** Celery's kind marker (null for a plain task). */
    this.subtaskType = null;
  }

  _where() {
    return `task ${this.task}`;
  }

  /** The task id (the result id) once frozen or set with `taskId`; else undefined. */
  get id() {
    return this.options.taskId;
  }

  set id(value) {
    this.options.taskId = value;
  }

  /** The task name. */
  get name() {
    return this.task;
  }

  /**
   * Sets whether partial arguments (a parent's result) are ignored.
   * @param {boolean} immutable
   * @returns {this}
   */
  setImmutable(immutable) {
    this.immutable = Boolean(immutable);
    return this;
  }

  /**
   * Makes this signature immutable in place (Celery's `.si()`: it ignores a parent's result).
   * @returns {this}
   */
  si() {
    return this.setImmutable(true);
  }

  /**
   * Sets execution options in place (`signature('add', [2, 2]).set({countdown: 1})`).
   * @param {object} options - Options; `immutable` sets the flag.
   * @returns {this}
   * @throws {CanvasError} for an unknown option or an invalid value.
   */
  set(options = {}) {
    const opts = { ...options };
    if ('immutable' in opts) {
      if (opts.immutable !== undefined && opts.immutable !== null) this.setImmutable(opts.immutable);
      delete opts.immutable;
    }
    Object.assign(this.options, normaliseOptions(opts, this._where()));
    return this;
  }

  /** An independent copy (options and callbacks copied; argument values shared). */
  _copy() {
    const copy = Object.create(Object.getPrototypeOf(this));
    Object.assign(copy, this);
    copy.args = [...this.args];
    copy.kwargs = { ...this.kwargs };
    copy.options = copyOptions(this.options);
    return copy;
  }

  _mergePartial(args, kwargs) {
    if (!this.immutable) {
      this.args = [...args, ...this.args];
      this.kwargs = { ...this.kwargs, ...kwargs };
    }
  }

  /**
   * A copy with partial args prepended and kwargs / options merged (new values win); an
   * immutable signature keeps its own args and kwargs.
   * @param {Array} [args]
   * @param {object} [kwargs]
   * @param {object} [options]
   * @returns {Signature}
   */
  clone(args = [], kwargs = {}, options = {}) {
    const copy = this._copy();
    copy._mergePartial(asArgs(args, this._where()), asKwargs(kwargs, this._where()));
    copy.set(options);
    return copy;
  }

  _addLink(key, sig) {
    if (!(sig instanceof Signature)) {
      throw new CanvasError(`${this._where()}: ${key} takes a signature or canvas, got ${describe(sig)}`);
    }
    const linked = setdefault(this.options, key, []);
    if (!linked.some((s) => s === sig || s._equals(sig))) linked.push(sig); // Celery: an equal one once
    return sig;
  }

  _equals(other) {
    return other instanceof Signature && this.constructor === other.constructor && canvasKey(this) === canvasKey(other);
  }

  /**
   * Adds a callback applied with this task's result when it succeeds (an equal one once).
   * @param {Signature} callback
   * @returns {Signature} the callback (as in Celery).
   */
  link(callback) {
    return this._addLink('link', callback);
  }

  /**
   * Adds an errback applied once if this task fails (an equal one once).
   * @param {Signature} errback
   * @returns {Signature} the errback (as in Celery).
   */
  linkError(errback) {
    return this._addLink('linkError', errback);
  }

  /**
   * Adds an errback and returns this signature.
   * @param {Signature} errback
   * @returns {this}
   */
  onError(errback) {
    this.linkError(errback);
    return this;
  }

  /**
   * Celery's `this | other` with its upgrade rules (see `compose`).
   * @param {Signature} other
   * @returns {Signature}
   */
  pipe(other) {
    return compose(this, other);
  }

  /**
   * Assigns ids to every node in place and returns the result object (Celery's freeze).
   * @param {object} [opts] - `id` (the result id if the node has none), `groupId`, `groupIndex`,
   *   `rootId`, `parentId`.
   * @returns {AsyncResult|GroupResult} unbound (no client) until `client.submit` binds it.
   */
  freeze({ id = null, groupId = null, groupIndex = null, rootId = null, parentId = null } = {}) {
    return freeze(this, { id, groupId, groupIndex, rootId, parentId });
  }

  /**
   * This canvas as a `motet.v1.Canvas` plain object (the node is not modified).
   * @returns {object}
   * @throws {CanvasError} for an invalid canvas; EncodeError for values JSON cannot hold.
   */
  toProto() {
    return toProto(this);
  }

  /**
   * The serialized `motet.v1.Canvas`.
   * @returns {Buffer}
   */
  toBinary() {
    return toBinary(this);
  }

  toString() {
    const parts = [...this.args.map((a) => payload.toJson(a)), ...Object.entries(this.kwargs).map(([k, v]) => `${k}=${payload.toJson(v)}`)];
    return `${this.task}(${parts.join(', ')})`;
  }
}

/** A canvas made of other canvases. Its `task` is Celery's name for the kind ("celery.group"). */
class Composite extends Signature {
  constructor(kind, options) {
    super(`celery.${kind}`);
    this.kind = kind;
    this.subtaskType = kind;
    this.options = normaliseOptions(options || {}, this._where());
  }

  _where() {
    return this.kind || 'composite';
  }

  /**
   * A deep copy with partial arguments passed to the first task(s) and options merged (as
   * Celery's `canvas.clone(args, kwargs, **options)`): a chain's first step, every member of a
   * group, every header member of a chord get them; an immutable canvas drops them as a whole.
   * @param {Array} [args]
   * @param {object} [kwargs]
   * @param {object} [options]
   * @returns {Signature}
   */
  clone(args = [], kwargs = {}, options = {}) {
    const copy = this._copy();
    copy.set(options);
    const partialArgs = asArgs(args, this._where());
    const partialKwargs = asKwargs(kwargs, this._where());
    if ((partialArgs.length || Object.keys(partialKwargs).length) && !this.immutable) copy._mergePartial(partialArgs, partialKwargs);
    return copy;
  }
}

/** Build a Composite of a kind without running its constructor's folding (Python's `_build`). */
function build(cls, fields, options, { normalise }) {
  const obj = Object.create(cls.prototype);
  obj.kind = cls.KIND;
  obj.task = `celery.${cls.KIND}`;
  obj.args = [];
  obj.kwargs = {};
  obj.immutable = cls === Chunks;
  obj.subtaskType = cls === Chunks ? null : cls.KIND;
  Object.assign(obj, fields);
  obj.options = normalise ? normaliseOptions(options, obj._where()) : options;
  return obj;
}

/** Tasks run one after another, each result prepended to the next task's arguments. */
class Chain extends Composite {
  /** The chain's result id: its own `taskId`, else its last task's. */
  get id() {
    if (this.options.taskId !== undefined || !this.tasks.length) return this.options.taskId;
    return this.tasks[this.tasks.length - 1].id;
  }

  set id(value) {
    this.options.taskId = value;
  }

  _copy() {
    return Chain._build(this.tasks.map((t) => t._copy()), copyOptions(this.options));
  }

  _mergePartial(args, kwargs) {
    if (!this.tasks.length) throw new CanvasError('a chain needs at least one task');
    this.tasks[0] = this.tasks[0].clone(args, kwargs);
  }

  /** A chain of exactly these steps (options normalised into a new object, as Python's `_build`). */
  static _build(tasks, options) {
    return build(Chain, { tasks: [...tasks] }, options, { normalise: true });
  }

  toString() {
    return this.tasks.length ? this.tasks.map(String).join(' | ') : 'chain()';
  }
}
Chain.KIND = 'chain';

/** Tasks run in parallel; the value is the list of their results, in order. */
class Group extends Composite {
  _copy() {
    return Group._build(this.tasks.map((t) => t._copy()), copyOptions(this.options));
  }

  _mergePartial(args, kwargs) {
    // Celery: a group's partial arguments (a parent's result) go to every member.
    this.tasks = this.tasks.map((t) => t.clone(args, kwargs));
  }

  /** A group of exactly these members with these (already valid) options, shared. */
  static _build(tasks, options) {
    return build(Group, { tasks: [...tasks] }, options, { normalise: false });
  }

  /** Sets the flag on every member (Celery's `group.set_immutable`). */
  setImmutable(immutable) {
    for (const t of this.tasks) t.setImmutable(immutable);
    return this;
  }

  get length() {
    return this.tasks.length;
  }

  toString() {
    return `group([${this.tasks.map(String).join(', ')}])`;
  }
}
Group.KIND = 'group';

/** A header group whose list of results is passed, exactly once, to a body. */
class Chord extends Composite {
  /** The header members. */
  get header() {
    return this.tasks;
  }

  _copy() {
    return Chord._build(this.tasks.map((t) => t._copy()), this.body ? this.body._copy() : null, copyOptions(this.options));
  }

  _mergePartial(args, kwargs) {
    // Celery: a chord's partial arguments go to the header members.
    this.tasks = this.tasks.map((t) => t.clone(args, kwargs));
  }

  /** A chord of exactly these parts with these (already valid) options, shared. */
  static _build(header, body, options) {
    return build(Chord, { tasks: [...header], body }, options, { normalise: false });
  }

  /** Celery's upgrade of `group | body`: the group's id becomes the header group id. */
  static fromGroup(header, body) {
    return chord(header, body);
  }

  /** Sets the flag on the header members, never the body (Celery's `chord.set_immutable`). */
  setImmutable(immutable) {
    for (const t of this.tasks) t.setImmutable(immutable);
    return this;
  }

  /**
   * The body.
   * @throws {CanvasError} if the chord has no body yet.
   */
  needBody() {
    if (!this.body) throw new CanvasError('this chord has no body yet: use chord(header, body)');
    return this.body;
  }

  /** Links a callback to the body (Celery: a chord's callbacks are its body's). */
  link(callback) {
    return this.needBody().link(callback);
  }

  /** Links an errback to the body: it runs once if the chord fails (header or body). */
  linkError(errback) {
    return this.needBody().linkError(errback);
  }

  toString() {
    return `chord([${this.tasks.map(String).join(', ')}], ${String(this.body)})`;
  }
}
Chord.KIND = 'chord';

/**
 * One task applying `mapped` to every item, in order (Celery's xmap / xstarmap); each call is
 * `task(item, ...args)` (map) or `task(...item, ...args)` (starmap).
 */
class MapSignature extends Signature {
  constructor(mapped, items, starmap, options = {}) {
    super(starmap ? 'celery.starmap' : 'celery.map');
    this.starmap = starmap;
    this.mapped = mappedSignature(mapped, starmap ? 'xstarmap' : 'xmap');
    this.items = starmap ? argumentLists(items, 'xstarmap') : itemsOf(items, 'xmap');
    this.immutable = true; // Celery: a map ignores the value it would receive in a chain
    this.options = normaliseOptions(options, this._where());
  }

  _where() {
    return `${this.starmap ? 'xstarmap' : 'xmap'} of task ${this.mapped ? this.mapped.task : '?'}`;
  }

  _copy() {
    const copy = Object.create(MapSignature.prototype);
    Object.assign(copy, this);
    copy.mapped = this.mapped._copy();
    copy.options = copyOptions(this.options);
    return copy;
  }

  _mergePartial(args, kwargs) {
    if (args.length || Object.keys(kwargs).length) {
      throw new CanvasError(`${this._where()} takes no partial arguments; put them in the mapped signature`);
    }
  }

  toString() {
    return `[${this.mapped.task}(${this.starmap ? '*x' : 'x'}) for x in ${payload.toJson(this.items)}]`;
  }
}

/** Items split into tasks of `n` items each (each one a starmap); the tasks run as a group. */
class Chunks extends Composite {
  constructor(mapped, items, n, options = {}) {
    if (!Number.isInteger(n) || n < 1) throw new CanvasError(`chunk size must be a whole number of at least 1 (got ${String(n)})`);
    super('chunks', {});
    this.subtaskType = null;
    this.immutable = true; // as Celery's chunks
    this.mapped = mappedSignature(mapped, 'chunks');
    this.items = argumentLists(items, 'chunks');
    this.n = n;
    /** The chunk task ids, in order (assigned by freeze). */
    this.memberIds = [];
    this.options = normaliseOptions(options, this._where());
  }

  _where() {
    return this.mapped ? `chunks of task ${this.mapped.task}` : 'chunks';
  }

  /** How many chunk tasks the items make. */
  get chunkCount() {
    return Math.ceil(this.items.length / this.n);
  }

  _copy() {
    return build(
      Chunks,
      { mapped: this.mapped._copy(), items: this.items, n: this.n, memberIds: [...this.memberIds] },
      copyOptions(this.options),
      { normalise: false },
    );
  }

  _mergePartial() {
    throw new CanvasError(`${this._where()} takes no partial arguments; put them in the items`);
  }

  /**
   * The chunks as a group of starmap tasks (Celery's `chunks.group()`); member ids are the
   * frozen chunk ids when this chunks was frozen.
   * @returns {Group}
   */
  group() {
    const members = [];
    for (let index = 0, start = 0; start < this.items.length; index++, start += this.n) {
      const member = new MapSignature(this.mapped._copy(), this.items.slice(start, start + this.n), true);
      if (index < this.memberIds.length) member.options.taskId = this.memberIds[index];
      members.push(member);
    }
    return group(members, copyOptions(this.options));
  }

  toString() {
    return `${this.mapped.task}.chunks(${this.items.length} items, ${this.n})`;
  }
}
Chunks.KIND = 'chunks';

function mappedSignature(task, where) {
  if (typeof task === 'string') return new Signature(task);
  if (task instanceof Signature && !(task instanceof Composite) && !(task instanceof MapSignature)) return task;
  throw new CanvasError(`${where} maps a task signature, got ${describe(task)}`);
}

function itemsOf(items, where) {
  if (!Array.isArray(items)) throw new CanvasError(`${where} takes an array of items, got ${describe(items)}`);
  return [...items];
}

function argumentLists(items, where) {
  return itemsOf(items, where).map((item, i) => {
    if (!Array.isArray(item)) throw new CanvasError(`${where}: item ${i} must be an array of arguments, got ${describe(item)}`);
    return [...item];
  });
}

/** A stable text of a canvas's content, for "an equal callback is linked once". */
function canvasKey(sig) {
  try {
    return Buffer.from(toBinary(sig)).toString('base64') + String(sig.immutable);
  } catch {
    return `${sig.constructor.name}:${String(sig)}`;
  }
}

// -- builders -------------------------------------------------------------------------------

/**
 * A signature by task name, or a copy of a signature / canvas (Celery's `signature()`).
 * @param {string|Signature} task - A task name, or a signature / canvas to clone.
 * @param {Array} [args]
 * @param {object} [kwargs]
 * @param {object} [options] - Execution options (see the module comment).
 * @returns {Signature}
 */
function signature(task, args = [], kwargs = {}, options = {}) {
  if (task instanceof Signature) return task.clone([], {}, options);
  return new Signature(task, args, kwargs, options);
}

/**
 * An immutable signature (Celery's `task.si(...)`): it ignores a parent's result.
 * @returns {Signature}
 */
function si(task, args = [], kwargs = {}, options = {}) {
  return signature(task, args, kwargs, { ...options, immutable: true });
}

function splitArgs(args) {
  if (args.length >= 1 && Array.isArray(args[0])) return [args[0], args[1] || {}];
  return [args, {}];
}

/**
 * Tasks in sequence: `chain(add(2, 2), add(4))`, or `chain([steps...], options)`.
 *
 * As Celery's `chain(*tasks)`, the steps are folded with `|`: nested chains are spliced in and
 * a group followed by a step becomes a chord (so `chain(group(...), task)` is a chord). One
 * canvas becomes a one-step chain. Options (queue, priority, limits, retries) reach every step
 * that sets none; countdown / eta delay the chain's start.
 * @returns {Signature} usually a Chain; what `|` makes of the steps otherwise (a chord).
 */
function chain(...args) {
  const [tasks, options] = splitArgs(args);
  let built;
  if (args.length === 1 && args[0] instanceof Signature) {
    built = Chain._build([asMember(tasks[0], 'a chain')], {});
  } else {
    built = Chain._build([], {});
    for (const t of tasks) built = compose(built, asMember(t, 'a chain'));
  }
  if (options && Object.keys(options).length) {
    if (built instanceof Chain) built.set(options);
    else built = Chain._build([built], options);
  }
  return built;
}

/**
 * Tasks in parallel: `group(a, b, c)`, or `group([members...], options)`.
 *
 * The value is the list of the members' results in order; a group directly inside is spliced
 * in (`group(group(a, b), c)` gives `[a, b, c]`). `group(g)` of one group is that group's members.
 * Options apply to members that set none; `taskId` is the group id.
 * @returns {Group}
 */
function group(...args) {
  let [tasks, options] = splitArgs(args);
  if (!Array.isArray(args[0]) && tasks.length === 1 && tasks[0] instanceof Group) tasks = [...tasks[0].tasks];
  const members = tasks.map((t) => asMember(t, 'a group'));
  const g = Object.create(Group.prototype);
  Object.assign(g, { kind: 'group', task: 'celery.group', args: [], kwargs: {}, immutable: false, subtaskType: 'group' });
  g.options = normaliseOptions(options, 'group');
  g.tasks = members;
  return g;
}

/**
 * A header run in parallel, then the body with the list of header results (in header order).
 * @param {Signature[]|Group|Signature} header - Members, a group (its members are taken, its id
 *   becomes the header group id, its other options are inherited), or one signature / canvas.
 * @param {Signature|null} body
 * @param {object} [options] - `groupId` is the header group id, `taskId` the body's result id.
 * @returns {Chord}
 */
function chord(header, body = null, options = {}) {
  let members;
  let opts = options || {};
  if (header instanceof Group) {
    const inherited = {};
    for (const [k, v] of Object.entries(header.options)) {
      if (!['taskId', 'groupId', 'groupIndex'].includes(k)) inherited[k] = v;
    }
    if (header.options.taskId) inherited.groupId = header.options.taskId;
    opts = { ...inherited, ...opts };
    members = [...header.tasks];
  } else if (header instanceof Signature) {
    members = [header];
  } else if (Array.isArray(header)) {
    members = header.map((t) => asMember(t, 'a chord header'));
  } else {
    throw new CanvasError(`a chord header takes signatures or canvases, got ${describe(header)}`);
  }
  if (body !== null && body !== undefined && !(body instanceof Signature)) {
    throw new CanvasError(`a chord body must be a signature or canvas, got ${describe(body)}`);
  }
  const c = Object.create(Chord.prototype);
  Object.assign(c, { kind: 'chord', task: 'celery.chord', args: [], kwargs: {}, immutable: false, subtaskType: 'chord' });
  c.options = normaliseOptions(opts, 'chord');
  c.tasks = members;
  c.body = body || null;
  return c;
}

/**
 * One task calling `task(item, ...task.args)` for each item, in order (Celery's `task.map(items)`).
 * @param {Signature|string} task
 * @param {Array} items
 * @param {object} [options] - Options of the map task itself.
 * @returns {MapSignature}
 */
function map(task, items, options = {}) {
  return new MapSignature(task, items, false, options);
}

/**
 * One task calling `task(...item, ...task.args)` for each item (Celery's `task.starmap(items)`).
 * @param {Signature|string} task
 * @param {Array<Array>} items - Argument lists.
 * @param {object} [options]
 * @returns {MapSignature}
 */
function starmap(task, items, options = {}) {
  return new MapSignature(task, items, true, options);
}

/**
 * Items split into tasks of `n` items each, each a starmap, run as a group (Celery's
 * `task.chunks(items, n)`); its value is the list of the chunks' lists.
 * @param {Signature|string} task
 * @param {Array<Array>} items - Argument lists.
 * @param {number} n - Items per chunk, at least 1.
 * @param {object} [options] - `taskId` is the chunk group's id.
 * @returns {Chunks}
 */
function chunks(task, items, n, options = {}) {
  return new Chunks(task, items, n, options);
}

// -- compose (Celery's `|`, motet/canvas/compose.py) -----------------------------------------

/**
 * Celery's rule when a chain runs: a group followed by another step becomes a chord.
 * @param {Signature[]} steps - Not modified.
 * @returns {Signature[]} a new list.
 */
function upgradeSteps(steps) {
  const out = [];
  for (const step of steps) {
    if (out.length && out[out.length - 1] instanceof Group) out[out.length - 1] = Chord.fromGroup(out[out.length - 1], step);
    else out.push(step);
  }
  return out;
}

const unroll = (g) => (g.tasks.length === 1 ? g.tasks[0] : g);
const isEmptyGroup = (sig) => sig instanceof Group && sig.tasks.length === 0;
const hasOptions = (sig) => Object.keys(sig.options).length > 0;

function chainOf(left, steps) {
  return Chain._build(steps, left instanceof Chain ? left.options : {});
}

function withBody(c, extra) {
  return Chord._build([...c.tasks], c.body ? compose(c.body, extra) : extra, c.options);
}

function taskThen(left, right) {
  if (right instanceof Chain && !hasOptions(right)) return chainOf(left, [left, ...right.tasks]);
  if (right instanceof Group) return chainOf(left, [left, unroll(right)]);
  return chainOf(left, [left, right]);
}

function chainThen(left, right) {
  const tasks = [...left.tasks];
  if (isEmptyGroup(right)) return left;
  if (right instanceof Group) {
    const unrolled = unroll(right);
    if (!(unrolled instanceof Group)) return chainThen(left, unrolled);
    if (!tasks.length) return right;
    if (tasks[tasks.length - 1] instanceof Chord) {
      tasks[tasks.length - 1] = withBody(tasks[tasks.length - 1], right);
      return chainOf(left, tasks);
    }
    return chainOf(left, [...tasks, right]);
  }
  if (right instanceof Chain && !hasOptions(right)) {
    let out = left;
    for (const step of right.tasks) out = compose(out, step);
    return out;
  }
  const last = tasks[tasks.length - 1];
  if (tasks.length && last instanceof Group) {
    tasks[tasks.length - 1] = Chord.fromGroup(last, right);
    if (tasks.length > 1 && tasks[tasks.length - 2] instanceof Chord) {
      // Two chords in a row: the second one runs after the first one's body.
      const merged = withBody(tasks[tasks.length - 2], tasks[tasks.length - 1]);
      tasks.splice(tasks.length - 2, 2, merged);
    }
    return chainOf(left, tasks);
  }
  if (tasks.length && last instanceof Chord && !(right instanceof Chord)) {
    tasks[tasks.length - 1] = withBody(last, right);
    return chainOf(left, tasks);
  }
  return chainOf(left, [...tasks, right]);
}

function chordThen(left, right) {
  if (!(right instanceof Group) && !(right instanceof Chain)) return withBody(left, right);
  if (right instanceof Group && right.tasks.length === 1) return withBody(left, right.tasks[0]);
  return taskThen(left, right);
}

/**
 * `left | right` with Celery's upgrade rules (motet/canvas/compose.py):
 * task | task is a chain; chain | task appends (a chain ending in a group makes a chord, one
 * ending in a chord grows its body); group | anything is a chord; chord | task grows the body;
 * chunks compose like a group.
 * @param {Signature} left
 * @param {Signature} right
 * @returns {Signature} a new canvas (members shared with the operands, as in Celery).
 */
function compose(left, right) {
  if ((right === null || right === undefined) && left instanceof Group) return Chord.fromGroup(left, null);
  if (!(right instanceof Signature)) throw new CanvasError(`cannot compose a canvas with ${describe(right)}`);
  if (left instanceof Chunks) left = left.group();
  if (left instanceof Chord) return chordThen(left, right);
  if (left instanceof Group) return isEmptyGroup(right) ? left : Chord.fromGroup(left, right);
  if (left instanceof Chain) return chainThen(left, right);
  return taskThen(left, right);
}

// -- freeze (motet/canvas/freeze.py) ---------------------------------------------------------

// The options a spliced group passes to its members that set none (the scheduler's rule).
const GROUP_INHERITED = ['queue', 'priority', 'timeLimit', 'softTimeLimit', 'maxRetries', 'countdown', 'eta', 'expires'];

function chunkIds(ck) {
  if (ck.memberIds.length !== ck.chunkCount) {
    ck.memberIds = Array.from({ length: ck.chunkCount }, () => newId());
  }
  return ck.memberIds;
}

// A group with its own callbacks stays one member: they run once, after it.
const isSpliced = (node) => node instanceof Group && !(node.options.link && node.options.link.length) && !(node.options.linkError && node.options.linkError.length);

/**
 * Members of a group / chord header with each group directly among them replaced by its own
 * members, recursively, in submission order; a spliced group's options (queue, priority,
 * limits, timing) go to its members that set none.
 * @param {Signature[]} members
 * @returns {Signature[]}
 */
function splice(members) {
  if (!members.some(isSpliced)) return members;
  const out = [];
  for (const member of members) {
    if (!isSpliced(member)) {
      out.push(member);
      continue;
    }
    for (const inner of splice(member.tasks)) {
      for (const key of GROUP_INHERITED) {
        if (member.options[key] !== undefined && inner.options[key] === undefined) inner.options[key] = member.options[key];
      }
      out.push(inner);
    }
  }
  return out;
}

function firstMember(members) {
  for (const member of members) {
    const found = isSpliced(member) ? firstMember(member.tasks) : member;
    if (found) return found;
  }
  return null;
}

/**
 * The id of the task that runs first in `node` (assigned now if missing): the root id.
 * @param {Signature} node
 * @returns {string}
 */
function firstTaskId(node) {
  if (node instanceof Chain) {
    if (!node.tasks.length) throw new CanvasError('a chain needs at least one task');
    return firstTaskId(node.tasks[0]);
  }
  if (node instanceof Chord) {
    const first = firstMember(node.tasks);
    return firstTaskId(first || node.needBody());
  }
  if (node instanceof Group) {
    const first = firstMember(node.tasks);
    if (first) return firstTaskId(first);
    return setdefault(node.options, 'taskId', newId());
  }
  if (node instanceof Chunks) {
    const ids = chunkIds(node);
    return ids.length ? ids[0] : setdefault(node.options, 'taskId', newId());
  }
  return setdefault(node.options, 'taskId', newId());
}

function attach(result, parent) {
  let node = result;
  const seen = new Set();
  while (node.parent) {
    if (seen.has(node.id)) throw new CanvasError('the canvas contains the same result id twice');
    seen.add(node.id);
    node = node.parent;
  }
  node.parent = parent;
}

function membership(options, groupId, groupIndex, rootId, parentId) {
  if (groupId) options.groupId = groupId;
  if (groupIndex !== null && groupIndex !== undefined) options.groupIndex = groupIndex;
  options.rootId = rootId;
  if (parentId) options.parentId = parentId;
}

function freezeLinks(options, rootId, parentId) {
  for (const callback of [...(options.link || []), ...(options.linkError || [])]) {
    freeze(callback, { rootId, parentId });
  }
}

function freezeTask(sig, { id, groupId, groupIndex, rootId, parentId }) {
  const opts = sig.options;
  const taskId = opts.taskId || id || newId();
  opts.taskId = taskId;
  const root = rootId || taskId;
  membership(opts, groupId, groupIndex, root, parentId);
  freezeLinks(opts, root, taskId);
  return new AsyncResult(taskId, { ignored: Boolean(opts.ignoreResult) });
}

function freezeChain(c, { id, groupId, groupIndex, rootId, parentId }) {
  if (!c.tasks.length) throw new CanvasError('a chain needs at least one task');
  c.tasks = upgradeSteps(c.tasks);
  const root = rootId || firstTaskId(c.tasks[0]);
  const lastId = c.options.taskId || id;
  let previous = null;
  c.tasks.forEach((step, index) => {
    const last = index === c.tasks.length - 1;
    let stepParent;
    if (previous === null) stepParent = parentId;
    else stepParent = previous instanceof AsyncResult ? previous.id : null;
    const result = freeze(step, {
      id: last ? lastId : null,
      groupId: last ? groupId : null,
      groupIndex: last ? groupIndex : null,
      rootId: root,
      parentId: stepParent,
    });
    if (previous !== null) attach(result, previous);
    previous = result;
  });
  freezeLinks(c.options, root, previous.id);
  return previous;
}

function freezeGroup(g, { id, groupId, groupIndex, rootId, parentId }) {
  const gid = g.options.taskId || id || newId();
  g.options.taskId = gid;
  g.tasks = splice(g.tasks);
  const root = rootId || firstTaskId(g);
  membership(g.options, groupId, groupIndex, root, parentId);
  const results = g.tasks.map((t, i) => freeze(t, { groupId: gid, groupIndex: i, rootId: root, parentId }));
  freezeLinks(g.options, root, null);
  return new GroupResult(gid, results);
}

function freezeChord(c, { id, groupId, groupIndex, rootId, parentId }) {
  const body = c.needBody();
  const headerId = c.options.groupId || newId();
  c.options.groupId = headerId;
  const bodyId = c.options.taskId || id;
  delete c.options.taskId;
  // Celery: an empty chain in a chord header adds nothing to wait for (the body may get []).
  c.tasks = splice(c.tasks).filter((t) => !(t instanceof Chain && !t.tasks.length));
  const root = rootId || firstTaskId(c);
  c.options.rootId = root;
  if (parentId) c.options.parentId = parentId;
  const header = new GroupResult(
    headerId,
    c.tasks.map((t, i) => freeze(t, { groupId: headerId, groupIndex: i, rootId: root, parentId })),
  );
  const result = freeze(body, { id: bodyId, groupId, groupIndex, rootId: root });
  attach(result, header);
  freezeLinks(c.options, root, result.id);
  return result;
}

function freezeChunks(ck, { id, groupId, groupIndex, rootId, parentId }) {
  const gid = ck.options.taskId || id || newId();
  ck.options.taskId = gid;
  const ids = chunkIds(ck);
  const root = rootId || (ids.length ? ids[0] : gid);
  membership(ck.options, groupId, groupIndex, root, parentId);
  freezeLinks(ck.options, root, null);
  return new GroupResult(gid, ids.map((i) => new AsyncResult(i)));
}

/**
 * Assigns ids to `node` and everything in it (in place) and returns its result object.
 * @param {Signature} node
 * @param {object} [at] - `id`, `groupId`, `groupIndex`, `rootId`, `parentId`.
 * @returns {AsyncResult|GroupResult}
 * @throws {CanvasError} for an empty chain or a chord without a body.
 */
function freeze(node, { id = null, groupId = null, groupIndex = null, rootId = null, parentId = null } = {}) {
  const at = { id, groupId, groupIndex, rootId, parentId };
  if (node instanceof Chain) return freezeChain(node, at);
  if (node instanceof Chord) return freezeChord(node, at);
  if (node instanceof Group) return freezeGroup(node, at);
  if (node instanceof Chunks) return freezeChunks(node, at);
  return freezeTask(node, at);
}

// -- compile (motet/canvas/compile.py) ------------------------------------------------------

function timestamp(date) {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms - seconds * 1000) * 1e6;
  const out = {};
  if (seconds) out.seconds = seconds;
  if (nanos) out.nanos = nanos;
  return out;
}

/**
 * Options (+ the signature's immutability) -> `motet.v1.Options` (fields at their default are left out).
 * @throws {CanvasError} for an invalid value; EncodeError for carried options JSON cannot hold.
 */
function optionsToProto(options, immutable, depth, where) {
  checkOptionValues(options, where);
  const out = {};
  for (const key of ['taskId', 'queue', 'groupId', 'rootId', 'parentId']) {
    if (options[key]) out[key] = options[key];
  }
  for (const key of ['countdown', 'timeLimit', 'softTimeLimit']) {
    if (options[key] !== undefined && options[key] !== null) out[key] = Number(options[key]);
  }
  for (const key of ['maxRetries', 'priority', 'groupIndex']) {
    if (options[key] !== undefined && options[key] !== null) out[key] = options[key];
  }
  if (options.retries) out.retries = options.retries;
  if (immutable) out.immutable = true;
  if (options.ignoreResult) out.ignoreResult = true;
  if (options.eta !== undefined && options.eta !== null) out.eta = timestamp(options.eta);
  const expires = options.expires;
  if (expires instanceof Date) out.expiresAt = timestamp(expires);
  else if (expires !== undefined && expires !== null) out.expires = Number(expires);
  for (const key of ['link', 'linkError']) {
    if (options[key] && options[key].length) out[key] = options[key].map((s) => toProto(s, depth + 1));
  }
  const extra = {};
  let carried = false;
  for (const [key, value] of Object.entries(options)) {
    if (!OPTIONS.has(key)) {
      extra[snake(key)] = value;
      carried = true;
    }
  }
  if (carried) out.extra = payload.encode(extra, `${where} options`);
  return out;
}

function signatureToProto(sig, depth) {
  if (!sig.task) throw new CanvasError('a signature needs a task name');
  return {
    task: sig.task,
    args: payload.encodeArgs(sig.args, sig.task),
    kwargs: payload.encodeKwargs(sig.kwargs, sig.task),
    options: optionsToProto(sig.options, sig.immutable, depth, `task ${sig.task}`),
  };
}

/**
 * A canvas as a `motet.v1.Canvas` plain object (camelCase fields; the node is not modified).
 * @param {Signature} node
 * @param {number} [depth] - The nesting level of `node` (0 at the top).
 * @returns {object}
 * @throws {CanvasError} for an invalid canvas (empty chain, chord without body, too deep).
 */
function toProto(node, depth = 0) {
  if (depth > MAX_DEPTH) {
    throw new CanvasError(`the canvas is nested deeper than ${MAX_DEPTH} levels; flatten it (a long chain is one level)`);
  }
  if (node instanceof Chain) {
    if (!node.tasks.length) throw new CanvasError('a chain needs at least one task');
    return {
      chain: {
        tasks: upgradeSteps(node.tasks).map((t) => toProto(t, depth + 1)),
        options: optionsToProto(node.options, false, depth, 'chain'),
      },
    };
  }
  if (node instanceof Chord) {
    return {
      chord: {
        header: node.tasks.map((t) => toProto(t, depth + 1)),
        body: toProto(node.needBody(), depth + 1),
        options: optionsToProto(node.options, false, depth, 'chord'),
      },
    };
  }
  if (node instanceof Group) {
    return {
      group: { tasks: node.tasks.map((t) => toProto(t, depth + 1)), options: optionsToProto(node.options, false, depth, 'group') },
    };
  }
  if (node instanceof Chunks) {
    const out = {
      task: signatureToProto(node.mapped, depth + 1),
      items: payload.encode(node.items, `${node._where()} items`),
      size: node.n,
      options: optionsToProto(node.options, false, depth, node._where()),
    };
    if (node.memberIds.length) out.memberIds = [...node.memberIds];
    return { chunks: out };
  }
  if (node instanceof MapSignature) {
    const out = {
      task: signatureToProto(node.mapped, depth + 1),
      items: payload.encode(node.items, `${node._where()} items`),
    };
    if (node.starmap) out.starmap = true;
    out.options = optionsToProto(node.options, false, depth, node._where());
    return { map: out };
  }
  if (node instanceof Signature) return { signature: signatureToProto(node, depth) };
  throw new CanvasError(`cannot compile a ${describe(node)}; expected a signature or canvas`);
}

/**
 * The serialized `motet.v1.Canvas` of a canvas.
 * @param {Signature} node
 * @returns {Buffer}
 */
function toBinary(node) {
  const { types } = require('./protos');
  const message = types.Canvas.fromObject(toProto(node));
  return Buffer.from(types.Canvas.encode(message).finish());
}

module.exports = {
  CARRIED_OPTIONS,
  Chain,
  Chord,
  Chunks,
  Composite,
  Group,
  MAX_DEPTH,
  MapSignature,
  OPTIONS,
  Signature,
  chain,
  chord,
  chunks,
  compose,
  firstTaskId,
  freeze,
  group,
  map,
  normaliseOptions,
  setIdFactory,
  si,
  sig: signature,
  signature,
  splice,
  starmap,
  toBinary,
  toProto,
  upgradeSteps,
};
