// The reinforcement-learning benchmark suite, shared by the Node runner (bench/node.ts) and the
// browser page (bench/page.ts), chosen with --suite=rl: the RL task of src/tasks/rl/ as its
// session builds it (buildRun), one row per algorithm at that algorithm's defaults: a policy MLP
// 4 -> 64 -> 64 -> 2 and a value MLP 4 -> 64 -> 64 -> 1 (tanh), one fused Adam over both (lr
// 1e-3, eps 1e-5, gradient norm clipped to 0.5), CartPole on the CPU.
// Two figures a row:
// - the rollout, as the task collects it: the acting plan on the GPU (B rows, logits and values
//   read back) and B CartPoles stepped on the CPU, once per environment step. PPO plays its
//   fixed horizon (B 16 x T 64, then the bootstrap values); REINFORCE plays one whole episode in
//   each of its 8 environments (an untrained policy's episodes are short, so its rollouts are
//   too). Reported as environment steps per second (steps counted, over the wall clock) and ms
//   per rollout, the median of three windows of rollouts.
// - one gradient step, as Agent.train runs it: PPO's on a minibatch (B T / 4 = 256 rows),
//   REINFORCE's on its padded batch of whole episodes (8 x 500 = 4000 rows); every step reads
//   back its losses, entropy, gradient norm and log probabilities, as the updates need them.
//   Timed as the PPO update runs its steps: after two warm-up steps, N steps queued back to back,
//   the wall clock around all N until every read-back resolves, divided by N; the median of three
//   windows (medianWindow). The rows are fixed (rlBenchRows: CartPole reset states, drawn actions and
//   advantages), so that the TensorFlow.js peer trains on the same numbers.
// The entropy coefficient is 0.01 here (the task's default is 0): it is fed, so the step's plan
// and its cost are the same either way, and the peer's loss has a bonus that means something.
// Quick mode (--quick): one warm-up and one window of two, for rollouts and for steps: every
// figure of the suite in seconds on SwiftShader, for CI, not for numbers.
// Not here: the TensorFlow.js peer (bench/peer-tfjs-rl.ts), launching anything, or writing files.

import type { Engine } from '../src/engine.js';
import { SeededRandom, gaussian } from '../src/data/random.js';
import type { RlAlgorithm, TrainRows, TrainScalars } from '../src/tasks/rl/agent.js';
import { CartPoleBatch, OBS } from '../src/tasks/rl/cartpole.js';
import { algorithmDefaults, type RlSessionConfig } from '../src/tasks/rl/protocol.js';
import { collectEpisodes, collectHorizon } from '../src/tasks/rl/rollout.js';
import { buildRun, freeRun, trainRows, type RlRun } from '../src/tasks/rl/run.js';
import type { RlPeerMeasurement } from './peer-tfjs-rl.js';
import { WINDOWS, measuredOn, medianWindow, reporters, resultHeader, type ResultHeader, type SuiteOptionsBase } from './common.js';

/** The rows, one per algorithm, each at its own defaults. */
export const RL_BENCH_ALGORITHMS: readonly RlAlgorithm[] = ['ppo', 'reinforce'];

/** The task's config of a row: the algorithm's defaults, with an entropy bonus (see the header). */
export function rlBenchConfig(algorithm: RlAlgorithm): RlSessionConfig {
  return { ...algorithmDefaults(algorithm), entropyCoef: 0.01 };
}

/** The scalars every timed step is fed. */
export function rlBenchScalars(c: RlSessionConfig): TrainScalars {
  return { clip: c.algorithm === 'ppo' ? c.clip : 0, valueCoef: c.valueCoef, entropyCoef: c.entropyCoef };
}

/**
 * `n` fixed rows of one gradient step: CartPole reset states, actions drawn evenly, normalised
 * advantages, returns of short episodes, old log probabilities near the untrained policy's
 * log(1/2), each row weighted 1/n. The same from the same seed, in Node and in a page.
 */
export function rlBenchRows(n: number, seed = 1): TrainRows {
  const rng = new SeededRandom(seed);
  const next = () => rng.next();
  const env = new CartPoleBatch(n, rng);
  env.resetAll();
  const obs = new Float32Array(n * OBS);
  env.observe(obs);
  return {
    obs,
    action: Int32Array.from({ length: n }, () => (next() < 0.5 ? 0 : 1)),
    advantage: Float32Array.from({ length: n }, () => gaussian(next)),
    returns: Float32Array.from({ length: n }, () => 20 * next()),
    oldLogp: Float32Array.from({ length: n }, () => Math.log(0.5) + 0.01 * gaussian(next)),
    weight: new Float32Array(n).fill(1 / n),
  };
}

