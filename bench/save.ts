// Writing a benchmark result as JSON: under bench/results/, named by suite, runner and time, or
// at a path the caller chose (--out, see bench/args.ts).
// Not here: measuring (bench/suite.ts) or printing (the runners).

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));

/** Saves `result` at `path` (default a new file under bench/results/) and returns the file's path. */
export async function saveResult(result: { suite: string; runner: string; date: string }, path?: string): Promise<string> {
  const stamp = result.date.replace(/[:.]/g, '-');
  const file = path ?? join(RESULTS, `${result.suite}-${result.runner}-${stamp}.json`);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(result, null, 2) + '\n');
  return file;
}
