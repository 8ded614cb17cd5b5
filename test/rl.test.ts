// The reinforcement-learning task: CartPole against its equations (a step worked out by hand,
// termination at the thresholds, truncation at the time limit, seeded resets), the returns and
// GAE against hand-worked rollouts, action sampling against the softmax, the config's refusals;
// then with a fixed seed, in Node, PPO and REINFORCE with a baseline each lifting the mean
// return far above a random policy's within a fixed budget of environment steps, and a
// checkpoint of either continuing bit for bit in a new session; the session core's services
// (the loop, autosave and resume, hyperparameters, refused files, recovery from a lost device). The losses are composed from the
// registry's ops (no op of their own), so they are checked here as a whole: values and gradients
// against a float64 statement of PPO's and REINFORCE's objectives.

import { describe, expect, it } from 'vitest';
import {
  CheckpointError, ConfigError, SeededRandom, createEngine, decodeTensor, gradients, input, memoryAutosave, parameter, parseSafetensors,
  writeSafetensors,
} from '../src/index.js';
import { rlLosses, type RlAlgorithm } from '../src/tasks/rl/agent.js';
import { CartPoleBatch, cartPoleDefaults } from '../src/tasks/rl/cartpole.js';
import { rlSessionConfig, type RlEpisodeEvent, type RlSessionConfig, type RlStepRecord } from '../src/tasks/rl/protocol.js';
import { discountedReturns, gae, normalize, type RolloutSignals } from '../src/tasks/rl/returns.js';
import { sampleActions } from '../src/tasks/rl/rollout.js';
import { RlSession } from '../src/tasks/rl/session.js';
import { testEngine } from './support/engine.js';
import { expectResumedFromLastAutosave, steppedPastRecovery } from './support/recovery.js';

/** A batch of one CartPole put in `state` with `steps` taken. */
function at(state: number[], steps = 0): CartPoleBatch {
  const env = new CartPoleBatch(1, new SeededRandom(1));
  expect(env.restore({ state, steps: [steps] })).toBe(true);
  return env;
}

describe('CartPole', () => {
  it('steps by its equations: a push from rest worked out by hand, and one from a moving state', () => {
    // From rest, pushed right (F = 10): temp = F / (m_c + m_p) = 100/11; theta'' = -temp /
    // (l (4/3 - m_p / (m_c + m_p))) = -(100/11) / (41/66) = -600/41; x'' = temp - m_p l theta'' / 1.1
    // = 4400/451. Euler: positions keep their old velocities, x' = 0.02 x'' = 88/451, theta' = -12/41.
    const env = at([0, 0, 0, 0]);
    const o = env.step([1]);
    const want = [0, 88 / 451, 0, -12 / 41];
    want.forEach((v, k) => expect(env.state[k]).toBeCloseTo(v, 14));
    expect([o.reward[0], o.terminated[0], o.truncated[0], o.length[0]]).toEqual([1, 0, 0, 1]);
    // From (0.1, 0.5, -0.05, 0.3) pushed left: the same equations in float64 (Gym's numbers).
    const moving = at([0.1, 0.5, -0.05, 0.3]);
    moving.step([0]);
    [0.11, 0.3056250657817797, -0.044, 0.5765041484814735].forEach((v, k) => expect(moving.state[k]).toBeCloseTo(v, 12));
  });

  it('terminates past 12 degrees or 2.4 m, rewards that step, reports the fallen state and resets', () => {
    const limit = (12 * 2 * Math.PI) / 360; // 0.20944 rad
    // theta' = 0 and theta moves with the old velocity, so theta after the step is the one given.
    for (const [state, falls] of [
      [[0, 0, limit - 1e-4, 0], false], [[0, 0, limit + 1e-4, 0], true], [[0, 0, -limit - 1e-4, 0], true],
      [[2.39, 0, 0, 0], false], [[2.41, 0, 0, 0], true], [[-2.41, 0, 0, 0], true],
    ] as [number[], boolean][]) {
      const env = at(state);
      const o = env.step([1]);
      expect(o.terminated[0]).toBe(falls ? 1 : 0);
      expect(o.reward[0]).toBe(1);
      if (falls) {
        expect(o.finalObs[0]).toBeCloseTo(state[0], 6);
        expect(o.finalObs[2]).toBeCloseTo(state[2], 6);
        expect(env.steps[0]).toBe(0); // reset
        for (const v of env.state) expect(Math.abs(v)).toBeLessThanOrEqual(0.05);
      }
    }
  });

  it('truncates at step 500 unless the pole fell on that step, which counts as terminated', () => {
    expect(cartPoleDefaults.maxSteps).toBe(500);
    const upright = at([0, 0, 0, 0], 499);
    const o = upright.step([1]);
    expect([o.terminated[0], o.truncated[0], o.length[0]]).toEqual([0, 1, 500]);
    const falling = at([0, 0, 0.21, 0], 499);
    const f = falling.step([1]);
    expect([f.terminated[0], f.truncated[0]]).toEqual([1, 0]);
    const early = at([0, 0, 0, 0], 498);
    expect(early.step([1]).truncated[0]).toBe(0);
  });

  it('resets to states uniform in [-0.05, 0.05]^4 drawn from the seeded generator, the same every time', () => {
    const a = new CartPoleBatch(64, new SeededRandom(7));
    const b = new CartPoleBatch(64, new SeededRandom(7));
    a.resetAll();
    b.resetAll();
    expect(Array.from(a.state)).toEqual(Array.from(b.state));
    const u = new SeededRandom(7);
    expect(a.state[0]).toBe(-0.05 + 0.1 * u.next());
    for (const v of a.state) expect(Math.abs(v)).toBeLessThanOrEqual(0.05);
    const c = new CartPoleBatch(64, new SeededRandom(8));
    c.resetAll();
    expect(Array.from(c.state)).not.toEqual(Array.from(a.state));
  });
});