export interface RlMeasurement {
  /** The algorithm of the row (also its key in bench:compare). */
  name: RlAlgorithm;
  /** Environments stepped together, and PPO's horizon (REINFORCE's rollout is one episode each, up to maxEpisodeSteps). */
  envs: number;
  horizon: number;
  /** Rows of one gradient step. */
  rows: number;
  /** Parameters of the policy and of the value network. */
  policyParams: number;
  valueParams: number;
  /** Environment steps a second while collecting: counted steps over the rollouts' wall clock. */
  envStepsPerSecond: number;
  /** Milliseconds per rollout, and environment steps per rollout (the median window's mean). */
  msPerRollout: number;
  envStepsPerRollout: number;
  /** Rollouts timed after the warm-up, in WINDOWS windows (one in quick mode). */
  rollouts: number;
  /** Milliseconds per gradient step, queued as an update queues them, each reading back. */
  msPerUpdateStep: number;
  /** Rows of gradient steps a second. */
  rowsPerSecond: number;
  /** Gradient steps timed after the warm-up. */
  updateSteps: number;
  /** The losses read back by the median window's last step. */
  policyLoss: number;
  valueLoss: number;
  entropy: number;
}

export interface RlSuiteResult extends ResultHeader<'rl'> {
  timing: 'wall clock';
  results: RlMeasurement[];
  /** TensorFlow.js on the same networks, loss and rows, when the runner measured it (browser only). */
  peer?: RlPeerMeasurement[];
}

/** Every suite's options, and this suite's own; a progress item is one algorithm. */
export interface RlSuiteOptions extends SuiteOptionsBase {
  /** Algorithms to time (default RL_BENCH_ALGORITHMS). */
  algorithms?: readonly RlAlgorithm[];
  /** Wall-clock time all timed rollouts, and all timed steps, of one row should take, roughly (default 4000 ms each). */
  targetMs?: number;
}

/** One rollout as the task's update collects it; returns the environment steps it took. */
async function collect(run: RlRun): Promise<number> {
  const before = run.stats.envSteps;
  const collector = run.config.algorithm === 'ppo' ? collectHorizon : collectEpisodes;
  await collector(run.agent, run.env, run.rngs.action, run.stats, run.rollout);
  return run.stats.envSteps - before;
}

/** `n` rollouts under the wall clock: ms per rollout and the steps they took. */
async function timeRollouts(run: RlRun, n: number): Promise<{ ms: number; steps: number }> {
  const t0 = performance.now();
  let steps = 0;
  for (let i = 0; i < n; i++) steps += await collect(run);
  return { ms: (performance.now() - t0) / n, steps };
}

/** `n` gradient steps queued back to back, every one reading back: ms per step and the last one's losses. */
async function timeSteps(run: RlRun, rows: TrainRows, n: number) {
  const scalars = rlBenchScalars(run.config);
  const t0 = performance.now();
  const queued = Array.from({ length: n }, () => run.agent.train(rows, scalars));
  const results = await Promise.all(queued);
  return { ms: (performance.now() - t0) / n, ...results[n - 1] };
}

async function measure(engine: Engine, algorithm: RlAlgorithm, opts: RlSuiteOptions): Promise<RlMeasurement> {
  const quick = opts.quick ?? false;
  const targetMs = opts.targetMs ?? 4000;
  const config = rlBenchConfig(algorithm);
  const run = await buildRun(engine, config);
  try {
    // Rollouts: one warm-up (pipelines, first-use buffers) sizes the windows of the rest.
    const first = await timeRollouts(run, 1);
    const count = quick ? 1 : WINDOWS;
    const n = quick ? 2 : Math.max(2, Math.min(50, Math.round(targetMs / WINDOWS / Math.max(first.ms, 1e-3))));
    const windows: { ms: number; steps: number }[] = [];
    for (let w = 0; w < count; w++) windows.push(await timeRollouts(run, n));
    // The median by steps a second: REINFORCE's rollouts differ in length.
    const rate = (x: { ms: number; steps: number }) => (x.steps * 1000) / (x.ms * n);
    const rollout = windows.sort((a, b) => rate(a) - rate(b))[count >> 1];

    const rows = rlBenchRows(trainRows(config));
    // Steps: as the peer's timeTraining, two warm-ups (one in quick mode), the second sizing the windows.
    const warm = await timeSteps(run, rows, 1);
    const sized = quick ? warm : await timeSteps(run, rows, 1);
    const step = await medianWindow((k) => timeSteps(run, rows, k), sized.ms, { targetMs, quick });
    const size = (prefix: string) => Object.entries(run.agent.stateDict()).reduce((s, [k, p]) => s + (k.startsWith(prefix) ? p.size : 0), 0);
    return {
      name: algorithm,
      envs: config.envs,
      horizon: algorithm === 'ppo' ? config.horizon : config.maxEpisodeSteps,
      rows: trainRows(config),
      policyParams: size('policy.'),
      valueParams: size('value.'),
      envStepsPerSecond: rate(rollout),
      msPerRollout: rollout.ms,
      envStepsPerRollout: rollout.steps / n,
      rollouts: count * n,
      msPerUpdateStep: step.ms,
      rowsPerSecond: (trainRows(config) * 1000) / step.ms,
      updateSteps: step.steps,
      policyLoss: step.policyLoss,
      valueLoss: step.valueLoss,
      entropy: step.entropy,
    };
  } finally {
    freeRun(engine, run);
  }
}

