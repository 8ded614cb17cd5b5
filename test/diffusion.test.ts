// Diffusion: the schedules and the sampler's step algebra against their closed forms, then end to
// end in Node: the MLP denoiser trained on the ring of Gaussians, conditional on the mode, draws
// samples (labels spread evenly, guidance 1) whose MMD to held-out data is small and far below pure noise's, covering
// every mode, and guided samples that land in the mode they ask for.

import { describe, expect, it } from 'vitest';
import {
  Diffusion, DiffusionSampler, createMlpDenoiser, gaussian, mmd, modeCoverage, mulberry32, noiseSchedule,
  ringOfGaussians, sample2D, samplingTimesteps, stepCoefficients,
} from '../src/index.js';
import { testEngine } from './support/engine.js';

describe('noise schedules', () => {
  it('linear at T = 1000 is DDPM\'s 1e-4 .. 0.02, and both end near pure noise', () => {
    const lin = noiseSchedule('linear', 1000);
    expect(lin.betas[0]).toBeCloseTo(1e-4, 12);
    expect(lin.betas[999]).toBeCloseTo(0.02, 12);
    for (const s of [lin, noiseSchedule('cosine', 1000), noiseSchedule('linear', 50), noiseSchedule('cosine', 50)]) {
      for (let t = 1; t < s.alphaBar.length; t++) expect(s.alphaBar[t]).toBeLessThan(s.alphaBar[t - 1]);
      expect(s.alphaBar[s.alphaBar.length - 1]).toBeLessThan(1e-2);
      expect(s.alphaBar[0]).toBeGreaterThan(0.99);
    }
  });

  it('cosine follows f(t) / f(0) with f(t) = cos^2((t/T + s) / (1 + s) pi/2)', () => {
    const T = 200;
    const { alphaBar } = noiseSchedule('cosine', T);
    const f = (t: number) => Math.cos(((t / T + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    for (const t of [0, 17, 100, 150]) expect(alphaBar[t]).toBeCloseTo(f(t + 1) / f(0), 9);
  });
});

describe('the sampler step', () => {
  it('visits evenly spaced timesteps down to 0, all of them when steps = T', () => {
    expect(samplingTimesteps(100, 5)).toEqual([80, 60, 40, 20, 0]);
    expect(samplingTimesteps(10, 10)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(() => samplingTimesteps(10, 11)).toThrow(/steps must be an integer in \[1, 10\]/);
  });

  it('eta = 1 over consecutive steps is DDPM\'s posterior mean and variance', () => {
    const { betas, alphaBar } = noiseSchedule('linear', 100);
    for (const t of [1, 40, 99]) {
      const { ca, cb, cc } = stepCoefficients(alphaBar[t], alphaBar[t - 1], 1, 'eps');
      const alpha = 1 - betas[t];
      // mu = (x - beta / sqrt(1 - alphaBar) eps) / sqrt(alpha), var = beta (1 - alphaBar_prev) / (1 - alphaBar).
      expect(ca).toBeCloseTo(1 / Math.sqrt(alpha), 9);
      expect(cb).toBeCloseTo(-betas[t] / Math.sqrt(1 - alphaBar[t]) / Math.sqrt(alpha), 9);
      expect(cc * cc).toBeCloseTo((betas[t] * (1 - alphaBar[t - 1])) / (1 - alphaBar[t]), 9);
    }
  });

  it('with the true noise (or v), eta = 0 moves x_t exactly onto x_prev of the same x0 and noise', () => {
    const { alphaBar } = noiseSchedule('cosine', 50);
    const x0 = 0.7, eps = -1.3;
    for (const [t, p] of [[49, 30], [20, 19], [5, 0]]) {
      const at = alphaBar[t], ap = alphaBar[p];
      const xt = Math.sqrt(at) * x0 + Math.sqrt(1 - at) * eps;
      const want = Math.sqrt(ap) * x0 + Math.sqrt(1 - ap) * eps;
      const v = Math.sqrt(at) * eps - Math.sqrt(1 - at) * x0;
      for (const [pred, out] of [['eps', eps], ['v', v]] as const) {
        const c = stepCoefficients(at, ap, 0, pred);
        expect(c.ca * xt + c.cb * out).toBeCloseTo(want, 9);
        expect(c.da * xt + c.db * out).toBeCloseTo(x0, 9);
        expect(c.cc).toBe(0);
      }
    }
  });
});

describe('a 2D diffusion model trained in Node', () => {
  it('samples the ring of 8 Gaussians: near held-out data at guidance 1, in the asked mode at guidance 2', async () => {
    const engine = await testEngine();
    const B = 256;
    // Conditional on the mode, with the label dropped 10% of the time (so guidance has an
    // unconditional prediction to push away from). Labels spread evenly over the modes at
    // guidance 1 sample the whole ring.
    const train = ringOfGaussians(8192, {}, 1);
    const heldOut = sample2D('ring', 1000, 2);
    const denoiser = createMlpDenoiser({ timesteps: 100, classes: 8, seed: 3 });
    const optimizer = { kind: 'adamw', lr: 3e-3, weightDecay: 0, maxGradNorm: 1 } as const;
    const diffusion = await Diffusion.create(engine, denoiser, B, { schedule: 'cosine', optimizer, emaDecay: 0.99, labelDrop: 0.1 }, 5);
    const rand = mulberry32(7);
    const x0 = new Float32Array(B * 2);
    const labels = new Int32Array(B);
    let first = 0, last = 0;
    for (let s = 0; s < 1200; s++) {
      for (let i = 0; i < B; i++) {
        const k = Math.floor(rand() * 8192);
        x0[2 * i] = train.x[2 * k];
        x0[2 * i + 1] = train.x[2 * k + 1];
        labels[i] = train.mode[k];
      }
      const read = s === 0 || s >= 1100;
      const loss = await diffusion.step(x0, labels, read);
      if (s === 0) first = loss!;
      if (s >= 1100) last += loss! / 100;
      if (s % 10 === 9) await diffusion.updateEma(10);
    }
    const n = 1000;
    const sampler = await DiffusionSampler.create(engine, diffusion, n);
    const sampled = await sampler.sample({ sampler: 'ddpm', steps: 100, seed: 11, guidance: 1 });
    const rn = mulberry32(13);
    const noise = Float32Array.from({ length: 2 * n }, () => gaussian(rn));
    const dSamples = mmd(sampled, heldOut, 2);
    const dNoise = mmd(noise, heldOut, 2);
    const cover = modeCoverage(sampled, train.centres);
    // Guided, with DDIM at a fifth of the steps: each sample should land in the mode it asked for.
    const asked = Int32Array.from({ length: n }, (_, i) => i % 8);
    const guided = await sampler.sample({ sampler: 'ddim', steps: 20, seed: 12, labels: asked, guidance: 2 });
    let hits = 0;
    for (let i = 0; i < n; i++) {
      const dx = guided[2 * i] - train.centres[2 * asked[i]], dy = guided[2 * i + 1] - train.centres[2 * asked[i] + 1];
      if (Math.hypot(dx, dy) < 0.3) hits++;
    }
    console.log(`ring: loss ${first.toFixed(3)} -> ${last.toFixed(3)}; MMD^2 at guidance 1 ${dSamples.toFixed(4)}, noise ${dNoise.toFixed(4)}; modes ${cover.covered}/8; guided DDIM in the asked mode ${hits / n}`);
    expect(last).toBeLessThan(first);
    expect(dSamples).toBeLessThan(0.02);
    expect(dSamples).toBeLessThan(dNoise / 10);
    expect(cover.covered).toBe(8);
    expect(hits / n).toBeGreaterThan(0.9);
    sampler.dispose();
    diffusion.dispose();
  });
});