describe('returns', () => {
  // T = 3 steps of one environment: values 0.5, 0.6, 0.7; the episode terminates at step 1; the
  // rollout ends after step 2 with V(s_3) = 0.8 as its bootstrap.
  const signals: RolloutSignals = {
    T: 3, B: 1, reward: Float64Array.of(1, 1, 1), done: Uint8Array.of(0, 1, 0), nextValue: Float64Array.of(0.6, 0, 0.8),
  };
  const value = Float64Array.of(0.5, 0.6, 0.7);

  it('discounts within episodes and bootstraps where the rollout or a truncated episode is cut', () => {
    // G_2 = 1 + 0.9 * 0.8; G_1 = 1 (terminated); G_0 = 1 + 0.9 * G_1.
    Array.from(discountedReturns(signals, 0.9)).forEach((g, k) => expect(g).toBeCloseTo([1.9, 1, 1.72][k], 12));
    // Truncated at step 0 with V(cut state) = 2: its return is 1 + 0.9 * 2, and nothing after it counts.
    const cut = { ...signals, done: Uint8Array.of(1, 0, 0), nextValue: Float64Array.of(2, 0.7, 0.8) };
    expect(discountedReturns(cut, 0.9)[0]).toBeCloseTo(2.8, 12);
  });

  it('gives GAE(lambda) worked by hand, and G - V at lambda = 1', () => {
    // deltas: 1 + 0.9 * 0.6 - 0.5 = 1.04, 1 - 0.6 = 0.4, 1 + 0.9 * 0.8 - 0.7 = 1.02; A_0 = 1.04 + 0.45 * 0.4.
    const { advantage, returns } = gae(signals, value, 0.9, 0.5);
    Array.from(advantage).forEach((a, k) => expect(a).toBeCloseTo([1.22, 0.4, 1.02][k], 12));
    Array.from(returns).forEach((g, k) => expect(g).toBeCloseTo([1.72, 1, 1.72][k], 12));
    const mc = gae(signals, value, 0.9, 1);
    const G = discountedReturns(signals, 0.9);
    mc.advantage.forEach((a, k) => expect(a).toBeCloseTo(G[k] - value[k], 12));
  });

  it('normalises over the valid rows to mean 0 and standard deviation 1, zeroing the others', () => {
    const x = normalize(Float64Array.of(1, 2, 3, 100), Uint8Array.of(1, 1, 1, 0));
    expect(Array.from(x)).toEqual([-1, 0, 1, 0].map((v) => expect.closeTo(v, 6)));
  });
});

