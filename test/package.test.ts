// The engine as a package in someone else's project: `npm pack` this checkout, install the
// tarball into a new project outside it (beside webgpu, vite, typescript and @webgpu/types at
// the versions of this repository's lock file), then use it the three ways a user would: a Node
// script on Dawn, a page built by Vite that also starts a module worker, in headless Chromium,
// and `tsc --noEmit` over TypeScript that leans on the package's declarations.
// Not here: the engine's own behaviour (the other tests). Nothing of this checkout's
// node_modules reaches the consumer: it lives in a temp dir outside the checkout, and no folder
// above it holds a node_modules. One pack and one install, from the npm cache that `npm ci`
// filled, serve every check.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, collectLogs, launchBrowser, waitForPage } from './support/browser.js';

const run = promisify(execFile);
const FIXTURES = fileURLToPath(new URL('./support/consumer/', import.meta.url));
// What the consumer installs beside the tarball, at the versions this repository is tested with.
const PEERS = ['webgpu', 'vite', 'typescript', '@webgpu/types'];

let root: string; // the temp dir: the tarball and the consumer project
let app: string; // the consumer project
let install: { stdout: string; stderr: string };

/**
 * The environment of a command in the consumer: this process's (so Dawn gets the Vulkan driver
 * and the tuning cache that test/setup.ts chose), without what would point module resolution or
 * npm back at this checkout (NODE_PATH, the npm run that started vitest).
 */
function consumerEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_PATH;
  delete env.INIT_CWD;
  for (const k of Object.keys(env)) if (/^npm_(package|lifecycle|config_local_prefix)/i.test(k)) delete env[k];
  return env;
}

/** Runs a command in `cwd`; on failure, the error carries its output. */
async function sh(cwd: string, file: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(file, args, { cwd, env: consumerEnv(), maxBuffer: 64 << 20 });
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: string; stderr?: string };
    throw new Error(`${file} ${args.join(' ')} failed in ${cwd}: ${(e as Error).message}\n${stdout ?? ''}\n${stderr ?? ''}`);
  }
}

const inApp = (file: string, args: string[]) => sh(app, file, args);

const bin = (name: string) => join(app, 'node_modules', '.bin', name);

/** x (4, 3) times w (3, 2) in float64, x and w made as test/support/consumer/job.ts makes them. */
function jobProduct(offset: number): number[] {
  const x = Array.from({ length: 12 }, (_, i) => i / 8 - 0.5 + offset);
  const w = Array.from({ length: 6 }, (_, i) => (i - 2) / 4);
  return matmulCpu(x, w, 4, 3, 2);
}

function matmulCpu(a: number[], b: number[], M: number, K: number, N: number): number[] {
  const out: number[] = [];
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[m * K + k] * b[k * N + n];
      out.push(s);
    }
  }
  return out;
}

