// Contrastive learning, in Node: the augmentation ops against their CPU references (the registry's
// cases) and as views (same seed same view, two offsets two views); NT-Xent and the triplet loss,
// their similarity figures and gradients against float64 statements of them on random inputs;
// and the session on 16x16 digits from a fixed seed: after 200 steps a linear probe on the
// learned features, with 10 labels per digit, beats the same probe on the encoder as initialised
// by at least 10 points of held-out accuracy, and the probe on the raw pixels; the embedding by
// class; a checkpoint continues bit for bit in a new session; views of training images shown
// without touching training, and a run with every augmentation off.
// Not here: what every session shares (sessions.test.ts), the other ops (ops.test.ts).

import { describe, expect, it } from 'vitest';
import { decodeTensor, parseSafetensors } from '../src/checkpoint/safetensors.js';
import { grad } from '../src/autograd.js';
import { augmentView, ntXent, tripletLoss } from '../src/models/contrastive.js';
import { constant, parameter } from '../src/tensor.js';
import type { ContrastiveEvent, ContrastiveStepRecord } from '../src/tasks/contrastive/protocol.js';
import { ContrastiveSession } from '../src/tasks/contrastive/session.js';
import { memoryAutosave } from '../src/worker/autosave.js';
import { runOpChecks, seededRandom } from './support/opchecks.js';
import { testEngine } from './support/engine.js';

const rand = seededRandom(23);
const uniform = (n: number) => Array.from({ length: n }, () => 2 * rand() - 1);

/** Cosine similarities of the rows of z (R, P) in float64. */
function cosines(z: number[], R: number, P: number): number[][] {
  const n = Array.from({ length: R }, (_, i) => Math.hypot(...z.slice(i * P, (i + 1) * P)));
  return Array.from({ length: R }, (_, i) =>
    Array.from({ length: R }, (_, j) => {
      let s = 0;
      for (let k = 0; k < P; k++) s += z[i * P + k] * z[j * P + k];
      return s / (n[i] * n[j]);
    }),
  );
}

/** SimCLR's NT-Xent over all 2N anchors, in float64 with plain loops. */
function ntXent64(z: number[], R: number, P: number, tau: number): number {
  const s = cosines(z, R, P), N = R / 2;
  let loss = 0;
  for (let i = 0; i < R; i++) {
    const pos = i < N ? i + N : i - N;
    let denom = 0;
    for (let k = 0; k < R; k++) if (k !== i) denom += Math.exp(s[i][k] / tau);
    loss -= Math.log(Math.exp(s[i][pos] / tau) / denom);
  }
  return loss / R;
}

/** The triplet loss on unit vectors: anchor view 1, positive view 2, negative the next image's view 2. */
function triplet64(z: number[], R: number, P: number, margin: number): number {
  const N = R / 2;
  const unit = (i: number) => {
    const v = z.slice(i * P, (i + 1) * P), n = Math.hypot(...v);
    return v.map((x) => x / n);
  };
  const d2 = (a: number[], b: number[]) => a.reduce((s, x, k) => s + (x - b[k]) ** 2, 0);
  let loss = 0;
  for (let i = 0; i < N; i++) loss += Math.max(0, d2(unit(i), unit(N + i)) - d2(unit(i), unit(N + ((i + 1) % N))) + margin);
  return loss / N;
}

/** Central differences of f at z in float64. */
function numericGrad(f: (z: number[]) => number, z: number[], h = 1e-5): number[] {
  return z.map((_, k) => {
    const up = [...z], down = [...z];
    up[k] += h;
    down[k] -= h;
    return (f(up) - f(down)) / (2 * h);
  });
}

describe('augmentations', () => {
  it('each op matches its CPU reference on the registry cases', async () => {
    const names = ['randomShift2d', 'randomRotate2d', 'randomCutout2d'];
    const results = await runOpChecks(await testEngine(), { filter: (n) => names.includes(n) });
    expect(new Set(results.map((r) => r.op))).toEqual(new Set(names));
    expect(results.length).toBe(15);
    expect(results.filter((r) => !r.ok).map((r) => `${r.case}: ${r.detail}`)).toEqual([]);
  });

  it('gives the same view for the same seed and two different views for two offsets', async () => {
    const engine = await testEngine();
    const x = constant(Array.from({ length: 4 * 256 }, () => rand()), [4, 1, 16, 16]);
    const a = { shift: 2, rotate: 15, cutout: 4, noise: 0.1 };
    const seed = constant([7], [], 'i32');
    const [v0, again, v1] = await engine.run([augmentView(x, a, seed, 0), augmentView(x, a, seed, 0), augmentView(x, a, seed, 1)]);
    expect(again).toEqual(v0);
    const diff = (p: ArrayLike<number>, q: ArrayLike<number>) => Array.from(p).reduce((s, v, i) => s + Math.abs(v - q[i]), 0) / p.length;
    expect(diff(v0, v1)).toBeGreaterThan(0.05);
  });
});

