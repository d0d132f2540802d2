'use strict';
/** Unit tests of the builders: the messages they compile to, the ids freeze assigns, the `|` rules. */

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const motet = require('..');
const { types } = require('../lib/protos');

const { chain, chord, chunks, group, map, si, sig, signature, starmap, setIdFactory, CanvasError } = motet;
const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const text = (p) => Buffer.from(p.data).toString('utf8');

/** Runs `fn` with ids id-1, id-2, ... */
function withIds(fn) {
  let k = 0;
  const previous = setIdFactory(() => `id-${++k}`);
  try {
    return fn();
  } finally {
    setIdFactory(previous);
  }
}

describe('signature', () => {
  test('compiles name, JSON args / kwargs and camelCase options; defaults are left out', () => {
    const s = signature('proj.add', [2, 3], { debug: true }, { queue: 'fast', countdown: 0, priority: 0 });
    const { signature: m } = s.toProto();
    assert.equal(m.task, 'proj.add');
    assert.equal(m.args.encoding, 'json');
    assert.equal(text(m.args), '[2,3]');
    assert.equal(text(m.kwargs), '{"debug":true}');
    assert.deepEqual(m.options, { queue: 'fast', countdown: 0, priority: 0 });
  });

  test('every option reaches its field; carried Celery options go to extra under their Python names', () => {
    const eta = new Date(Date.UTC(2026, 11, 1, 21, 17, 20, 500));
    const s = signature('t', [], {}, {
      taskId: 'x',
      countdown: 1.5,
      eta,
      expires: 30,
      queue: 'q',
      priority: 7,
      timeLimit: 10,
      softTimeLimit: 5,
      maxRetries: 2,
      retries: 1,
      ignoreResult: true,
      routingKey: 'rk',
    });
    const o = s.toProto().signature.options;
    assert.deepEqual({ ...o, extra: undefined }, {
      taskId: 'x',
      queue: 'q',
      countdown: 1.5,
      timeLimit: 10,
      softTimeLimit: 5,
      maxRetries: 2,
      priority: 7,
      retries: 1,
      ignoreResult: true,
      eta: { seconds: Math.floor(eta.getTime() / 1000), nanos: 500e6 },
      expires: 30,
      extra: undefined,
    });
    assert.equal(text(o.extra), '{"routing_key":"rk"}');
    const at = signature('t', [], {}, { expires: '2027-01-02T03:04:05' }).toProto().signature.options;
    assert.deepEqual(at.expiresAt, { seconds: Date.UTC(2027, 0, 2, 3, 4, 5) / 1000 }, 'a naive ISO time is UTC');
  });

  test('snake_case option names are accepted; unknown names and bad values are refused', () => {
    assert.equal(signature('t', [], {}, { task_id: 'a', soft_time_limit: 2 }).options.softTimeLimit, 2);
    assert.throws(() => signature('t', [], {}, { nope: 1 }), CanvasError);
    assert.throws(() => signature('t', [], {}, { priority: 10 }), /priority must be between 0 and 9/);
    assert.throws(() => signature('t', [], {}, { countdown: -1 }), /countdown must not be negative/);
    assert.throws(() => signature('t', [], {}, { timeLimit: 0 }), /timeLimit must be positive/);
    assert.throws(() => signature('t', 'not a list'), /args must be an array/);
    assert.throws(() => signature(''), /task name/);
  });

  test('immutable: si(), .si(), the option and set()', () => {
    assert.equal(si('t', [1]).toProto().signature.options.immutable, true);
    assert.equal(sig('t').si().immutable, true);
    assert.equal(sig('t', [], {}, { immutable: true }).immutable, true);
    const s = sig('t').set({ immutable: true, queue: 'q' });
    assert.deepEqual(s.toProto().signature.options, { queue: 'q', immutable: true });
    assert.equal(sig('t').toProto().signature.options.immutable, undefined);
  });

  test('clone prepends partial args and merges kwargs, except when immutable', () => {
    const s = sig('t', [2], { a: 1 });
    const c = s.clone([1], { b: 2 }, { queue: 'q' });
    assert.deepEqual([c.args, c.kwargs, c.options.queue], [[1, 2], { a: 1, b: 2 }, 'q']);
    assert.deepEqual(s.args, [2]);
    assert.deepEqual(si('t', [2]).clone([1]).args, [2]);
  });

  test('freeze assigns a UUID4 once, keeps a given id, and links callbacks to the task', () => {
    const s = sig('t');
    const cb = s.link(sig('cb'));
    s.link(sig('cb')); // an equal callback is linked once
    s.linkError(sig('eb'));
    const r = s.freeze();
    assert.match(r.id, UUID4);
    assert.equal(s.freeze().id, r.id, 'freezing twice is harmless');
    assert.equal(s.options.link.length, 1);
    assert.equal(cb.options.parentId, r.id);
    assert.equal(cb.options.rootId, r.id);
    assert.equal(sig('t', [], {}, { taskId: 'mine' }).freeze().id, 'mine');
    assert.equal(sig('t', [], {}, { ignoreResult: true }).freeze().ignored, true);
  });
});

