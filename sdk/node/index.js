'use strict';
/**
 * Motet for Node.js: build Celery-style canvases (chain, group, chord, map, starmap, chunks),
 * submit them to a Motet scheduler over gRPC and wait for their results.
 *
 *     const { Client, chord, group, signature } = require('motet');
 *     const client = new Client();
 *     const result = await client.submit(chord([signature('proj.add', [2, 2])], signature('proj.xsum')));
 *     console.log(await result.get({ timeout: 10 }));
 */

const canvas = require('./lib/canvas');
const errors = require('./lib/errors');
const payload = require('./lib/payload');
const result = require('./lib/result');
const client = require('./lib/client');
const worker = require('./lib/worker');

module.exports = {
  // canvas
  Signature: canvas.Signature,
  Chain: canvas.Chain,
  Group: canvas.Group,
  Chord: canvas.Chord,
  MapSignature: canvas.MapSignature,
  Chunks: canvas.Chunks,
  signature: canvas.signature,
  sig: canvas.sig,
  si: canvas.si,
  chain: canvas.chain,
  group: canvas.group,
  chord: canvas.chord,
  map: canvas.map,
  starmap: canvas.starmap,
  chunks: canvas.chunks,
  compose: canvas.compose,
  freeze: canvas.freeze,
  toProto: canvas.toProto,
  toBinary: canvas.toBinary,
  setIdFactory: canvas.setIdFactory,
  MAX_DEPTH: canvas.MAX_DEPTH,
  // client and results
  Client: client.Client,
  AsyncResult: result.AsyncResult,
  GroupResult: result.GroupResult,
  READY_STATES: result.READY_STATES,
  // payloads
  encode: payload.encode,
  decode: payload.decode,
  // errors
  MotetError: errors.MotetError,
  CanvasError: errors.CanvasError,
  InvalidCanvas: errors.InvalidCanvas,
  EncodeError: errors.EncodeError,
  NotAuthenticated: errors.NotAuthenticated,
  PermissionDenied: errors.PermissionDenied,
  NotFound: errors.NotFound,
  NotInChord: errors.NotInChord,
  Timeout: errors.Timeout,
  Unavailable: errors.Unavailable,
  ImproperlyConfigured: errors.ImproperlyConfigured,
  TaskError: errors.TaskError,
  TaskRevokedError: errors.TaskRevokedError,
  // worker
  Worker: worker.Worker,
  TaskContext: worker.TaskContext,
  Retry: worker.Retry,
  TimeLimitExceeded: worker.TimeLimitExceeded,
  SoftTimeLimitExceeded: worker.SoftTimeLimitExceeded,
  MaxRetriesExceededError: worker.MaxRetriesExceededError,
  NotRegistered: worker.NotRegistered,
};