describe('action sampling', () => {
  it('draws each action with its softmax probability and returns its log probability', () => {
    const B = 1000;
    const logits = new Float32Array(2 * B);
    for (let i = 0; i < B; i++) logits.set([0.5, 0.5 + Math.log(3)], 2 * i); // p(right) = 0.75
    const action = new Int32Array(B * 20);
    const logp = new Float64Array(B * 20);
    const rng = new SeededRandom(3);
    for (let r = 0; r < 20; r++) sampleActions(logits, rng, action, logp, r * B);
    const right = action.reduce((s, a) => s + a, 0) / action.length;
    expect(Math.abs(right - 0.75)).toBeLessThan(0.01); // 4 standard errors
    action.forEach((a, k) => expect(logp[k]).toBeCloseTo(Math.log(a ? 0.75 : 0.25), 6));
  });
});

describe('losses', () => {
  // Six rows of two logits; the last is padding (weight 0). PPO's ratios exp(logp - oldLogp) are
  // 1, 0.61, 1.65, 0.74, 1.49, 0.90: rows 1 and 2 are clipped (no gradient), rows 0, 3, 4 are not.
  const N = 6;
  const z0 = [0.3, -0.8, 1.1, 0.2, -0.5, 0.9, 0.7, -1.2, 0.1, 0.4, -0.3, -0.6];
  const v0 = [0.5, 1.5, -0.2, 2.0, 0.8, 1.0];
  const action = [0, 1, 1, 0, 1, 0];
  const advantage = [1, -1, 0.5, 2, -1.5, 0.3];
  const returns = [1, 2, 0, 1.5, 1, 3];
  const weight = [0.2, 0.2, 0.2, 0.2, 0.2, 0];
  const shift = [0, 0.5, -0.5, 0.3, -0.4, 0.1];
  const [clip, valueCoef, entropyCoef] = [0.2, 0.5, 0.01];
  const logpOf = (z: number[]) => action.map((a, i) => z[2 * i + a] - Math.log(Math.exp(z[2 * i]) + Math.exp(z[2 * i + 1])));
  const oldLogp = logpOf(z0).map((l, i) => l + shift[i]);

  /** The objective in float64, plain loops: the specification. */
  function reference(algorithm: RlAlgorithm, z: number[], v: number[]) {
    const logp = logpOf(z);
    let policyLoss = 0, valueLoss = 0, entropy = 0;
    for (let i = 0; i < N; i++) {
      const r = Math.exp(logp[i] - oldLogp[i]);
      const clipped = Math.min(Math.max(r, 1 - clip), 1 + clip);
      const surrogate = algorithm === 'ppo' ? Math.min(r * advantage[i], clipped * advantage[i]) : logp[i] * advantage[i];
      policyLoss -= weight[i] * surrogate;
      valueLoss += weight[i] * (v[i] - returns[i]) ** 2;
      const lse = Math.log(Math.exp(z[2 * i]) + Math.exp(z[2 * i + 1]));
      entropy -= weight[i] * [0, 1].reduce((h, a) => h + Math.exp(z[2 * i + a] - lse) * (z[2 * i + a] - lse), 0);
    }
    return { policyLoss, valueLoss, entropy, loss: policyLoss + valueCoef * valueLoss - entropyCoef * entropy };
  }

  it.each(['ppo', 'reinforce'] as const)('%s: values and gradients are those of the objective in float64', async (algorithm) => {
    const engine = await testEngine();
    const z = parameter('z', Float32Array.from(z0), [N, 2]);
    const v = parameter('v', Float32Array.from(v0), [N]);
    const names = ['action', 'advantage', 'returns', 'weight', 'oldLogp'] as const;
    const inputs = Object.fromEntries(names.map((k) => [k, input(k, [N], k === 'action' ? 'i32' : 'f32')]));
    const l = rlLosses(algorithm, z, v, {
      ...(inputs as Record<(typeof names)[number], ReturnType<typeof input>>),
      clip: input('clip', []), valueCoef: input('valueCoef', []), entropyCoef: input('entropyCoef', []),
    });
    const feeds = { action, advantage, returns, weight, valueCoef, entropyCoef, ...(algorithm === 'ppo' ? { oldLogp, clip } : {}) };
    const [pl, vl, ent, dz, dv] = await engine.run([l.policyLoss, l.valueLoss, l.entropy, ...gradients([l.loss], [z, v])], feeds);
    const want = reference(algorithm, z0, v0);
    expect(pl[0]).toBeCloseTo(want.policyLoss, 5);
    expect(vl[0]).toBeCloseTo(want.valueLoss, 5);
    expect(ent[0]).toBeCloseTo(want.entropy, 5);
    const h = 1e-5;
    const central = (f: (x: number[]) => number, x0: number[], k: number) => {
      const up = [...x0], down = [...x0];
      up[k] += h;
      down[k] -= h;
      return (f(up) - f(down)) / (2 * h);
    };
    z0.forEach((_, k) => expect(dz[k]).toBeCloseTo(central((z) => reference(algorithm, z, v0).loss, z0, k), 4));
    v0.forEach((_, k) => expect(dv[k]).toBeCloseTo(central((v) => reference(algorithm, z0, v).loss, v0, k), 4));
    if (algorithm === 'ppo') {
      // The clipped rows move the logits through the entropy bonus only, which is small.
      for (const i of [1, 2]) expect(Math.abs(dz[2 * i]) + Math.abs(dz[2 * i + 1])).toBeLessThan(0.01);
      expect(Math.abs(dz[6])).toBeGreaterThan(0.02);
    }
    for (const g of [dz[10], dz[11], dv[5]]) expect(Math.abs(g)).toBe(0); // padding
  });
});

