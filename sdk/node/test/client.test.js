'use strict';
/** Unit tests of payloads, error mapping and client settings (no server needed). */

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const grpc = require('@grpc/grpc-js');
const motet = require('..');
const payload = require('../lib/payload');
const { errorFromGrpc } = require('../lib/errors');
const { types } = require('../lib/protos');

describe('payload', () => {
  test('numbers are written as Python writes ints and floats', () => {
    assert.equal(payload.toJson([1, -17, 0.1, 1e16, 2 ** 53, 1.5e-7, 1e-5, 0.0001, 1e300, 2n ** 70n]), '[1,-17,0.1,1e+16,9007199254740992.0,1.5e-07,1e-05,0.0001,1e+300,1180591620717411303424]');
  });

  test('strings stay unescaped (ensure_ascii=False), control characters escaped', () => {
    assert.equal(payload.toJson(['é日🎉', '"\\\n\x01']), '["é日🎉","\\"\\\\\\n\\u0001"]');
  });

  test("Dates and Buffers use kombu's tagged forms", () => {
    assert.equal(payload.toJson(new Date(Date.UTC(2026, 11, 1, 21, 17, 20))), '{"__type__":"datetime","__value__":"2026-12-01T21:17:20+00:00"}');
    assert.equal(payload.toJson(Buffer.from('hi')), '{"__type__":"bytes","__value__":"hi"}');
    assert.equal(payload.toJson(Buffer.from([0xff])), '{"__type__":"base64","__value__":"/w=="}');
  });

  test('decode reads big ints as BigInt, tagged values back, refuses unknown tags', () => {
    const p = (s) => ({ encoding: 'json', data: Buffer.from(s) });
    assert.deepEqual(payload.decode(p('[1180591620717411303424, 2.5, "x"]')), [2n ** 70n, 2.5, 'x']);
    assert.deepEqual(payload.decode(p('{"__type__":"datetime","__value__":"2026-12-01T21:17:20.000005+00:00"}')), new Date(Date.UTC(2026, 11, 1, 21, 17, 20)));
    assert.deepEqual(payload.decode(p('{"__type__":"base64","__value__":"/w=="}')), Buffer.from([0xff]));
    assert.throws(() => payload.decode(p('{"__type__":"set","__value__":[]}')), /unknown type/);
    assert.throws(() => payload.decode(p('[1,')), /not valid JSON/);
    assert.equal(payload.decode({ encoding: 'json', data: Buffer.alloc(0) }, 'empty'), 'empty');
  });

  test('a value over 1 MiB is refused, not truncated', () => {
    assert.throws(() => payload.encode('x'.repeat(1 << 20)), /payload limit/);
  });
});

/** A grpc-js style error carrying a google.rpc.Status with an ErrorInfo and a BadRequest. */
function grpcError(code, reason, violations = []) {
  const any = (type, msg) => ({ type_url: `type.googleapis.com/google.rpc.${type}`, value: types[type].encode(types[type].fromObject(msg)).finish() });
  const details = [any('ErrorInfo', { reason, domain: 'motet.dev', metadata: { task_id: 'x' } })];
  if (violations.length) details.push(any('BadRequest', { fieldViolations: violations }));
  const status = types.Status.encode(types.Status.fromObject({ code, message: 'refused', details })).finish();
  const metadata = new grpc.Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from(status));
  return Object.assign(new Error('refused'), { code, details: 'refused', metadata });
}