describe('the losses', () => {
  const [N, P] = [4, 5], R = 2 * N;
  it('NT-Xent, its figures and its gradient equal float64', async () => {
    const engine = await testEngine();
    const z0 = uniform(R * P), tau = 0.3;
    const z = parameter('z', Float32Array.from(z0), [R, P]);
    const f = ntXent(z, tau);
    const [loss, posSim, negSim, accuracy, dz] = await engine.run([f.loss, f.posSim, f.negSim, f.accuracy, grad(f.loss, [z])[0]]);
    expect(Math.abs(loss[0] - ntXent64(z0, R, P, tau))).toBeLessThan(1e-5);
    const s = cosines(z0, R, P);
    const pos = (i: number) => (i < N ? i + N : i - N);
    let ps = 0, ns = 0, hits = 0;
    for (let i = 0; i < R; i++) {
      ps += s[i][pos(i)] / R;
      let best = -1;
      for (let j = 0; j < R; j++) {
        if (j !== i && j !== pos(i)) ns += s[i][j] / (R * (R - 2));
        if (j !== i && (best < 0 || s[i][j] > s[i][best])) best = j;
      }
      hits += best === pos(i) ? 1 / R : 0;
    }
    expect(Math.abs(posSim[0] - ps)).toBeLessThan(1e-5);
    expect(Math.abs(negSim[0] - ns)).toBeLessThan(1e-5);
    expect(Math.abs(accuracy[0] - hits)).toBeLessThan(1e-6);
    numericGrad((v) => ntXent64(v, R, P, tau), z0).forEach((want, k) => expect(Math.abs(dz[k] - want)).toBeLessThan(1e-4));
  });

  it('the triplet loss and its gradient equal float64', async () => {
    const engine = await testEngine();
    const z0 = uniform(R * P), margin = 0.5;
    const z = parameter('z', Float32Array.from(z0), [R, P]);
    const f = tripletLoss(z, margin);
    const [loss, dz] = await engine.run([f.loss, grad(f.loss, [z])[0]]);
    expect(loss[0]).toBeGreaterThan(0);
    expect(Math.abs(loss[0] - triplet64(z0, R, P, margin))).toBeLessThan(1e-5);
    numericGrad((v) => triplet64(v, R, P, margin), z0).forEach((want, k) => expect(Math.abs(dz[k] - want)).toBeLessThan(1e-4));
  });
});