describe('config', () => {
  it('refuses fields by name', () => {
    expect(() => rlSessionConfig({ minibatches: 5 })).toThrow(/minibatches must be a divisor of envs \* horizon = 1024/);
    expect(() => rlSessionConfig({ clip: 1.5 })).toThrow(ConfigError);
    expect(() => rlSessionConfig({ algorithm: 'dqn' as never })).toThrow(/algorithm must be one of 'ppo', 'reinforce'/);
    expect(() => rlSessionConfig({ epsilon: 0.2 } as never)).toThrow(/unknown field\(s\) epsilon/);
    expect(() => rlSessionConfig({ algorithm: 'reinforce', envs: 1024 })).toThrow(/envs must be at most 524 for episodes of up to 500 steps/);
    expect(rlSessionConfig({ algorithm: 'reinforce' }).envs).toBe(8);
  });
});

/** A random policy's mean return over `n` episodes, from the environment's own seeded resets. */
function randomPolicyReturn(n: number): number {
  const env = new CartPoleBatch(n, new SeededRandom(99));
  env.resetAll();
  const rng = new SeededRandom(100);
  const active = new Uint8Array(n).fill(1);
  let total = 0;
  while (active.includes(1)) {
    const o = env.step(Array.from({ length: n }, () => (rng.next() < 0.5 ? 0 : 1)), false, active);
    for (let i = 0; i < n; i++) {
      if (!active[i]) continue;
      total += o.reward[i];
      if (o.terminated[i] || o.truncated[i]) active[i] = 0;
    }
  }
  return total / n;
}

/** A session of `config` with every update's record and every episode it sent collected. */
async function session(config: Partial<RlSessionConfig>) {
  const s = new RlSession({ engine: await testEngine() });
  const records: RlStepRecord[] = [];
  const episodes: RlEpisodeEvent[] = [];
  await s.subscribe((e) => {
    if (e.type === 'metrics') records.push(...e.steps);
    if (e.type === 'episode') episodes.push(e);
  });
  await s.create({ metricsIntervalMs: 0, ...config });
  return { s, records, episodes };
}

/**
 * Fixed budgets, the defaults of each algorithm: PPO 25 updates of 16 x 64 steps (25,600
 * environment steps); REINFORCE 25 updates of 8 whole episodes each. A run stops at the first
 * update whose mean return (over the last 20 episodes) reaches the target.
 */
const LEARNING = [
  { name: 'PPO', config: { algorithm: 'ppo', seed: 1 }, updates: 25, target: 150 },
  { name: 'REINFORCE with a baseline', config: { algorithm: 'reinforce', seed: 1 }, updates: 25, target: 100 },
] as const;

