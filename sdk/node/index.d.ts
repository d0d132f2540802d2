// TypeScript declarations for the public API of the `motet` Node SDK.

/** Execution options: the fields of `motet.v1.Options` in camelCase (snake_case is accepted too). */
export interface Options {
  /** The id of the result this node produces (a group id for a group / chunks). */
  taskId?: string;
  /** Seconds to wait before the node may start. */
  countdown?: number;
  /** The earliest start (a Date, or an ISO 8601 string; without an offset it is UTC). */
  eta?: Date | string;
  /** Seconds after which a task that has not started is revoked, or an absolute time. */
  expires?: number | Date | string;
  /** How many times the task was already retried. */
  retries?: number;
  /** The maximum number of retries. */
  maxRetries?: number;
  /** The queue ("celery" when unset). */
  queue?: string;
  /** 0 (lowest) to 9 (highest). */
  priority?: number;
  /** Hard time limit in seconds. */
  timeLimit?: number;
  /** Soft time limit in seconds. */
  softTimeLimit?: number;
  /** Ignore a parent's result (sets the signature's flag). */
  immutable?: boolean;
  /** Store no result. */
  ignoreResult?: boolean;
  /** Callbacks applied with the result. */
  link?: Signature | Signature[];
  /** Errbacks applied when the node fails. */
  linkError?: Signature | Signature[];
  /** Group membership (set by freeze; a chord's header group id). */
  groupId?: string;
  groupIndex?: number;
  rootId?: string;
  parentId?: string;
  /** Celery's routing and message options, carried uninterpreted (routingKey, headers, ...). */
  [carried: string]: unknown;
}

/** Where freeze puts a node. */
export interface FreezeAt {
  id?: string | null;
  groupId?: string | null;
  groupIndex?: number | null;
  rootId?: string | null;
  parentId?: string | null;
}

/** A `motet.v1.Canvas` as a plain object (camelCase fields, bytes as Buffers). */
export type CanvasMessage = Record<string, unknown>;

/** One task invocation: a name, arguments and options (Celery's Signature). */
export class Signature {
  constructor(task: string, args?: unknown[], kwargs?: Record<string, unknown>, options?: Options);
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: Options;
  immutable: boolean;
  /** The task id once frozen or set. */
  id: string | undefined;
  readonly name: string;
  setImmutable(immutable: boolean): this;
  /** Makes this signature immutable in place (Celery's `.si()`). */
  si(): this;
  /** Sets options in place. */
  set(options: Options): this;
  clone(args?: unknown[], kwargs?: Record<string, unknown>, options?: Options): Signature;
  /** Adds a callback; returns the callback. */
  link(callback: Signature): Signature;
  /** Adds an errback; returns the errback. */
  linkError(errback: Signature): Signature;
  /** Adds an errback; returns this. */
  onError(errback: Signature): this;
  /** Celery's `this | other`. */
  pipe(other: Signature): Signature;
  /** Assigns every id in place (as the Python SDK does) and returns the unbound result object. */
  freeze(at?: FreezeAt): AsyncResult | GroupResult;
  /** The `motet.v1.Canvas` message. */
  toProto(): CanvasMessage;
  /** The serialized `motet.v1.Canvas`. */
  toBinary(): Buffer;
}

export class Composite extends Signature {
  kind: string;
}
export class Chain extends Composite {
  tasks: Signature[];
}
export class Group extends Composite {
  tasks: Signature[];
  readonly length: number;
}
export class Chord extends Composite {
  tasks: Signature[];
  readonly header: Signature[];
  body: Signature | null;
  needBody(): Signature;
}
export class MapSignature extends Signature {
  mapped: Signature;
  items: unknown[];
  starmap: boolean;
}
export class Chunks extends Composite {
  mapped: Signature;
  items: unknown[][];
  n: number;
  memberIds: string[];
  readonly chunkCount: number;
  group(): Group;
}

export function signature(task: string | Signature, args?: unknown[], kwargs?: Record<string, unknown>, options?: Options): Signature;
export const sig: typeof signature;
export function si(task: string, args?: unknown[], kwargs?: Record<string, unknown>, options?: Options): Signature;
export function chain(...tasks: Signature[]): Signature;
export function chain(tasks: Signature[], options?: Options): Signature;
export function group(...tasks: Signature[]): Group;
export function group(tasks: Signature[], options?: Options): Group;
export function chord(header: Signature[] | Group | Signature, body?: Signature | null, options?: Options): Chord;
export function map(task: Signature | string, items: unknown[], options?: Options): MapSignature;
export function starmap(task: Signature | string, items: unknown[][], options?: Options): MapSignature;
export function chunks(task: Signature | string, items: unknown[][], n: number, options?: Options): Chunks;
export function compose(left: Signature, right: Signature): Signature;
export function freeze(node: Signature, at?: FreezeAt): AsyncResult | GroupResult;
export function toProto(node: Signature): CanvasMessage;
export function toBinary(node: Signature): Buffer;
/** Replaces the id generator of freeze (default: random UUID4); returns the previous one. */
export function setIdFactory(fn: (() => string) | null): () => string;
export const MAX_DEPTH: number;

