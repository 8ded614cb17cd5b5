// The GAN: WGAN-GP's gradient penalty differentiated by the engine (a gradient of a gradient,
// through leaky ReLU and spectral normalisation) against finite differences of its float64 CPU
// graph; config errors; a step on a lost device; spectral normalisation's power iteration against a float64 one; a DCGAN
// on glyphs with each loss; and in Node, the documented ring preset covering the ring's modes.

import { describe, expect, it } from 'vitest';
import {
  ConfigError, DeviceLostError, Gan, createEngine, InputError, constant, div, gaussian, ganPresets, gradientPenalty, gradients, leakyRelu, matmul,
  glyphs, mmd, modeCoverage, mul, mulberry32, parameter, ringOfGaussians, sqrt, sum, type Tensor,
} from '../src/index.js';
import { evalCpu } from './support/cpugraph.js';
import { seededRandom } from './support/opchecks.js';
import { testEngine } from './support/engine.js';

const rand = seededRandom(11);
const randoms = (n: number, s = 1) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * s);

describe('gradient penalty', () => {
  it('has the gradient finite differences give, through leaky ReLU and a normalised weight', async () => {
    const engine = await testEngine();
    const w1 = parameter('w1', randoms(2 * 6), [2, 6]);
    const b1 = parameter('b1', randoms(6, 0.3));
    const w2 = parameter('w2', randoms(6 * 1), [6, 1]);
    // A weight divided by a differentiable scale, as spectral normalisation divides by sigma.
    const scale = sqrt(sum(mul(w2, w2)));
    const critic = (x: Tensor) => matmul(leakyRelu(matmul(x, w1, { bias: b1 }), 0.2), div(w2, scale));
    const points = constant(randoms(5 * 2, 1.5), [5, 2]);
    const penalty = gradientPenalty(critic, points);
    const params = [w1, b1, w2];
    const grads = await engine.run(gradients([penalty], params));
    const values = new Map<Tensor, Float64Array>(params.map((p) => [p, Float64Array.from((p.source as { init: Float32Array }).init)]));
    params.forEach((p, i) => {
      const x = values.get(p)!;
      for (let k = 0; k < x.length; k++) {
        const keep = x[k];
        x[k] = keep + 1e-4;
        const up = evalCpu([penalty], {}, values)[0].data[0];
        x[k] = keep - 1e-4;
        const down = evalCpu([penalty], {}, values)[0].data[0];
        x[k] = keep;
        const want = (up - down) / 2e-4;
        expect(Math.abs(grads[i][k] - want)).toBeLessThan(2e-3 * Math.max(1, Math.abs(want)));
      }
    });
    // Not a vacuous check: the penalty's gradient is far from zero here.
    expect(Math.max(...grads.flatMap((g) => Array.from(g, Math.abs)))).toBeGreaterThan(1e-2);
  });
});

