// The op checks inside a dedicated Web Worker, where a training run lives: same engine, same
// checks, but navigator.gpu comes from WorkerNavigator; and the kernel picks a worker's engine
// takes, which the next worker finds again. Exposed to the page through comlink.
// Not here: anything page-side.

import { expose } from 'comlink';
import { runChecks, tunedPicks, type CheckRequest } from './checks.js';

const api = {
  run: (req: CheckRequest) => runChecks('worker', req),
  tunedPicks,
};

export type CheckWorker = typeof api;

expose(api);