function expectClose(got: number[], want: number[]): void {
  expect(got).toHaveLength(want.length);
  got.forEach((g, i) => expect(g, `element ${i} of ${JSON.stringify(got)}`).toBeCloseTo(want[i], 4));
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'webgpu-train-consumer-'));
  // Node looks for packages in node_modules of the importing file's folder and every folder
  // above it: none of those may be this checkout or hold a node_modules of their own.
  expect(relative(REPO_ROOT, root).startsWith('..'), `${root} is inside ${REPO_ROOT}`).toBe(true);
  for (let d = dirname(root); ; d = dirname(d)) {
    expect(existsSync(join(d, 'node_modules')), `${d}/node_modules would be found by the consumer`).toBe(false);
    if (dirname(d) === d) break;
  }

  // npm pack runs the prepare script, so the tarball holds a dist/ built from these sources.
  const { stdout: packed } = await sh(REPO_ROOT, 'npm', ['pack', '--json', '--pack-destination', root]);
  const tarball = join(root, (JSON.parse(packed) as { filename: string }[])[0].filename);

  app = join(root, 'app');
  await mkdir(app);
  await cp(FIXTURES, app, { recursive: true });
  const lock = JSON.parse(await readFile(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version: string }>;
  };
  const spec = `file:${tarball}`;
  const dependencies: Record<string, string> = { 'webgpu-train': spec };
  for (const p of PEERS) dependencies[p] = lock.packages[`node_modules/${p}`].version;
  // As README advises: webgpu's install script approved; the tarball's prepare script (which npm
  // does not run for a tarball: dist/ is inside) marked as reviewed.
  const allowScripts = { webgpu: true, [spec]: false };
  await writeFile(
    join(app, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies, allowScripts }, null, 2),
  );
  install = await inApp('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund']);
}, 300_000);

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('the packed engine in a new project', () => {
  it('installs quietly, webgpu-train from the tarball', async () => {
    expect(install.stderr).not.toMatch(/install-scripts|allowScripts/);
    const pkg = JSON.parse(await readFile(join(app, 'node_modules/webgpu-train/package.json'), 'utf8')) as { name: string };
    expect(pkg.name).toBe('webgpu-train');
    expect(existsSync(join(app, 'node_modules/webgpu-train/dist/src/index.d.ts'))).toBe(true);
  });

  it("runs README's example and trains in Node through Dawn", async () => {
    const { stdout } = await inApp(process.execPath, ['node.mjs']);
    const line = stdout.split('\n').filter((l) => l.startsWith('RESULT ')).pop();
    expect(line, `no RESULT line in:\n${stdout}`).toBeDefined();
    const r = JSON.parse(line!.slice('RESULT '.length)) as {
      resolved: { engine: string; dawn: string };
      adapter: string;
      x: number[];
      w: number[];
      y: number[];
      losses: number[];
    };
    for (const url of Object.values(r.resolved)) expect(fileURLToPath(url).startsWith(join(app, 'node_modules'))).toBe(true);
    expectClose(r.y, matmulCpu(r.x, r.w, 4, 2, 3));
    for (let s = 1; s < r.losses.length; s++) expect(r.losses[s], `loss of step ${s + 1}`).toBeLessThan(r.losses[s - 1]);
    expect(r.losses.at(-1)!).toBeLessThan(r.losses[0] / 2);
  });

  it('type-checks TypeScript that uses its declarations', async () => {
    // As README sets a project up (@webgpu/types, skipLibCheck), then the package's declarations
    // themselves, strictly, against TypeScript's own DOM library.
    await inApp(bin('tsc'), ['--noEmit', '-p', 'tsconfig.json']);
    await inApp(bin('tsc'), ['--noEmit', '-p', 'tsconfig.strict.json']);
    // And tsc does read them: assigning a Tensor to a number must fail, naming Tensor. (Written
    // here, not kept as a fixture: this checkout's own typecheck covers test/.)
    await writeFile(join(app, 'wrong.ts'), "import { input } from 'webgpu-train';\nexport const n: number = input('x', [1]);\n");
    await writeFile(join(app, 'tsconfig.wrong.json'), JSON.stringify({ extends: './tsconfig.json', include: ['wrong.ts'] }));
    const wrong = await run(bin('tsc'), ['--noEmit', '-p', 'tsconfig.wrong.json'], { cwd: app, env: consumerEnv() }).then(
      () => 'tsc passed',
      (e: { stdout?: string }) => e.stdout ?? '',
    );
    expect(wrong).toMatch(/wrong\.ts.*TS2322.*'Tensor'.*'number'/);
  });

  it('runs in a page built by Vite and in its module worker, on navigator.gpu', async () => {
    await inApp(bin('vite'), ['build', '--logLevel', 'warn']);
    let server: PreviewServer | undefined;
    const browser = await launchBrowser({ adapter: 'swiftshader' });
    try {
      server = await preview({
        root: app,
        configFile: false,
        logLevel: 'warn',
        preview: { host: '127.0.0.1', port: 0 },
      });
      const address = server.httpServer.address();
      if (!address || typeof address === 'string') throw new Error('The preview server did not report a TCP port.');
      const page = await browser.browser.newPage();
      const logs = collectLogs(page);
      await page.goto(`http://127.0.0.1:${address.port}/`);
      await waitForPage(page, logs, 'the consumer page', 'window.__consumer !== undefined', 240_000);
      type Outcome = { result?: { y: number[] }; error?: string };
      const got = (await page.evaluate('window.__consumer')) as { page: Outcome; worker: Outcome };
      expect(got.page.error).toBeUndefined();
      expect(got.worker.error).toBeUndefined();
      expectClose(got.page.result!.y, jobProduct(0));
      expectClose(got.worker.result!.y, jobProduct(1));
    } finally {
      await server?.close();
      await browser.close();
    }
  });
});