describe('the contrastive session', () => {
  it('learns features a linear probe reads better than the initial encoder and the raw pixels, and shows them by class', async () => {
    const engine = await testEngine();
    const s = new ContrastiveSession({ engine, autosave: memoryAutosave() });
    await s.create({ batch: 64, hidden: 128, trainSize: 2048, heldOut: 512, probePerClass: 10, probeEvery: 0, embeddingEvery: 0, autosaveEvery: 0 });
    const last = await s.step(200);
    expect(last.step).toBe(200);
    const p = await s.probe();
    console.log(`probe (100 labels, 512 held out): learned ${p.learned.testAccuracy}, random encoder ${p.randomEncoder.testAccuracy}, raw pixels ${p.rawPixels.testAccuracy}`);
    expect(p.labelled).toBe(100);
    expect(p.learned.testAccuracy).toBeGreaterThanOrEqual(p.randomEncoder.testAccuracy + 0.1);
    expect(p.learned.testAccuracy).toBeGreaterThan(p.rawPixels.testAccuracy); // learned without labels, it reads better than the pixels
    const e = await s.embedding();
    expect(e.points.length).toBe(2 * 512);
    expect(e.labels.length).toBe(512);
    expect(e.points.every(Number.isFinite)).toBe(true);
    expect(e.explained[0]).toBeGreaterThanOrEqual(e.explained[1]);
    expect(e.explained[0] + e.explained[1]).toBeLessThanOrEqual(1 + 1e-6);
    await s.dispose();
  });

  it('records its figures, and a checkpoint continues bit for bit in a new session', async () => {
    const engine = await testEngine();
    const config = { batch: 16, hidden: 32, features: 16, projHidden: 16, projection: 8, trainSize: 256, heldOut: 20, probePerClass: 2, probeEvery: 0, embeddingEvery: 0, metricsIntervalMs: 0, autosaveEvery: 0 };
    const listen = async (s: ContrastiveSession) => {
      const records: ContrastiveStepRecord[] = [];
      await s.subscribe((e: ContrastiveEvent) => {
        if (e.type === 'metrics') records.push(...e.steps);
      });
      return records;
    };
    const a = new ContrastiveSession({ engine, autosave: memoryAutosave() });
    const ra = await listen(a);
    await a.create(config);
    await a.step(3);
    expect(ra.map((r) => r.step)).toEqual([1, 2, 3]);
    for (const r of ra) {
      expect(r.accuracy).toBeGreaterThanOrEqual(0);
      expect(r.accuracy).toBeLessThanOrEqual(1);
      expect(Math.abs(r.posSim)).toBeLessThanOrEqual(1 + 1e-5);
    }
    const saved = await a.exportCheckpoint();
    await a.step(3);
    const b = new ContrastiveSession({ engine, autosave: memoryAutosave() });
    const rb = await listen(b);
    expect((await b.importCheckpoint(saved)).step).toBe(3);
    await b.step(3);
    const figures = (rs: ContrastiveStepRecord[]) => rs.filter((r) => r.step > 3).map((r) => [r.step, r.loss, r.posSim, r.negSim, r.accuracy, r.gradNorm]);
    expect(figures(rb)).toEqual(figures(ra));
    expect(figures(rb).length).toBe(3);
    const fa = parseSafetensors(await a.exportCheckpoint()), fb = parseSafetensors(await b.exportCheckpoint());
    for (const name of fa.tensors.keys()) expect(decodeTensor(fb, name)).toEqual(decodeTensor(fa, name));
    await a.dispose();
    await b.dispose();
  });

  it('shows views of training images as the step draws them, without changing training; and trains with every augmentation off', async () => {
    const engine = await testEngine();
    const config = { batch: 8, hidden: 16, features: 8, projHidden: 8, projection: 4, trainSize: 64, heldOut: 10, probePerClass: 1, probeEvery: 0, embeddingEvery: 0, metricsIntervalMs: 0, autosaveEvery: 0 };
    const losses = async (s: ContrastiveSession, look: boolean) => {
      const out: number[] = [];
      const shown: ContrastiveEvent[] = [];
      await s.subscribe((e: ContrastiveEvent) => {
        if (e.type === 'metrics') out.push(...e.steps.map((r) => r.loss));
        else shown.push(e);
      });
      await s.create(config);
      for (let i = 0; i < 3; i++) {
        if (look) await s.views();
        await s.step(1);
      }
      return { out, shown };
    };
    const plain = new ContrastiveSession({ engine, autosave: memoryAutosave() });
    const looked = new ContrastiveSession({ engine, autosave: memoryAutosave() });
    const a = await losses(plain, false), b = await losses(looked, true);
    expect(b.out).toEqual(a.out); // the views draw from a stream of their own
    // A new run shows its views and its embedding (with the held-out digits) by itself.
    const embedded = a.shown.find((e) => e.type === 'embedding');
    expect(embedded?.type === 'embedding' && embedded.images.length).toBe(10 * 256);
    const v = await looked.views();
    expect(v.images.length).toBe(8 * 256);
    expect(v.first.length).toBe(v.images.length);
    expect(v.second.length).toBe(v.images.length);
    expect(v.first).not.toEqual(v.second);
    expect(v.first).not.toEqual(v.images);
    expect((await looked.views()).first).not.toEqual(v.first); // a fresh draw each time
    expect(b.shown.filter((e) => e.type === 'views').length).toBeGreaterThanOrEqual(4);

    const bare = new ContrastiveSession({ engine, autosave: memoryAutosave() });
    await bare.create({ ...config, shift: 0, rotate: 0, cutout: 0, noise: 0 });
    expect(Number.isFinite((await bare.step(2)).loss)).toBe(true);
    const same = await bare.views();
    expect(same.first).toEqual(same.images);
    expect(same.second).toEqual(same.images);
    for (const s of [plain, looked, bare]) await s.dispose();
  });
});
