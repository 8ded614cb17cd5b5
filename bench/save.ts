// Writing a benchmark result as JSON under bench/results/, named by suite, runner and time.
// Not here: measuring (bench/suite.ts) or printing (the runners).

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));

/** Saves `result` and returns the file's path. */
export async function saveResult(result: { suite: string; runner: string; date: string }): Promise<string> {
  await mkdir(RESULTS, { recursive: true });
  const stamp = result.date.replace(/[:.]/g, '-');
  const path = join(RESULTS, `${result.suite}-${result.runner}-${stamp}.json`);
  await writeFile(path, JSON.stringify(result, null, 2) + '\n');
  return path;
}