describe('chain', () => {
  test('steps get root and parent ids; the result is the last step, its parent the one before', () => {
    withIds(() => {
      const c = chain(sig('a'), sig('b'), sig('c'));
      const r = c.freeze();
      const steps = c.toProto().chain.tasks.map((t) => t.signature.options);
      assert.deepEqual(steps, [
        { taskId: 'id-1', rootId: 'id-1' },
        { taskId: 'id-2', rootId: 'id-1', parentId: 'id-1' },
        { taskId: 'id-3', rootId: 'id-1', parentId: 'id-2' },
      ]);
      assert.equal(r.id, 'id-3');
      assert.equal(r.parent.id, 'id-2');
      assert.equal(r.parent.parent.id, 'id-1');
    });
  });

  test('nested chains are spliced in, a chain with options stays one step', () => {
    const c = chain(sig('a'), chain(sig('b'), sig('c')), chain([sig('d'), sig('e')], { queue: 'q' }));
    assert.ok(c instanceof motet.Chain);
    assert.deepEqual(
      c.tasks.map((t) => t.constructor.name),
      ['Signature', 'Signature', 'Signature', 'Chain'],
    );
  });

  test('a group followed by a step becomes a chord; a chain of a group then a task is a chord', () => {
    const c = chain(sig('a'), group(sig('b'), sig('c')), sig('d'));
    assert.deepEqual(
      c.tasks.map((t) => t.constructor.name),
      ['Signature', 'Chord'],
    );
    assert.ok(chain(group(sig('b'), sig('c')), sig('d')) instanceof motet.Chord);
    assert.ok(sig('a').pipe(sig('b')) instanceof motet.Chain);
  });

  test('chain options (and callbacks) are compiled on the chain', () => {
    const c = chain([sig('a'), sig('b')], { priority: 5 });
    c.link(sig('done'));
    const m = c.toProto().chain;
    assert.equal(m.options.priority, 5);
    assert.equal(m.options.link[0].signature.task, 'done');
  });

  test("clone with partial args: a chain's first step, a group's and a chord header's members get them", () => {
    const c = chain(sig('a', [1]), sig('b')).clone([0], { k: 1 }, { queue: 'q' });
    assert.deepEqual([c.tasks[0].args, c.tasks[0].kwargs, c.tasks[1].args, c.options.queue], [[0, 1], { k: 1 }, [], 'q']);
    const g = group(sig('a'), si('b', [2])).clone([9]);
    assert.deepEqual(g.tasks.map((t) => t.args), [[9], [2]]);
    const h = chord([sig('a')], sig('body')).clone([7]);
    assert.deepEqual([h.tasks[0].args, h.body.args], [[7], []]);
    assert.throws(() => map('t', [1]).clone([1]), /no partial arguments/);
  });

  test('an empty chain cannot be compiled or frozen', () => {
    assert.throws(() => chain().toProto(), /at least one task/);
    assert.throws(() => chain().freeze(), /at least one task/);
  });
});

