'use strict';
/** Unit tests of payloads, error mapping and client settings (no server needed). */

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const motet = require('..');
const payload = require('../lib/payload');
const { errorFromGrpc } = require('../lib/errors');
const { PROTOS, types } = require('../lib/protos');
const { RESULTS_PER_CALL } = require('../lib/client');

describe('payload', () => {
  test('numbers are written as Python writes ints and floats', () => {
    assert.equal(payload.toJson([1, -17, 0.1, 1e16, 2 ** 53, 1.5e-7, 1e-5, 0.0001, 1e300, 2n ** 70n]), '[1,-17,0.1,1e+16,9007199254740992.0,1.5e-07,1e-05,0.0001,1e+300,1180591620717411303424]');
  });

  test("docs/protocol.md's number examples: -0 is an int, integral floats are not kept as floats", () => {
    const values = [-17, 2n ** 70n, 0.0001, 0.1, 1e15 + 0.5, 2 ** 53, 1e-5, 1.5e-7, 1e16, 123456789012345680000, 5e-324, -0];
    assert.equal(payload.toJson(values), '[-17,1180591620717411303424,0.0001,0.1,1000000000000000.5,9007199254740992.0,1e-05,1.5e-07,1e+16,1.2345678901234568e+20,5e-324,0]');
    assert.equal(payload.toJson(payload.parseJson('[2.0,-0.0,9007199254740993]')), '[2,0,9007199254740993]');
    assert.throws(() => payload.toJson([NaN]), /only finite numbers/);
    assert.deepEqual(payload.parseJson('[NaN,-Infinity]'), [NaN, -Infinity]);
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

  test("docs/protocol.md's error table lists every ErrorReason with the code its proto comment gives", () => {
    // Each value's comment starts with its status code: "// INVALID_ARGUMENT: the canvas ...".
    const proto = fs.readFileSync(path.join(PROTOS, 'motet', 'v1', 'error_reason.proto'), 'utf8');
    const wanted = {};
    for (const [, comment, name] of proto.matchAll(/((?:\s*\/\/.*\n)+)\s*ERROR_REASON_(\w+) = \d+;/g)) {
      const code = comment.trim().match(/^\/\/ ([A-Z_]+):/);
      wanted[name] = code ? `\`${code[1]}\` (${grpc.status[code[1]]})` : '—';
    }
    assert.ok(Object.keys(wanted).length >= 14, Object.keys(wanted).join());
    const doc = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'docs', 'protocol.md'), 'utf8');
    const rows = {};
    for (const [, name, code] of doc.matchAll(/^ *\| `([A-Z_]+)` \| ([^|]+) \|/gm)) rows[name] = code.trim();
    const documented = Object.fromEntries(Object.keys(wanted).map((name) => [name, rows[name]]));
    assert.deepEqual(documented, wanted);
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

describe('waiting', () => {
  /**
   * A client whose results service is a stub: each WaitResult stream records the ids it was
   * asked for and answers each one SUCCESS, its value the id's number, in reverse order.
   */
  function stubbedClient() {
    const client = new motet.Client({ scheduler: '127.0.0.1:1', results: '127.0.0.1:1' });
    const streams = [];
    client._results.close();
    client._results = {
      WaitResult({ taskIds }) {
        streams.push(taskIds.length);
        const replies = taskIds
          .map((taskId) => ({ result: { taskId, state: 'TASK_STATE_SUCCESS', value: payload.encode(Number(taskId.slice(1))) } }))
          .reverse();
        return Object.assign((async function* stream() {
          yield* replies;
        })(), { cancel: () => {} });
      },
      close: () => {},
    };
    return { client, streams };
  }

  test(`a wait for more ids than one stream takes opens one stream per ${RESULTS_PER_CALL}, every result arrives`, async () => {
    const { client, streams } = stubbedClient();
    const ids = Array.from({ length: 2 * RESULTS_PER_CALL + 1 }, (_, i) => `t${i}`);
    const seen = new Set();
    for await (const result of client.wait([...ids, 't0', 't7'], 5)) {
      assert.ok(!seen.has(result.taskId), `${result.taskId} answered twice`);
      seen.add(result.taskId);
    }
    assert.deepEqual(streams, [RESULTS_PER_CALL, RESULTS_PER_CALL, 1], 'duplicates are asked for once');
    assert.equal(seen.size, ids.length);
    client.close();
  });

  test('a group wider than one stream gets every value, in order', async () => {
    const { client, streams } = stubbedClient();
    const n = RESULTS_PER_CALL + 5;
    const group = client.groupResult('g', Array.from({ length: n }, (_, i) => `t${i}`));
    const values = await group.get({ timeout: 5 });
    assert.ok(Math.max(...streams) <= RESULTS_PER_CALL, `streams of ${streams}`);
    assert.deepEqual(values, Array.from({ length: n }, (_, i) => i));
    client.close();
  });
});
