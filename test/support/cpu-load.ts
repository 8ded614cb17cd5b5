// A CPU-load generator: keeps `--burners` threads (default: one per core) spinning while a
// command runs, then stops them and exits with the command's status. It makes a busy machine on
// purpose, so that what a test asserts of a page (its thread stays free, a checkpoint is the
// model shown) is shown to hold when the OS has other work too:
//   npx tsx test/support/cpu-load.ts -- npx vitest run test/transformer-demo.test.ts
// (npm run test:load runs every page's browser test this way.)
// Not here: any assertion; the tests say what must hold.

import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

const args = process.argv.slice(2);
const split = args.indexOf('--');
const own = split < 0 ? [] : args.slice(0, split);
const command = split < 0 ? args : args.slice(split + 1);
const flag = own.indexOf('--burners');
const burners = flag >= 0 ? Number(own[flag + 1]) : availableParallelism();
if (!command.length || !(Number.isInteger(burners) && burners >= 0)) {
  console.error('usage: tsx test/support/cpu-load.ts [--burners N] -- <command> [args...]');
  process.exit(2);
}

// Each burner spins in short slices, as a compile or another test would, never yielding the core.
const spin = 'for (;;) { let x = 0; for (let i = 0; i < 1e7; i++) x += Math.sqrt(i); if (x < 0) break; }';
const threads = Array.from({ length: burners }, () => new Worker(spin, { eval: true }));
console.error(`cpu-load: ${burners} spinning thread${burners === 1 ? '' : 's'} beside: ${command.join(' ')}`);

const child = spawn(command[0], command.slice(1), { stdio: 'inherit', shell: process.platform === 'win32' });
child.on('exit', async (code, signal) => {
  await Promise.all(threads.map((t) => t.terminate()));
  process.exit(code ?? (signal ? 1 : 0));
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
