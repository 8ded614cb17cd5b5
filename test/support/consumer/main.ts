// The consumer's page: runs the op through the installed package on the page's navigator.gpu,
// starts a module worker that does the same on its own, and puts both on window.__consumer
// for test/package.test.ts to read.
// Not here: the op (job.ts) or the worker's side (w.ts).

import { runOp, type OpResult } from './job.js';

type Outcome = { result: OpResult } | { error: string };

declare global {
  interface Window {
    __consumer?: { page: Outcome; worker: Outcome };
  }
}

const describe = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

const inWorker = new Promise<Outcome>((resolve) => {
  const worker = new Worker(new URL('./w.ts', import.meta.url), { type: 'module' });
  worker.onmessage = (m: MessageEvent<Outcome>) => resolve(m.data);
  worker.onerror = (e) => resolve({ error: `worker failed to load: ${e.message}` });
});
const inPage = runOp(0).then((result): Outcome => ({ result }), (e): Outcome => ({ error: describe(e) }));

const [page, worker] = await Promise.all([inPage, inWorker]);
window.__consumer = { page, worker };