export interface GetOptions {
  /** Seconds to wait at most (null: no limit). */
  timeout?: number | null;
  /** Throw the task's error (default), or return it. */
  propagate?: boolean;
  /** On failure, throw the first failed ancestor's error, from the root down (default true). */
  followParents?: boolean;
}

export type State = 'PENDING' | 'RECEIVED' | 'STARTED' | 'SUCCESS' | 'FAILURE' | 'RETRY' | 'REVOKED';
export const READY_STATES: Set<State>;

export interface SubmitCanvasResponse {
  rootId: string;
  resultId: string;
  created: boolean;
}

export class ResultBase {
  id: string;
  client: Client | null;
  parent: ResultBase | null;
  /** The scheduler's answer, on the result `client.submit` returns. */
  submitted?: SubmitCanvasResponse;
  bind(client: Client): this;
}

export class AsyncResult extends ResultBase {
  constructor(id: string, opts?: { client?: Client | null; parent?: ResultBase | null; ignored?: boolean });
  readonly taskId: string;
  ignored: boolean;
  /** Waits (WaitResult) and returns the value decoded from JSON. */
  get(opts?: GetOptions): Promise<any>;
  meta(): Promise<Record<string, any>>;
  state(): Promise<State>;
  ready(): Promise<boolean>;
  successful(): Promise<boolean>;
  failed(): Promise<boolean>;
  revoke(opts?: { terminate?: boolean }): Promise<number>;
  forget(): Promise<number>;
}

export class GroupResult extends ResultBase {
  constructor(id: string, results: ResultBase[], opts?: { client?: Client | null; parent?: ResultBase | null });
  results: ResultBase[];
  leafIds(): string[];
  /** Waits for every member over one WaitResult stream (one per 10,000 ids); values in order. */
  get(opts?: GetOptions): Promise<any[]>;
  ready(): Promise<boolean>;
  completedCount(): Promise<number>;
  revoke(opts?: { terminate?: boolean }): Promise<number>;
}

export interface ClientSettings {
  /** host:port (default MOTET_SCHEDULER, else 127.0.0.1:7410). */
  scheduler?: string;
  /** host:port (default MOTET_RESULTS, else 127.0.0.1:7411). */
  results?: string;
  /** Bearer token (default MOTET_TOKEN). */
  token?: string;
  /** PEM files (paths) or contents (default MOTET_TLS_CA / _CERT / _KEY); a CA means TLS. */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer };
  /** Sent as `motet-namespace` metadata (default MOTET_NAMESPACE). */
  namespace?: string;
}

export class Client {
  constructor(settings?: ClientSettings);
  readonly scheduler: string;
  readonly results: string;
  /** Freezes a copy of the canvas, submits it and returns its result object. */
  submit(canvas: Signature, opts?: { parentId?: string }): Promise<AsyncResult | GroupResult>;
  /** Submits a `motet.v1.Canvas` message as it is. */
  submitCanvas(message: CanvasMessage, opts?: { parentId?: string }): Promise<SubmitCanvasResponse>;
  revoke(ids: string | string[], opts?: { terminate?: boolean }): Promise<number>;
  inspectWorkers(destination?: string[]): Promise<Record<string, any>[]>;
  getResult(taskId: string): Promise<Record<string, any>>;
  getResults(taskIds: string[]): Promise<Record<string, any>[]>;
  forget(ids: string[]): Promise<number>;
  asyncResult(id: string): AsyncResult;
  groupResult(id: string, ids: string[]): GroupResult;
  /** Each task's TaskResult once ready, over one WaitResult stream per 10,000 ids. */
  wait(ids: string[], timeout?: number | null): AsyncGenerator<Record<string, any>>;
  whyWaiting(ids: string[]): Promise<string>;
  close(): void;
}

export function encode(value: unknown, what?: string): { encoding: string; data: Buffer };
export function decode(payload: { encoding?: string; data?: Uint8Array } | null | undefined, fallback?: unknown): any;

export interface ErrorFields {
  code?: number | null;
  reason?: string | null;
  metadata?: Record<string, string>;
}