describe('learning CartPole', () => {
  const random = randomPolicyReturn(500);

  it('a random policy keeps the pole up about 22 steps', () => {
    console.log(`random policy: mean return ${random.toFixed(1)} over 500 episodes`);
    expect(random).toBeGreaterThan(15);
    expect(random).toBeLessThan(30);
  });

  it.each(LEARNING)('$name lifts the mean return to $target within its budget', async ({ name, config, updates, target }) => {
    const { s, records, episodes } = await session(config);
    while (records.length < updates && !(records[records.length - 1]?.meanReturn >= target)) await s.step(1);
    const last = records[records.length - 1];
    console.log(
      `${name}: mean return of the last 20 episodes ${last.meanReturn.toFixed(1)} at update ${last.step} of ${updates} ` +
        `(${last.envSteps} environment steps; random policy ${random.toFixed(1)})`,
    );
    expect(records.map((r) => r.step)).toEqual(Array.from({ length: last.step }, (_, k) => k + 1));
    expect(last.meanReturn).toBeGreaterThanOrEqual(target);
    expect(last.meanReturn).toBeGreaterThan(4 * random);
    // The policy sharpened as it learned, and every figure is a number.
    expect(last.entropy).toBeLessThan(records[0].entropy);
    for (const r of records) for (const k of ['policyLoss', 'valueLoss', 'entropy', 'gradNorm'] as const) expect(Number.isFinite(r[k])).toBe(true);
    if (config.algorithm === 'ppo') {
      expect(records.every((r) => r.approxKl >= 0 && r.clipFraction >= 0 && r.clipFraction <= 1)).toBe(true);
    } else {
      expect(Number.isNaN(last.approxKl)).toBe(true);
    }
    // The trained policy, played greedily from a fresh reset, balances longer than a random one.
    const ep = await s.episode({ seed: 5, greedy: true });
    expect(ep.states.length).toBe((ep.length + 1) * 4);
    expect(ep.length).toBeGreaterThan(4 * random);
    // The critic's estimate in each state: finite, and positive where every step pays 1.
    expect(ep.values.length).toBe(ep.length);
    expect(ep.values.every((v) => Number.isFinite(v))).toBe(true);
    expect(ep.values[0]).toBeGreaterThan(0);
    // The episodes sent on the way (every 10 updates, from the same start) start where the first did.
    expect(episodes.map((e) => e.step)).toEqual([0, 10, 20].filter((k) => k <= last.step));
    for (const e of episodes) expect(Array.from(e.states.subarray(0, 4))).toEqual(Array.from(episodes[0].states.subarray(0, 4)));
    await s.dispose();
  });
});

describe('checkpoints', () => {
  const SMALL = [
    { name: 'PPO', config: { algorithm: 'ppo', envs: 4, horizon: 32, minibatches: 2, epochs: 2, hidden: 16, seed: 3 } },
    { name: 'REINFORCE', config: { algorithm: 'reinforce', envs: 4, hidden: 16, seed: 3 } },
  ] as const;

  it.each(SMALL)('$name: a checkpoint loaded into a new session continues bit for bit', async ({ config }) => {
    const a = await session(config);
    await a.s.step(3);
    const bytes = await a.s.exportCheckpoint();
    await a.s.step(2);
    const b = await session(config);
    expect((await b.s.importCheckpoint(bytes)).step).toBe(3);
    await b.s.step(2);
    const strip = (rs: RlStepRecord[]) => rs.map(({ ms: _, ...r }) => r);
    expect(strip(b.records.filter((r) => r.step > 3))).toEqual(strip(a.records.slice(3)));
    expect(await b.s.exportCheckpoint()).toEqual(await a.s.exportCheckpoint());
    await a.s.dispose();
    await b.s.dispose();
  });
});

/** A copy of a checkpoint with its metadata changed by `edit`. */
function withMetadata(bytes: Uint8Array, edit: (m: Record<string, string>) => Record<string, string>): Uint8Array {
  const file = parseSafetensors(bytes);
  const tensors = [...file.tensors.entries()].map(([name, t]) => ({ name, shape: t.shape, data: decodeTensor(file, name) }));
  return writeSafetensors(tensors, edit({ ...file.metadata }));
}

