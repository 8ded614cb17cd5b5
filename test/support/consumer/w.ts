// The page's module worker: imports the package itself (not through the page) and runs the op
// on the worker's own navigator.gpu, then posts the result or the error's message.
// Not here: the op (job.ts).

import { runOp } from './job.js';

runOp(1).then(
  (result) => self.postMessage({ result }),
  (e: unknown) => self.postMessage({ error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }),
);
