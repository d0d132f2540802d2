// Compiled (not run) by types.test.js with `tsc --strict --noEmit`: the declarations in
// index.d.ts must type what the README shows.
import { Client, Worker, TaskContext, chord, chain, group, signature, TaskError, MotetError } from '..';

async function main(): Promise<number> {
  const client = new Client({ scheduler: '127.0.0.1:7410', token: 't' });
  const header = [signature('examples.guide.tasks.add', [1, 1]), signature('js.multiply', [3, 3])];
  const result = await client.submit(chord(header, signature('js.sum')));
  const value = await result.get({ timeout: 10 });
  await client.submit(chain(signature('a'), group(signature('b'), signature('c'))));
  try {
    await result.get({ timeout: 1 });
  } catch (err) {
    if (err instanceof TaskError) console.log(err.excType, err.traceback);
    else if (err instanceof MotetError) console.log(err.code, err.reason);
  }
  const worker = new Worker({ queues: ['celery'], concurrency: 4 });
  worker
    .task('js.multiply', async (x: number, y: number) => x * y)
    .task('js.charge', (ctx: TaskContext, cents: number) => (cents > 0 ? cents : ctx.retry({ countdown: 5 })), {
      bind: true,
      maxRetries: 3,
      autoretryFor: [RangeError],
      timeLimit: 10,
    });
  worker.on('received', (id: string) => console.log(id));
  await worker.handleSignals().run();
  client.close();
  return Number(value);
}

void main;