/** Resolves once `pred` holds, polling. */
const until = (pred: () => boolean) =>
  new Promise<void>((resolve) => {
    const id = setInterval(() => pred() && (clearInterval(id), resolve()), 5);
  });

describe('session', () => {
  const SMALL_PPO = { algorithm: 'ppo', envs: 4, horizon: 32, minibatches: 2, epochs: 2, hidden: 16, seed: 3 } as const;

  it('runs its loop to totalSteps, autosaves, changes hyperparameters between updates and refuses files that do not fit', async () => {
    const store = memoryAutosave();
    const s = new RlSession({ engine: await testEngine(), autosave: store });
    await s.create({ ...SMALL_PPO, autosaveEvery: 2, totalSteps: 5, metricsIntervalMs: 0 });
    const states: string[] = [];
    await s.subscribe((e) => e.type === 'status' && states.push(e.info.state));
    await s.start();
    await until(() => states.at(-1) === 'paused');
    const info = await s.info();
    expect(info).toMatchObject({ step: 5, state: 'paused', episodes: expect.any(Number), envSteps: 5 * 4 * 32 });
    expect(info.policyParams).toBe(4 * 16 + 16 + 16 * 16 + 16 + 16 * 2 + 2);
    expect(await s.hasAutosave()).toMatchObject({ task: 'rl', step: 4, model: 'CartPole, PPO' });

    await s.setHyper({ clip: 0.1, lr: 5e-4, epochs: 3 });
    expect((await s.info()).config).toMatchObject({ clip: 0.1, lr: 5e-4, epochs: 3 });
    await expect(s.setHyper({ envs: 8 })).rejects.toThrow(/'envs' cannot change during a run/);
    await expect(s.setHyper({ clip: 2 })).rejects.toThrow(ConfigError);

    const bytes = await s.exportCheckpoint();
    const gan = withMetadata(bytes, (m) => ({ ...m, task: 'gan' }));
    await expect(s.importCheckpoint(gan)).rejects.toThrow(/This is a GAN checkpoint.*load it on the GAN page/);
    const broken = withMetadata(bytes, (m) => {
      const config = JSON.parse(m.config);
      config.progress.env.state.pop();
      return { ...m, config: JSON.stringify(config) };
    });
    await expect(s.importCheckpoint(broken)).rejects.toThrow(CheckpointError);
    expect((await s.info()).step).toBe(5); // the run in place is untouched

    const b = new RlSession({ engine: await testEngine(), autosave: store });
    expect((await b.resumeAutosave()).step).toBe(4);
    await s.dispose();
    await b.dispose();
  });

  it('comes back from a lost device by itself, from the latest autosave, with the same records', async () => {
    const cfg = { ...SMALL_PPO, autosaveEvery: 2 };
    const ref = await session(cfg);
    await ref.s.step(8);
    await ref.s.dispose();

    const doomed = await createEngine({ tuningCache: false });
    const s = new RlSession({ engine: doomed, autosave: memoryAutosave() });
    const byStep = new Map<number, RlStepRecord>();
    const events: { type: string }[] = [];
    await s.subscribe((e) => {
      events.push(e);
      if (e.type === 'metrics') for (const r of e.steps) byStep.set(r.step, r);
    });
    await s.create({ ...cfg, metricsIntervalMs: 0 });
    await s.start();
    await until(() => byStep.has(3));
    doomed.destroy();
    // Step 8 recorded after the recovery (or an error): on a loaded machine the loop may have run
    // to step 8 before the destroy landed, and a pause then would stop it before it recovers.
    await until(() => steppedPastRecovery(events, 8) || events.some((e) => e.type === 'error'));
    await s.pause();
    expect(events.filter((e) => e.type === 'error')).toEqual([]);
    expectResumedFromLastAutosave(events, 2, 3);
    const strip = ({ ms: _, ...r }: RlStepRecord) => r;
    for (let step = 1; step <= 8; step++) expect(strip(byStep.get(step)!)).toEqual(strip(ref.records[step - 1]));
    await s.dispose();
  });
});
