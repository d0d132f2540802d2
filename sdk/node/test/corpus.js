'use strict';
/**
 * The shared canvas corpus, built with the Node builders: the same canvases, in the same order
 * and with the same names, as `tests/polyglot/corpus.py` builds with the Python SDK. Keep the
 * two lists in step. `corpus.test.js` freezes each with the id generator "NAME-1", "NAME-2", ...
 * and compares the serialized `motet.v1.Canvas` with Python's, byte for byte.
 *
 * (Loaded by `node --test` as a file of the test folder too; it declares no test.)
 */

const { chain, chord, chunks, group, map, signature, starmap } = require('..');

/** A signature of task `tasks.NAME` (Python's `task.s(*args, **kwargs)`). */
const s = (name, args = [], kwargs = {}, options = {}) => signature(`tasks.${name}`, args, kwargs, options);
/** An immutable signature (Python's `task.si(...)`). */
const si = (name, args = [], kwargs = {}) => signature(`tasks.${name}`, args, kwargs, { immutable: true });

/** @type {Array<[string, () => import('..').Signature]>} */
const CORPUS = [
  ['plain', () => s('add', [2, 3], { debug: true })],
  [
    'all_options',
    () =>
      s('add', [1, 2], {}, {
        taskId: 'fixed-task-id',
        countdown: 1.5,
        eta: new Date(Date.UTC(2026, 11, 1, 21, 17, 20, 500)),
        expires: 30,
        queue: 'fast',
        priority: 7,
        timeLimit: 10,
        softTimeLimit: 5.5,
        maxRetries: 2,
        retries: 1,
        ignoreResult: true,
        routingKey: 'fast.add',
      }),
  ],
  ['zero_options', () => s('add', [], {}, { countdown: 0, priority: 0, maxRetries: 0, retries: 0 })],
  ['expires_at', () => s('add', [1], {}, { expires: new Date(Date.UTC(2027, 0, 2, 3, 4, 5)) })],
  ['immutable', () => si('add', [5, 5])],
  [
    'links',
    () => {
      const sig = s('add', [1, 1]);
      sig.link(s('log_result'));
      sig.link(s('notify', ['done']));
      sig.linkError(si('log_error', ['oops']));
      return sig;
    },
  ],
  ['chain', () => chain(s('add', [2, 2]), s('add', [4]), s('mul', [3]))],
  [
    'nested_chain',
    () => chain(s('add', [1, 1]), chain(s('add', [2]), s('add', [3])), chain([s('mul', [2]), s('add', [1])], { queue: 'slow' })),
  ],
  [
    'chain_options_links',
    () => {
      const c = chain([s('add', [1, 1]), s('mul', [2])], { countdown: 2, priority: 5 });
      c.link(s('log_result'));
      c.linkError(s('log_error'));
      return c;
    },
  ],
  ['chain_immutable_step', () => chain(s('add', [1, 1]), si('add', [5, 5]), s('mul', [2]))],
  ['group', () => group([s('add', [1, 1]), s('add', [2, 2]), s('mul', [3, 3])], { queue: 'wide' })],
  ['group_in_group', () => group(group([s('add', [1, 1]), s('add', [2, 2])], { priority: 3 }), s('mul', [3, 3]))],
  [
    'group_with_link_in_group',
    () => {
      const inner = group(s('add', [1, 1]), s('add', [2, 2]));
      inner.link(s('xsum'));
      return group(inner, s('mul', [3, 3]));
    },
  ],
  ['chain_ending_in_group_in_group', () => group(chain(s('add', [1, 1]), group(s('mul', [2]), s('mul', [3]))), s('add', [9, 9]))],
  ['chord', () => chord([s('add', [1, 1]), s('add', [2, 2])], s('xsum'))],
  ['chord_chain_body', () => chord([s('add', [1, 1]), s('add', [2, 2])], chain(s('xsum'), s('mul', [10])))],
  [
    'chord_from_group_with_ids',
    () => {
      const header = group([s('add', [1, 1]), s('add', [2, 2])], { taskId: 'header-id', queue: 'q' });
      return chord(header, s('xsum'), { taskId: 'body-id', softTimeLimit: 3 });
    },
  ],
  [
    'chord_link',
    () => {
      const c = chord([s('add', [1, 1]), s('add', [2, 2])], s('xsum'));
      c.link(s('log_result'));
      c.linkError(s('on_chord_error'));
      return c;
    },
  ],
  ['chain_ending_in_chord', () => chain(s('add', [1, 1]), chord([s('add', [2]), s('add', [3])], s('xsum')))],
  ['chain_group_then_task', () => chain(s('add', [2, 2]), group(s('mul', [1]), s('mul', [2])), s('xsum'), s('mul', [3]))],
  ['chord_in_chord_header', () => chord([chord([s('add', [1, 1]), s('add', [2, 2])], s('xsum')), s('add', [3, 3])], s('xsum'))],
  ['chain_of_two_chords', () => chain(chord([s('add', [1, 1]), s('add', [2, 2])], s('xsum')), chord([s('add', [3]), s('add', [4])], s('xsum')))],
  ['chain_of_two_groups', () => chain(group(s('add', [1, 1]), s('add', [2, 2])), group(s('mul', [2]), s('mul', [3])))],
  ['chain_one_member_group', () => chain(s('add', [1, 1]), group(s('mul', [2])))],
  ['map_in_chain', () => chain(s('add', [1, 1]), map(s('add', [1]), [1, 2]))],
  ['map', () => map(s('add', [10]), [1, 2, 3])],
  [
    'starmap',
    () =>
      starmap(
        s('add'),
        [
          [1, 2],
          [3, 4],
          [5, 6],
        ],
        { queue: 'maps' },
      ),
  ],
  ['chunks', () => chunks(s('add'), Array.from({ length: 7 }, (_, i) => [i, i]), 3)],
  ['chunks_then_body', () => chunks(s('add'), Array.from({ length: 4 }, (_, i) => [i, i]), 2).pipe(s('tsum'))],
  [
    'unicode',
    () =>
      s('identity', ['héllo', '日本語', 'emoji 🎉', 'quote " backslash \\ newline \n tab \t ctrl \x01 del \x7f'], {
        ключ: 'значение',
        é: ['ü', { ß: '∑' }],
      }),
  ],
  [
    'numbers',
    () =>
      s('identity', [
        2n ** 70n,
        -(2n ** 64n),
        9007199254740993n,
        1e16,
        9007199254740994,
        1.5e-7,
        0.1,
        1e300,
        -2.5e-310,
        123456789.123,
        1 / 3,
        0.0001,
        1e-5,
        -0.5,
        0,
        -17,
        true,
        null,
        [],
        {},
      ]),
  ],
  [
    'some_ids_given',
    () => {
      // freeze computes a fresh id before it looks for an existing one (Python's dict.setdefault):
      // the id it then drops still counts, so the ids after it are numbered one higher.
      const first = s('add', [1, 1], {}, { taskId: 'given-first' });
      return chain(first, chord([s('mul', [2]), s('mul', [3], {}, { taskId: 'given-member' })], s('xsum')), s('add', [1]));
    },
  ],
  [
    'explicit_ids',
    () =>
      chord(
        [s('add', [1, 1], {}, { taskId: 'm1' }), s('add', [2, 2], {}, { taskId: 'm2' })],
        s('xsum', [], {}, { taskId: 'the-body' }),
        { groupId: 'the-header' },
      ),
  ],
];

module.exports = { CORPUS };