/** The base of every error the SDK raises. */
export class MotetError extends Error {
  constructor(message: string, fields?: ErrorFields);
  /** The gRPC status code of a failed call, else null. */
  code: number | null;
  /** The ErrorInfo reason ("INVALID_CANVAS", ...), else null. */
  reason: string | null;
  /** The ErrorInfo metadata. */
  metadata: Record<string, string>;
}
export class CanvasError extends MotetError {}
export class InvalidCanvas extends CanvasError {
  violations: { field: string; description: string }[];
}
export class EncodeError extends MotetError {}
export class NotAuthenticated extends MotetError {}
export class PermissionDenied extends MotetError {}
export class NotFound extends MotetError {}
export class NotInChord extends MotetError {}
export class Timeout extends MotetError {}
export class Unavailable extends MotetError {}
export class ImproperlyConfigured extends MotetError {}
/** A task failed (or was revoked). */
export class TaskError extends MotetError {
  excType: string;
  remoteMessage: string;
  traceback: string;
  taskId: string;
  excArgs: unknown[];
  kind: string;
  state: State;
  resultId: string;
}
export class TaskRevokedError extends TaskError {}

// -- worker ------------------------------------------------------------------------------------

export interface TaskOptions {
  /** Pass a TaskContext first (Celery's bind=True). */
  bind?: boolean;
  /** Retries allowed (default 3; null: no limit). */
  maxRetries?: number | null;
  /** Seconds before a retry (default 180). */
  defaultRetryDelay?: number;
  /** Error classes (or a predicate) retried automatically. */
  autoretryFor?: Array<new (...args: any[]) => Error> | ((err: unknown) => boolean);
  /** Exponential backoff for automatic retries (true, or the factor in seconds). */
  retryBackoff?: boolean | number;
  /** Hard time limit in seconds: reported as TimeLimitExceeded at once. */
  timeLimit?: number;
  /** Soft time limit in seconds: `ctx.signal` aborts with SoftTimeLimitExceeded. */
  softTimeLimit?: number;
  /** Store no result. */
  ignoreResult?: boolean;
  /** Report STARTED when the task begins. */
  trackStarted?: boolean;
}

export interface TaskRequest {
  id: string;
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  rootId: string;
  parentId: string | null;
  groupId: string | null;
  groupIndex: number | null;
  retries: number;
  maxRetries: number | null;
  queue: string;
  priority: number;
  timeLimit: number | null;
  softTimeLimit: number | null;
}

export class TaskContext {
  readonly id: string;
  readonly name: string;
  readonly request: TaskRequest;
  /** Aborts on terminate, on the soft or hard time limit, or when the stream to the scheduler ends. */
  readonly signal: AbortSignal;
  /** Asks for the task to run again later; always throws. */
  retry(opts?: { exc?: Error | null; countdown?: number | null; maxRetries?: number | null }): never;
  /** Replaces the task by a canvas; always throws. */
  replace(canvas: Signature): never;
}

export interface WorkerSettings {
  scheduler?: string;
  queues?: string[];
  concurrency?: number;
  prefetch?: number;
  grace?: number;
  token?: string;
  tls?: { ca?: string; cert?: string; key?: string };
  workerId?: string;
  log?: (level: string, message: string) => void;
}

export class Worker {
  constructor(settings?: WorkerSettings);
  readonly scheduler: string;
  readonly queues: string[];
  readonly concurrency: number;
  readonly workerId: string;
  readonly tasks: Map<string, unknown>;
  task(name: string, fn: (...args: any[]) => unknown, options?: TaskOptions): this;
  handleSignals(): this;
  run(): Promise<void>;
  stop(): Promise<void>;
  on(event: 'ready', listener: (welcome: { sessionId: string; leaseTtl: number }) => void): this;
  on(event: 'received', listener: (taskId: string) => void): this;
  on(event: 'report', listener: (taskId: string, kind: string) => void): this;
  on(event: 'stopped', listener: () => void): this;
  once(event: 'ready' | 'received' | 'report' | 'stopped', listener: (...args: any[]) => void): this;
}

export class Retry extends Error {
  readonly exc: Error | null;
  readonly countdown: number | null;
  readonly maxRetries: number | null;
}
export class TimeLimitExceeded extends MotetError {
  readonly excType: string;
}
export class SoftTimeLimitExceeded extends MotetError {
  readonly excType: string;
}
export class MaxRetriesExceededError extends MotetError {
  readonly excType: string;
}
export class NotRegistered extends MotetError {
  readonly excType: string;
}