describe('errors', () => {
  test('INVALID_ARGUMENT is InvalidCanvas with the reason, metadata and field violations', () => {
    const err = errorFromGrpc(grpcError(3, 'INVALID_CANVAS', [{ field: 'canvas.chord.body', description: 'needed' }]), 'h:1', 'submitting');
    assert.ok(err instanceof motet.InvalidCanvas && err instanceof motet.CanvasError && err instanceof motet.MotetError);
    assert.equal(err.code, 3);
    assert.equal(err.reason, 'INVALID_CANVAS');
    assert.deepEqual(err.metadata, { task_id: 'x' });
    assert.deepEqual(err.violations, [{ field: 'canvas.chord.body', description: 'needed' }]);
    assert.match(err.message, /canvas\.chord\.body: needed/);
  });

  test('each status code has its class', () => {
    const cases = [
      [16, 'UNAUTHENTICATED', motet.NotAuthenticated],
      [7, 'PERMISSION_DENIED', motet.PermissionDenied],
      [4, null, motet.Timeout],
      [14, 'STORE_UNAVAILABLE', motet.Unavailable],
      [5, 'NOT_FOUND', motet.NotFound],
      [8, 'PAYLOAD_TOO_LARGE', motet.EncodeError],
      [8, 'CANVAS_TOO_LARGE', motet.InvalidCanvas],
      [9, 'NOT_IN_CHORD', motet.NotInChord],
      [6, 'TASK_ID_IN_USE', motet.MotetError],
    ];
    for (const [code, reason, cls] of cases) {
      const err = errorFromGrpc(grpcError(code, reason || ''), 'h:1', 'calling');
      assert.ok(err instanceof cls, `${code} ${reason} -> ${err.constructor.name}`);
      assert.equal(err.reason, reason);
      assert.equal(err.code, code);
    }
  });

  test('an error without details still maps by code', () => {
    const err = errorFromGrpc({ code: 16, details: 'no token', metadata: new grpc.Metadata() }, 'h:1', 'submitting');
    assert.ok(err instanceof motet.NotAuthenticated);
    assert.equal(err.reason, null);
  });
});

describe('client settings', () => {
  function withEnv(vars, fn) {
    const saved = {};
    for (const k of Object.keys(vars)) {
      saved[k] = process.env[k];
      if (vars[k] === undefined) delete process.env[k];
      else process.env[k] = vars[k];
    }
    try {
      return fn();
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  }
  const CLEAR = { MOTET_SCHEDULER: undefined, MOTET_RESULTS: undefined, MOTET_TOKEN: undefined, MOTET_NAMESPACE: undefined, MOTET_TLS_CA: undefined, MOTET_TLS_CERT: undefined, MOTET_TLS_KEY: undefined };

  test("defaults are the Python SDK's; the environment and then arguments override them", () => {
    withEnv(CLEAR, () => {
      const c = new motet.Client();
      assert.deepEqual([c.scheduler, c.results, c.token, c.namespace], ['127.0.0.1:7410', '127.0.0.1:7411', null, null]);
      assert.deepEqual(c._metadata().getMap(), {});
      c.close();
    });
    withEnv({ ...CLEAR, MOTET_SCHEDULER: 'a:1', MOTET_RESULTS: 'b:2', MOTET_TOKEN: 't0k', MOTET_NAMESPACE: 'ns' }, () => {
      const c = new motet.Client();
      assert.deepEqual([c.scheduler, c.results], ['a:1', 'b:2']);
      assert.deepEqual(c._metadata().getMap(), { 'motet-namespace': 'ns', authorization: 'Bearer t0k' });
      c.close();
      const d = new motet.Client({ scheduler: 'c:3', token: 'other', namespace: 'mine' });
      assert.equal(d.scheduler, 'c:3');
      assert.deepEqual(d._metadata().getMap(), { 'motet-namespace': 'mine', authorization: 'Bearer other' });
      d.close();
    });
  });

  test('TLS settings that cannot work are refused at once', () => {
    withEnv(CLEAR, () => {
      assert.throws(() => new motet.Client({ tls: { cert: 'c.pem', key: 'k.pem' } }), motet.ImproperlyConfigured);
      assert.throws(() => new motet.Client({ tls: { ca: '/nonexistent/ca.pem' } }), /cannot read the TLS CA/);
      assert.throws(() => new motet.Client({ tls: { ca: Buffer.from('x'), cert: 'c.pem' } }), /MOTET_TLS_KEY/);
    });
  });

  test('a result that is not bound to a client says so', async () => {
    const r = motet.signature('t').freeze();
    await assert.rejects(r.get(), /not bound to a client/);
  });
});