export async function runRlSuite(engine: Engine, opts: RlSuiteOptions): Promise<RlSuiteResult> {
  const { log, progress } = reporters(opts);
  const algorithms = opts.algorithms ?? RL_BENCH_ALGORITHMS;
  const results: RlMeasurement[] = [];
  for (const algorithm of algorithms) {
    progress(results.length + 1, algorithms.length, `algorithm ${algorithm}`);
    const r = await measure(engine, algorithm, opts);
    results.push(r);
    log(
      `${algorithm.padEnd(9)} rollout ${r.envs} envs: ${Math.round(r.envStepsPerSecond).toString().padStart(7)} env steps/s ` +
        `(${r.msPerRollout.toFixed(1)} ms per rollout of ${r.envStepsPerRollout.toFixed(0)} steps, ${r.rollouts} rollouts); ` +
        `gradient step on ${r.rows} rows: ${r.msPerUpdateStep.toFixed(2)} ms (${r.updateSteps} steps, policy loss ${r.policyLoss.toFixed(3)}, ` +
        `value loss ${r.valueLoss.toFixed(2)}, entropy ${r.entropy.toFixed(3)})`,
    );
  }
  return { ...resultHeader('rl', engine, opts), timing: 'wall clock', results };
}

/** TF.js's fastest backend against ours for one algorithm's gradient step: its backend, ms and ms / ours, or null without a peer. */
export function rlSpeedup(r: RlSuiteResult, algorithm: RlAlgorithm = 'ppo'): { backend: string; msPerUpdateStep: number; ratio: number } | null {
  const ours = r.results.find((m) => m.name === algorithm);
  const best = [...(r.peer ?? [])].filter((p) => p.name === algorithm).sort((a, b) => a.msPerUpdateStep - b.msPerUpdateStep)[0];
  return ours && best ? { backend: best.backend, msPerUpdateStep: best.msPerUpdateStep, ratio: best.msPerUpdateStep / ours.msPerUpdateStep } : null;
}

/**
 * A plain-text table: one row per algorithm with the rollout's env steps/s and ms, the gradient
 * step's ms and rows/s, TensorFlow.js's ms per step per backend and our speed-up over each when
 * the peer ran, then a summary line per algorithm against the fastest backend.
 */
export function formatRlSuite(r: RlSuiteResult): string {
  const backends = [...new Set((r.peer ?? []).map((p) => p.backend))];
  const lines = [
    `RL (CartPole on the CPU, policy 4->64->64->2 and value 4->64->64->1 tanh on the GPU, Adam lr 1e-3 eps 1e-5, gradient norm clipped to 0.5), ` +
      `${measuredOn(r)}, timing: ${r.timing}, ${r.date}`,
    [
      'algorithm', 'envs', 'params', 'env steps/s', 'ms/rollout', 'steps/rollout', 'rows', 'ms/step', 'rows/s',
      ...backends.flatMap((b) => [`tfjs-${b} ms/step`, 'speed-up']),
    ].join('\t'),
  ];
  for (const m of r.results) {
    const peers = backends.flatMap((b) => {
      const p = r.peer?.find((x) => x.backend === b && x.name === m.name);
      return p ? [p.msPerUpdateStep.toFixed(2), `${(p.msPerUpdateStep / m.msPerUpdateStep).toFixed(2)}x`] : ['-', '-'];
    });
    lines.push(
      [
        m.name, m.envs, m.policyParams + m.valueParams, Math.round(m.envStepsPerSecond), m.msPerRollout.toFixed(1), m.envStepsPerRollout.toFixed(0),
        m.rows, m.msPerUpdateStep.toFixed(2), Math.round(m.rowsPerSecond), ...peers,
      ].join('\t'),
    );
  }
  for (const m of r.results) {
    const best = rlSpeedup(r, m.name);
    if (!best) continue;
    lines.push(
      `summary (${m.name} gradient step, ${m.rows} rows): TF.js fastest backend (${best.backend}) ${best.msPerUpdateStep.toFixed(2)} ms / ours ` +
        `${m.msPerUpdateStep.toFixed(2)} ms = ${best.ratio.toFixed(2)}x`,
    );
  }
  return lines.join('\n');
}
