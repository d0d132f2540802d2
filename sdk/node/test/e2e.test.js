'use strict';
/**
 * End to end: the Node client against a real cluster of the Python services.
 *
 * `motet dev --app examples.guide.tasks` (etcd, scheduler, results, a worker running the guide's
 * Python tasks) is started as a detached child on free ports, with its data under a private
 * temporary folder; a second scheduler started with `--tokens` and a results service started
 * with `--tls-cert` (a throwaway CA from tests/support/certs.py), both on the same etcd, check
 * bearer tokens and TLS. `after()` stops them all by pid (SIGTERM to their process groups; `motet dev` stops its own
 * services), then checks that no process they started is left running.
 */

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawn } = require('node:child_process');
const motet = require('..');
const { REPO, python, pythonEnv } = require('./support');

const { Client, chain, chord, chunks, group, map, signature, starmap } = motet;
const T = 'examples.guide.tasks';
const task = (name, args = [], kwargs = {}, options = {}) => signature(`${T}.${name}`, args, kwargs, options);
const GET = { timeout: 30 };

/** A TCP port nobody listens on now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a detached child and resolves once a line of its output matches `ready`.
 * @returns {Promise<{proc: import('node:child_process').ChildProcess, match: RegExpMatchArray, output: () => string}>}
 */