describe('GAN', () => {
  it('refuses bad configs and batches with errors that name them', async () => {
    await expect(Gan.create(await testEngine(), { loss: 'minimax' as never })).rejects.toThrow(ConfigError);
    await expect(Gan.create(await testEngine(), { beta1: 1 })).rejects.toThrow(/beta1 must be in \[0, 1\)/);
    const gan = await Gan.create(await testEngine(), { batch: 4, hidden: 8, dSteps: 2 });
    await expect(gan.step([new Float32Array(8)])).rejects.toThrow(InputError);
    await expect(gan.generate(new Float32Array(3))).rejects.toThrow(/z must be \(n, 2\)/);
    gan.dispose();
  });

  it('a step on a lost device fails with the loss, from every discriminator step (none left unhandled)', async () => {
    const engine = await createEngine({ tuningCache: false, progress: false });
    const gan = await Gan.create(engine, { batch: 4, hidden: 8, dSteps: 3 });
    const reals = () => [0, 1, 2].map(() => randoms(8));
    expect(Number.isFinite((await gan.step(reals()))!.dLoss)).toBe(true);
    engine.destroy();
    await engine.gpu.lost;
    await expect(gan.step(reals(), false)).rejects.toThrow(DeviceLostError);
  });

  it('spectral normalisation tracks the top singular value of each discriminator weight', async () => {
    const engine = await testEngine();
    // lrD = 0 holds the weights still, so the stored vectors converge under the power iteration.
    const gan = await Gan.create(engine, { batch: 8, hidden: 16, spectralNorm: true, lrD: 0, lrG: 0, seed: 4 });
    const real = new Float32Array(16);
    for (let k = 0; k < 40; k++) await gan.step([real], false);
    const state = gan.stateDict();
    for (const i of [0, 1, 2]) {
      const w = await engine.readParameter(state[`discriminator.${i}.weight`]); // (rows, cols)
      const u = await engine.readParameter(state[`discriminator.${i}.sn_u`]); // (cols, 1)
      const [rows, cols] = state[`discriminator.${i}.weight`].shape;
      const times = (x: ArrayLike<number>) => Array.from({ length: rows }, (_, r) => Array.from(x).reduce((s, xv, c) => s + w[r * cols + c] * xv, 0));
      const sigmaStored = Math.hypot(...times(u)) / Math.hypot(...Array.from(u));
      // The reference: many power iterations in float64 from a fixed start.
      let x = Array.from({ length: cols }, (_, c) => Math.cos(c + 1));
      let sigma = 0;
      for (let it = 0; it < 300; it++) {
        const y = times(x);
        const back = Array.from({ length: cols }, (_, c) => y.reduce((s, yv, r) => s + w[r * cols + c] * yv, 0));
        const n = Math.hypot(...back);
        x = back.map((v) => v / n);
        sigma = Math.hypot(...times(x));
      }
      expect(Math.abs(sigmaStored - sigma) / sigma).toBeLessThan(0.02);
    }
    gan.dispose();
  });

  it('trains a DCGAN on glyphs with each loss: finite losses, images of the right shape in [-1, 1]', async () => {
    const engine = await testEngine();
    const images = glyphs(8, { size: 16, seed: 3 }).images;
    for (const loss of ['nonsaturating', 'hinge', 'wgan-gp'] as const) {
      const gan = await Gan.create(engine, { ...ganPresets.glyphs, width: 8, latent: 8, batch: 8, loss, spectralNorm: loss === 'hinge' });
      let r = null;
      for (let k = 0; k < 3; k++) r = await gan.step([images]);
      expect(Number.isFinite(r!.dLoss) && Number.isFinite(r!.gLoss)).toBe(true);
      const out = await gan.generate(new Float32Array(2 * 8).fill(0.5));
      expect(out.length).toBe(2 * 16 * 16);
      expect(out.every((v) => v >= -1 && v <= 1)).toBe(true);
      expect((await gan.discriminate(images)).length).toBe(8);
      gan.dispose();
    }
  });

  it('the ring preset covers at least 7 of the 8 modes within 1000 iterations', async () => {
    const engine = await testEngine();
    const gan = await Gan.create(engine, { ...ganPresets.ring, seed: 1 });
    const B = gan.config.batch;
    const train = ringOfGaussians(8192, {}, 1);
    const heldOut = ringOfGaussians(1000, {}, 2).x;
    const pick = mulberry32(3);
    const batch = () => {
      const x = new Float32Array(B * 2);
      for (let i = 0; i < B; i++) {
        const k = Math.floor(pick() * 8192);
        x[2 * i] = train.x[2 * k];
        x[2 * i + 1] = train.x[2 * k + 1];
      }
      return x;
    };
    const rz = mulberry32(9);
    const z = Float32Array.from({ length: 2000 }, () => gaussian(rz));
    const before = mmd(await gan.generate(z), heldOut, 2);
    let last = null;
    for (let it = 1; it <= 1000; it++) last = await gan.step(Array.from({ length: gan.config.dSteps }, batch), it % 500 === 0);
    const samples = await gan.generate(z);
    const cover = modeCoverage(samples, train.centres);
    const after = mmd(samples, heldOut, 2);
    console.log(`gan ring: modes ${cover.covered}/8, near a mode ${cover.highQuality}, MMD^2 ${before.toFixed(4)} -> ${after.toFixed(4)}, losses D ${last!.dLoss.toFixed(3)} G ${last!.gLoss.toFixed(3)}`);
    expect(Number.isFinite(last!.dLoss) && Number.isFinite(last!.gLoss)).toBe(true);
    expect(cover.covered).toBeGreaterThanOrEqual(7);
    expect(after).toBeLessThan(before / 5);
    gan.dispose();
  });
});