describe('group and chord', () => {
  test('a group: its id, members in order with group id and index, a GroupResult', () => {
    withIds(() => {
      const g = group([sig('a'), sig('b')], { queue: 'q' });
      const r = g.freeze();
      const m = g.toProto().group;
      assert.equal(m.options.taskId, 'id-1');
      assert.equal(m.options.queue, 'q');
      assert.deepEqual(
        m.tasks.map((t) => [t.signature.options.groupId, t.signature.options.groupIndex]),
        [
          ['id-1', 0],
          ['id-1', 1],
        ],
      );
      assert.ok(r instanceof motet.GroupResult);
      assert.deepEqual(
        r.results.map((x) => x.id),
        m.tasks.map((t) => t.signature.options.taskId),
      );
    });
  });

  test('a group directly in a group is spliced at freeze, passing on its options', () => {
    const g = group(group([sig('a'), sig('b')], { priority: 3 }), sig('c'));
    g.freeze();
    const members = g.toProto().group.tasks.map((t) => t.signature);
    assert.deepEqual(
      members.map((s) => [s.task, s.options.priority, s.options.groupIndex]),
      [
        ['a', 3, 0],
        ['b', 3, 1],
        ['c', undefined, 2],
      ],
    );
  });

  test('a chord: header group id in options.groupId, the body takes the chord taskId, parent is the header', () => {
    withIds(() => {
      const c = chord([sig('a'), sig('b')], sig('body'), { taskId: 'the-body' });
      const r = c.freeze();
      const m = c.toProto().chord;
      assert.equal(m.options.groupId, 'id-1');
      assert.equal(m.options.taskId, undefined);
      assert.equal(m.body.signature.options.taskId, 'the-body');
      assert.equal(r.id, 'the-body');
      assert.ok(r.parent instanceof motet.GroupResult);
      assert.equal(r.parent.id, 'id-1');
      assert.deepEqual(
        m.header.map((h) => h.signature.options.groupId),
        ['id-1', 'id-1'],
      );
    });
  });

  test('a chord of a group takes its id as header id and its options', () => {
    const c = chord(group([sig('a')], { taskId: 'hdr', queue: 'q' }), sig('body'));
    assert.equal(c.options.groupId, 'hdr');
    assert.equal(c.options.queue, 'q');
    assert.throws(() => chord([sig('a')]).toProto(), /no body/);
  });

  test('chord link and linkError go to the body', () => {
    const body = sig('body');
    const c = chord([sig('a')], body);
    c.link(sig('cb'));
    c.linkError(sig('eb'));
    assert.equal(body.options.link.length, 1);
    assert.equal(body.options.linkError.length, 1);
  });
});

describe('map, starmap, chunks', () => {
  test('map and starmap compile to one Map node', () => {
    const m = map(sig('add', [10]), [1, 2, 3]).toProto().map;
    assert.equal(m.task.task, 'add');
    assert.equal(text(m.task.args), '[10]');
    assert.equal(text(m.items), '[1,2,3]');
    assert.equal(m.starmap, undefined);
    const sm = starmap('add', [[1, 2]], { queue: 'q' }).toProto().map;
    assert.equal(sm.starmap, true);
    assert.equal(sm.options.queue, 'q');
    assert.throws(() => starmap('add', [1]), /must be an array of arguments/);
  });

  test('chunks: member ids for each chunk, a GroupResult of them', () => {
    const ck = chunks('add', Array.from({ length: 7 }, (_, i) => [i, i]), 3);
    const r = ck.freeze();
    const m = ck.toProto().chunks;
    assert.equal(m.size, 3);
    assert.equal(m.memberIds.length, 3);
    assert.deepEqual(
      r.results.map((x) => x.id),
      m.memberIds,
    );
    assert.equal(m.options.taskId, r.id);
    assert.equal(m.options.rootId, m.memberIds[0]);
    assert.throws(() => chunks('add', [[1]], 0), /at least 1/);
  });

  test('chunks | body is a chord over the chunk tasks', () => {
    const c = chunks('add', [[1, 1], [2, 2]], 1).pipe(sig('tsum'));
    assert.ok(c instanceof motet.Chord);
    assert.equal(c.tasks.length, 2);
    assert.ok(c.tasks.every((t) => t instanceof motet.MapSignature && t.starmap));
  });
});

describe('compile', () => {
  test('toBinary is the protobuf encoding of toProto', () => {
    const c = chain(sig('a', [1]), group(sig('b'), sig('c')), sig('d'));
    c.freeze();
    const decoded = types.Canvas.toObject(types.Canvas.decode(c.toBinary()), { longs: Number, bytes: Buffer });
    assert.equal(decoded.chain.tasks.length, 2);
    assert.equal(decoded.chain.tasks[1].chord.body.signature.task, 'd');
  });

  test('a canvas nested deeper than MAX_DEPTH is refused', () => {
    let c = sig('t');
    for (let i = 0; i < motet.MAX_DEPTH + 1; i++) c = group(c, sig('u'));
    assert.throws(() => c.toProto(), /nested deeper than 32/);
  });

  test('values JSON cannot hold are refused with EncodeError naming the argument', () => {
    assert.throws(() => sig('t', [NaN]).toProto(), (err) => err instanceof motet.EncodeError && /argument/.test(err.message));
    assert.throws(() => sig('t', [new Map()]).toProto(), motet.EncodeError);
  });
});