function startProcess(argv, env, ready, timeoutMs = 60000) {
  return new Promise((resolve, reject) => {
    const proc = spawn(argv[0], argv.slice(1), { cwd: REPO, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    const timer = setTimeout(() => {
      stopGroup(proc);
      reject(new Error(`${argv.join(' ')} did not get ready in ${timeoutMs} ms:\n${text}`));
    }, timeoutMs);
    const onData = (chunk) => {
      text += chunk.toString();
      const match = text.match(ready);
      if (match) {
        clearTimeout(timer);
        resolve({ proc, match, output: () => text });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${argv.join(' ')} exited (${code}) before it was ready:\n${text}`));
    });
  });
}

/** The pids of the processes whose parent is `pid` (from /proc). */
function childrenOf(pid) {
  const out = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM to the child's process group, SIGKILL after `graceMs`; resolves when it exited. */
async function stopGroup(proc, graceMs = 30000) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  try {
    process.kill(-proc.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

describe('against a motet dev cluster', { timeout: 240000 }, () => {
  let dir;
  let dev;
  let secured;
  let tls;
  let client;
  const started = []; // pids of the services the dev process started

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'motet-node-e2e-'));
    const [schedulerPort, resultsPort, securedPort] = [await freePort(), await freePort(), await freePort()];
    const scheduler = `127.0.0.1:${schedulerPort}`;
    const results = `127.0.0.1:${resultsPort}`;
    dev = await startProcess(
      [python(), '-m', 'motet_server.cli.main', 'dev', '--app', T, '--quiet', '--grace', '1', '--concurrency', '4'],
      pythonEnv({ MOTET_SCHEDULER: scheduler, MOTET_RESULTS: results, TMPDIR: dir }),
      /motet dev ready scheduler=(\S+) results=(\S+) etcd=(\S+)/,
    );
    started.push(...childrenOf(dev.proc.pid));
    assert.ok(started.length >= 4, `motet dev runs etcd, scheduler, results and a worker (children: ${started})`);
    const etcd = dev.match[3];
    const tokens = path.join(dir, 'tokens.json');
    const workers = { name: 'js-workers', roles: ['worker'], token: 'worker-token', tasks: ['js.*'], queues: ['node-secured'] };
    fs.writeFileSync(tokens, JSON.stringify({ tokens: [{ name: 'api', roles: ['client'], token: 'good-token' }, workers] }));
    secured = await startProcess(
      [python(), '-m', 'motet', 'scheduler', '--listen', `127.0.0.1:${securedPort}`, '--etcd', etcd, '--tokens', tokens],
      pythonEnv({ TMPDIR: dir }),
      /motet scheduler listening/,
    );
    secured.endpoint = `127.0.0.1:${securedPort}`;
    const makeCerts = [
      'from pathlib import Path',
      'from tests.support.certs import CA',
      `ca = CA(Path(${JSON.stringify(path.join(dir, 'ca'))}))`,
      'server = ca.issue("server")',
      'print(ca.path, server.cert, server.key)',
    ].join('\n');
    const [ca, cert, key] = execFileSync(python(), ['-c', makeCerts], { cwd: REPO, env: pythonEnv(), encoding: 'utf8' }).trim().split(' ');
    const tlsPort = await freePort();
    tls = await startProcess(
      [python(), '-m', 'motet', 'results', '--listen', `127.0.0.1:${tlsPort}`, '--etcd', etcd, '--tls-cert', cert, '--tls-key', key],
      pythonEnv({ TMPDIR: dir }),
      /motet results listening/,
    );
    Object.assign(tls, { endpoint: `127.0.0.1:${tlsPort}`, ca });
    client = new Client({ scheduler, results });
  });

  after(async () => {
    if (client) client.close();
    await stopGroup(secured && secured.proc);
    await stopGroup(tls && tls.proc);
    if (dev) started.push(...childrenOf(dev.proc.pid).filter((p) => !started.includes(p)));
    await stopGroup(dev && dev.proc);
    const left = started.filter(alive);
    for (const pid of left) process.kill(pid, 'SIGKILL'); // only ours, by pid
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(left, [], 'processes of the cluster were left running');
  });

  test('a signature', async () => {
    const result = await client.submit(task('add', [2, 2]));
    assert.equal(typeof result.id, 'string');
    assert.equal(result.submitted.resultId, result.id);
    assert.equal(await result.get(GET), 4);
    assert.equal(await result.state(), 'SUCCESS');
  });

  test('a chain passes each result on', async () => {
    const result = await client.submit(chain(task('add', [2, 2]), task('add', [4]), task('mul', [3])));
    assert.equal(await result.get(GET), 24);
    assert.ok(result.parent, 'the last step knows the step before');
    assert.equal(await result.parent.get(GET), 8);
  });

  test('a group gives its values in order, over one stream', async () => {
    const result = await client.submit(group(task('add', [1, 1]), task('add', [2, 2]), task('mul', [3, 3]), task('add', [0, 0])));
    assert.ok(result instanceof motet.GroupResult);
    assert.equal(result.submitted.resultId, result.id);
    assert.deepEqual(await result.get(GET), [2, 4, 9, 0]);
  });

  test('a chord applies its body to the header values once', async () => {
    const header = [0, 1, 2, 3, 4].map((i) => task('add', [i, i]));
    const result = await client.submit(chord(header, task('xsum')));
    assert.equal(await result.get(GET), 20);
    assert.deepEqual(await result.parent.get(GET), [0, 2, 4, 6, 8]);
  });

  test('a chain ending in a chord with a chain body', async () => {
    const canvas = chain(task('add', [1, 1]), chord([task('add', [1]), task('mul', [10])], chain(task('xsum'), task('mul', [2]))));
    const result = await client.submit(canvas);
    assert.equal(await result.get(GET), 2 * (3 + 20));
  });

  test('map, starmap and chunks', async () => {
    assert.deepEqual(await (await client.submit(map(task('add', [10]), [1, 2, 3]))).get(GET), [11, 12, 13]);
    assert.deepEqual(await (await client.submit(starmap(task('add'), [[1, 2], [3, 4]]))).get(GET), [3, 7]);
    const ck = await client.submit(chunks(task('add'), [[1, 1], [2, 2], [3, 3]], 2));
    assert.deepEqual(await ck.get(GET), [[2, 4], [6]]);
  });

  test('values cross the wire intact: big ints, floats, unicode, nested data', async () => {
    const value = { big: 2n ** 70n, small: -17, float: 0.1, tiny: 1.5e-7, text: 'héllo 日本語 🎉 "q" \\ \n', list: [null, true, [1, { a: 'b' }]] };
    assert.deepEqual(await (await client.submit(task('identity', [value]))).get(GET), value);
  });

  test('a failing task raises TaskError with the remote class, message, traceback and task id', async () => {
    const result = await client.submit(task('raising_task'));
    await assert.rejects(result.get(GET), (err) => {
      assert.ok(err instanceof motet.TaskError);
      assert.ok(err instanceof motet.MotetError);
      assert.equal(err.excType, 'builtins.ValueError');
      assert.equal(err.remoteMessage, 'something something');
      assert.match(err.message, /ValueError: something something/);
      assert.match(err.traceback, /raising_task/);
      assert.equal(err.taskId, result.id);
      return true;
    });
    assert.equal(await result.state(), 'FAILURE');
    const returned = await result.get({ ...GET, propagate: false });
    assert.ok(returned instanceof motet.TaskError);
  });

  test('a failing chord member fails the group wait with that member', async () => {
    const result = await client.submit(group(task('add', [1, 1]), task('raising_task')));
    await assert.rejects(result.get(GET), (err) => err instanceof motet.TaskError && err.excType === 'builtins.ValueError');
  });

  test("a chord whose header failed throws the member's error; the body's own is a ChordError", async () => {
    const result = await client.submit(chord([task('add', [1, 1]), task('raising_task')], task('xsum')));
    await assert.rejects(result.get(GET), (err) => err instanceof motet.TaskError && err.excType === 'builtins.ValueError');
    await assert.rejects(result.get({ ...GET, followParents: false }), (err) => {
      assert.equal(err.excType, 'motet.exceptions.ChordError');
      assert.notEqual(err.taskId, result.id, 'the failure names the member that raised first');
      return true;
    });
  });

  test('a chain whose first step failed throws that step\'s error from its last step', async () => {
    const result = await client.submit(chain(task('raising_task'), task('add', [1]), task('mul', [2])));
    await assert.rejects(result.get(GET), (err) => err.excType === 'builtins.ValueError' && err.taskId === result.parent.parent.id);
  });

  test('a revoked task raises TaskRevokedError', async () => {
    const result = await client.submit(task('add', [1, 1], {}, { countdown: 60 }));
    await result.revoke();
    await assert.rejects(result.get(GET), (err) => err instanceof motet.TaskRevokedError && err.state === 'REVOKED');
  });

  test('an invalid canvas is refused with InvalidCanvas, its reason and field violations', async () => {
    await assert.rejects(client.submitCanvas({ chain: { tasks: [] } }), (err) => {
      assert.ok(err instanceof motet.InvalidCanvas);
      assert.equal(err.code, 3); // INVALID_ARGUMENT
      assert.equal(err.reason, 'INVALID_CANVAS');
      assert.ok(err.violations.some((v) => v.field === 'canvas.chain.tasks'), JSON.stringify(err.violations));
      return true;
    });
  });

  test('get({timeout}) runs out with Timeout, saying no worker serves the queue', async () => {
    const result = await client.submit(task('add', [1, 1], {}, { queue: 'nobody-serves-this' }));
    const begun = Date.now();
    await assert.rejects(result.get({ timeout: 1 }), (err) => {
      assert.ok(err instanceof motet.Timeout, String(err));
      assert.match(err.message, /timed out after 1 s/);
      assert.match(err.message, /no connected worker serves examples\.guide\.tasks\.add on queue nobody-serves-this/);
      return true;
    });
    assert.ok(Date.now() - begun < 10000);
    await result.revoke();
  });

  test('a scheduler started with --tokens refuses a bad or missing token with NotAuthenticated', async () => {
    for (const token of ['wrong-token', undefined]) {
      const bad = new Client({ scheduler: secured.endpoint, results: client.results, token });
      try {
        await assert.rejects(bad.submit(task('add', [1, 1])), (err) => {
          assert.ok(err instanceof motet.NotAuthenticated, String(err));
          assert.equal(err.code, 16); // UNAUTHENTICATED
          assert.equal(err.reason, 'UNAUTHENTICATED');
          return true;
        });
      } finally {
        bad.close();
      }
    }
    const good = new Client({ scheduler: secured.endpoint, results: client.results, token: 'good-token' });
    try {
      const result = await good.submit(task('add', [3, 4]));
      assert.equal(result.submitted.created, true);
    } finally {
      good.close();
    }
  });

  test('TLS: a CA (argument or MOTET_TLS_CA) reaches a TLS service; plaintext does not', async () => {
    const secure = new Client({ scheduler: client.scheduler, results: tls.endpoint, tls: { ca: tls.ca } });
    const saved = process.env.MOTET_TLS_CA;
    process.env.MOTET_TLS_CA = tls.ca;
    const fromEnv = new Client({ scheduler: client.scheduler, results: tls.endpoint });
    if (saved === undefined) delete process.env.MOTET_TLS_CA;
    else process.env.MOTET_TLS_CA = saved;
    const plain = new Client({ scheduler: client.scheduler, results: tls.endpoint });
    try {
      assert.equal((await secure.getResult('never-seen')).state, 'TASK_STATE_PENDING');
      assert.equal(await fromEnv.asyncResult('never-seen').state(), 'PENDING');
      await assert.rejects(plain.getResult('never-seen'), motet.Unavailable);
    } finally {
      for (const c of [secure, fromEnv, plain]) c.close();
    }
  });

  test('an unreachable scheduler is Unavailable, naming the endpoint', async () => {
    const port = await freePort();
    const nowhere = new Client({ scheduler: `127.0.0.1:${port}`, results: client.results });
    try {
      await assert.rejects(nowhere.submit(task('add', [1, 1])), (err) => {
        assert.ok(err instanceof motet.Unavailable, String(err));
        assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
        return true;
      });
    } finally {
      nowhere.close();
    }
  });

  test('a Node worker serves JavaScript tasks to a Node client, and drains when stopped', async () => {
    const { tasks } = require('./fixtures/tasks');
    const worker = tasks(new motet.Worker({ scheduler: client.scheduler, queues: ['node-e2e'], concurrency: 2, log: () => {} }));
    const ready = new Promise((resolve) => worker.once('ready', resolve));
    const running = worker.run();
    await ready;
    const js = (name, args) => signature(`js.${name}`, args, {}, { queue: 'node-e2e' });
    const result = await client.submit(chord([js('multiply', [2, 3]), js('multiply', [4, 5])], js('sum', [])));
    assert.equal(await result.get(GET), 26);
    const received = new Promise((resolve) => worker.once('received', resolve));
    const slow = await client.submit(js('sleep', [0.5]));
    assert.equal(await received, slow.id);
    await worker.stop();
    await running;
    assert.equal(await slow.get(GET), 0.5, 'a task held when stop() was called finished and reported');
  });

  test('a Node worker whose token is refused stops with the error, not retrying', async () => {
    const worker = new motet.Worker({ scheduler: secured.endpoint, token: 'forged', log: () => {} });
    worker.task('js.nothing', () => null);
    await assert.rejects(worker.run(), (err) => err instanceof motet.MotetError && err.code === 16); // UNAUTHENTICATED
  });

  test('a Node worker with a good token connects to a --tokens scheduler and runs its tasks', async () => {
    const { tasks } = require('./fixtures/tasks');
    const worker = tasks(new motet.Worker({ scheduler: secured.endpoint, token: 'worker-token', queues: ['node-secured'], log: () => {} }));
    const ready = new Promise((resolve) => worker.once('ready', resolve));
    const running = worker.run();
    const good = new Client({ scheduler: secured.endpoint, results: client.results, token: 'good-token' });
    try {
      const welcome = await Promise.race([ready, running.then(() => assert.fail('run() ended before a welcome'))]);
      assert.ok(welcome.sessionId, 'the scheduler welcomed the worker');
      const result = await good.submit(signature('js.multiply', [6, 7], {}, { queue: 'node-secured' }));
      assert.equal(await result.get(GET), 42);
    } finally {
      good.close();
      await worker.stop();
      await running;
    }
  });

  test('OpenTelemetry: one trace per canvas, the chord body linked to its header members', async () => {
    const api = require('@opentelemetry/api');
    const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
    const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider();
    provider.addSpanProcessor(new SimpleSpanProcessor(exporter));
    provider.register({ contextManager: new AsyncLocalStorageContextManager().enable() });
    const { tasks } = require('./fixtures/tasks');
    const worker = tasks(new motet.Worker({ scheduler: client.scheduler, queues: ['node-traced'], log: () => {} }));
    const ready = new Promise((resolve) => worker.once('ready', resolve));
    const running = worker.run();
    await ready;
    try {
      const js = (name, args) => signature(`js.${name}`, args, {}, { queue: 'node-traced' });
      const tracer = api.trace.getTracer('test-client');
      const { result, clientSpan } = await tracer.startActiveSpan('client submits', async (span) => {
        const submitted = await client.submit(chord([js('multiply', [2, 3]), js('multiply', [4, 5])], js('sum', [])));
        span.end();
        return { result: submitted, clientSpan: span.spanContext() };
      });
      assert.equal(await result.get(GET), 26);
      let spans = [];
      for (let i = 0; i < 50 && spans.length < 3; i++) {
        spans = exporter.getFinishedSpans().filter((s) => s.name.startsWith('run js.') && s.spanContext().traceId === clientSpan.traceId);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(spans.length, 3, 'a span per task, in the trace of the client');
      for (const s of spans) assert.equal(s.parentSpanId, clientSpan.spanId, 'each is a child of the submitting span');
      const body = spans.find((s) => s.attributes['motet.task_id'] === result.id);
      const members = spans.filter((s) => s !== body).map((s) => s.spanContext().spanId).sort();
      assert.deepEqual(body.links.map((l) => l.context.spanId).sort(), members);
    } finally {
      await worker.stop();
      await running;
      await provider.shutdown();
      api.trace.disable();
      api.context.disable();
    }
  });
});
