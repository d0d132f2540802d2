'use strict';
/**
 * Errors of the Motet Node SDK, mirroring `motet.exceptions` (Python):
 *
 *     MotetError                     base: .code (gRPC status, or null), .reason, .metadata
 *     ├── CanvasError                a canvas that cannot be built or compiled (here, before sending)
 *     │   └── InvalidCanvas          INVALID_ARGUMENT from a service (.violations from BadRequest)
 *     ├── EncodeError                a value JSON cannot hold, or over 1 MiB (RESOURCE_EXHAUSTED)
 *     ├── NotAuthenticated           UNAUTHENTICATED: no token, or one the service does not know
 *     ├── PermissionDenied           PERMISSION_DENIED: the token does not allow the call
 *     ├── NotFound                   NOT_FOUND: an id the services do not know
 *     ├── NotInChord                 FAILED_PRECONDITION with reason NOT_IN_CHORD
 *     ├── Timeout                    a wait ran out of time (DEADLINE_EXCEEDED)
 *     ├── Unavailable                UNAVAILABLE: no service answers at the endpoint
 *     ├── ImproperlyConfigured       a client set up wrongly (TLS files)
 *     └── TaskError                  a task failed: .excType, .message, .traceback, .taskId
 *         └── TaskRevokedError       the task was revoked (or expired) before it finished
 *
 * `errorFromGrpc` turns a @grpc/grpc-js error into one of these, reading the `google.rpc.Status`
 * in the `grpc-status-details-bin` trailer: its `ErrorInfo` (domain `motet.dev`) gives `.reason`
 * and `.metadata`, its `BadRequest` the field violations.
 */

/** The base of every error the SDK raises. */
class MotetError extends Error {
  /**
   * @param {string} message
   * @param {object} [fields]
   * @param {number|null} [fields.code] - The gRPC status code of a failed call.
   * @param {string|null} [fields.reason] - The `ErrorInfo.reason` ("INVALID_CANVAS", ...).
   * @param {Object<string,string>} [fields.metadata] - The `ErrorInfo.metadata`.
   */
  constructor(message, { code = null, reason = null, metadata = {} } = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.reason = reason;
    this.metadata = metadata;
  }
}

/** A canvas that cannot be built, compiled or submitted; the message names the part and why. */
class CanvasError extends MotetError {}

/** A service refused a canvas or request as malformed (INVALID_ARGUMENT). */
class InvalidCanvas extends CanvasError {
  /**
   * @param {string} message
   * @param {object} [fields] - As MotetError, plus `violations`: [{field, description}].
   */
  constructor(message, fields = {}) {
    super(message, fields);
    this.violations = fields.violations || [];
  }
}

/** A value that cannot be encoded for the wire, or that exceeds the 1 MiB payload limit. */
class EncodeError extends MotetError {}

/** The service requires a token (MOTET_TOKEN) and the call had none, or an unknown one. */
class NotAuthenticated extends MotetError {}

/** The token is known but does not allow the call (its roles, namespace or task names). */
class PermissionDenied extends MotetError {}

/** An id the services do not know (never saved, forgotten or expired). */
class NotFound extends MotetError {}

/** A call that needs a running chord header member came from elsewhere (reason NOT_IN_CHORD). */
class NotInChord extends MotetError {}

/** A wait for a result (or a call) ran out of time. */
class Timeout extends MotetError {}

/** A Motet service could not be reached (the message names the endpoint and what to do). */
class Unavailable extends MotetError {}

/** A client that cannot be set up as configured (a TLS file missing, a certificate without its key). */
class ImproperlyConfigured extends MotetError {}

/** A task failed; the fields come from its `motet.v1.TaskFailure`. */
class TaskError extends MotetError {
  /**
   * @param {object} failure
   * @param {string} failure.excType - The remote exception class, qualified ("builtins.ValueError").
   * @param {string} failure.message - The remote exception's message.
   * @param {string} [failure.traceback] - The remote traceback text.
   * @param {string} [failure.taskId] - The id of the task that raised it first.
   * @param {Array} [failure.excArgs] - The exception's arguments, when they were sent.
   * @param {string} [failure.kind] - The `motet.v1.FailureKind` name.
   * @param {string} [failure.state] - The result's state (FAILURE or REVOKED).
   * @param {string} [failure.resultId] - The id of the result that carries the failure.
   */
  constructor({ excType = '', message = '', traceback = '', taskId = '', excArgs = [], kind = '', state = 'FAILURE', resultId = '' }) {
    super(excType ? `${excType}: ${message}` : message);
    this.excType = excType;
    /** The remote message alone (Error's `message` also names the class). */
    this.remoteMessage = message;
    this.traceback = traceback;
    this.taskId = taskId;
    this.excArgs = excArgs;
    this.kind = kind;
    this.state = state;
    this.resultId = resultId;
  }
}

/** The task was revoked (or expired, or terminated) before it finished. */
class TaskRevokedError extends TaskError {}

// gRPC status codes (@grpc/grpc-js `status`), by name.
const CODE = {
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
  INVALID_ARGUMENT: 3,
};

const ERROR_INFO = 'type.googleapis.com/google.rpc.ErrorInfo';
const BAD_REQUEST = 'type.googleapis.com/google.rpc.BadRequest';

/**
 * The ErrorInfo reason and metadata and the BadRequest violations of a failed call.
 * @param {object} err - A @grpc/grpc-js ServiceError.
 * @returns {{reason: string|null, metadata: Object<string,string>, violations: Array<{field: string, description: string}>}}
 */
function statusDetails(err) {
  const out = { reason: null, metadata: {}, violations: [] };
  const raw = err && err.metadata && typeof err.metadata.get === 'function' ? err.metadata.get('grpc-status-details-bin') : [];
  if (!raw || raw.length === 0) return out;
  const { types } = require('./protos'); // lazy: errors.js is loaded by everything
  try {
    const status = types.Status.decode(raw[0]);
    for (const detail of status.details || []) {
      // protobufjs' bundled google/protobuf/any.proto keeps its snake_case name whatever keepCase says.
      const typeUrl = detail.typeUrl || detail.type_url;
      if (typeUrl === ERROR_INFO) {
        const info = types.ErrorInfo.decode(detail.value);
        out.reason = info.reason || null;
        out.metadata = { ...(info.metadata || {}) };
      } else if (typeUrl === BAD_REQUEST) {
        const bad = types.BadRequest.decode(detail.value);
        for (const v of bad.fieldViolations || []) out.violations.push({ field: v.field, description: v.description });
      }
    }
  } catch {
    // Undecodable details: the status code and message still say what happened.
  }
  return out;
}

/**
 * The MotetError for a failed gRPC call (as `motet.client.error_from_rpc`).
 * @param {object} err - The @grpc/grpc-js error (`code`, `details`, `metadata`).
 * @param {string} endpoint - The endpoint called (named when it is unavailable).
 * @param {string} what - What was being done ("submitting the canvas").
 * @returns {MotetError}
 */
function errorFromGrpc(err, endpoint, what) {
  const code = typeof err.code === 'number' ? err.code : null;
  const details = err.details || err.message || '';
  const { reason, metadata, violations } = statusDetails(err);
  const fields = { code, reason, metadata };
  switch (code) {
    case CODE.UNAVAILABLE:
      return new Unavailable(
        `${what}: no Motet service answers at ${endpoint} (${details}). Start a local cluster with ` +
          '`motet dev --app MODULE`, or point MOTET_SCHEDULER / MOTET_RESULTS at one (host:port)',
        fields,
      );
    case CODE.INVALID_ARGUMENT: {
      const listed = violations.length ? ` [${violations.map((v) => `${v.field}: ${v.description}`).join('; ')}]` : '';
      return new InvalidCanvas(`${what}: ${details}${listed}`, { ...fields, violations });
    }
    case CODE.NOT_FOUND:
      return new NotFound(`${what}: ${details}`, fields);
    case CODE.RESOURCE_EXHAUSTED:
      if (reason === 'CANVAS_TOO_LARGE') {
        return new InvalidCanvas(`${what}: ${details}; split it into several submissions`, { ...fields, violations });
      }
      return new EncodeError(`${what}: ${details}`, fields);
    case CODE.FAILED_PRECONDITION:
      if (reason === 'NOT_IN_CHORD') return new NotInChord(`${what}: ${details}`, fields);
      break;
    case CODE.DEADLINE_EXCEEDED:
      return new Timeout(`${what}: no answer in time from ${endpoint}`, fields);
    case CODE.UNAUTHENTICATED:
      return new NotAuthenticated(`${what}: ${details} (set MOTET_TOKEN)`, fields);
    case CODE.PERMISSION_DENIED:
      return new PermissionDenied(`${what}: ${details}`, fields);
    default:
      break;
  }
  return new MotetError(`${what}: ${details}`, fields);
}

module.exports = {
  CanvasError,
  EncodeError,
  ImproperlyConfigured,
  InvalidCanvas,
  MotetError,
  NotAuthenticated,
  NotFound,
  NotInChord,
  PermissionDenied,
  TaskError,
  TaskRevokedError,
  Timeout,
  Unavailable,
  errorFromGrpc,
  statusDetails,
};
