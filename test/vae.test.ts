// The variational autoencoder, in Node: the two terms of the ELBO against float64 of their closed
// forms (KL(N(mu, exp(logvar)) || N(0, I)) and the Bernoulli and Gaussian reconstruction terms);
// an MLP VAE trained on 16x16 digits from a fixed seed, whose negative ELBO falls below half the
// first step's, whose held-out reconstructions beat the mean training image, whose KL is >= 0 and
// equals float64 of its own mu and logvar, and whose KL weight ramps as configured; the conv
// variant at 16 and 28 pixels; and the VAE session: config refusals by field, step records and
// pictures (a 2D latent's means by class and decoded grid), a checkpoint that continues bit for
// bit in a new session, an autosave resumed, and the user's images, binarised.
// Not here: what every session shares (sessions.test.ts), the ops it is built from (ops.test.ts).

import { describe, expect, it } from 'vitest';
import { decodeTensor, parseSafetensors } from '../src/checkpoint/safetensors.js';
import { glyphs } from '../src/data/glyphs.js';
import { SeededRandom } from '../src/data/random.js';
import { ConfigError } from '../src/errors.js';
import { betaAt, gaussianKl, reconstructionNats, Vae, type VaeStepResult } from '../src/models/vae.js';
import { constant } from '../src/tensor.js';
import { vaeSessionConfig, type VaeEvent, type VaePicturesEvent, type VaeStepRecord } from '../src/tasks/vae/protocol.js';
import { VaeSession } from '../src/tasks/vae/session.js';
import { memoryAutosave } from '../src/worker/autosave.js';
import { seededRandom } from './support/opchecks.js';
import { testEngine } from './support/engine.js';

const rand = seededRandom(17);
const uniform = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
const unit = (images: Float32Array) => images.map((v) => (v + 1) / 2);

/** float64 KL of each row of (n, L) mu and logvar: 0.5 sum (mu^2 + exp(logvar) - 1 - logvar). */
function klReference(mu: ArrayLike<number>, logvar: ArrayLike<number>, L: number): number[] {
  return Array.from({ length: mu.length / L }, (_, i) => {
    let s = 0;
    for (let j = i * L; j < (i + 1) * L; j++) s += mu[j] * mu[j] + Math.exp(logvar[j]) - 1 - logvar[j];
    return 0.5 * s;
  });
}

describe('the terms of the ELBO', () => {
  it('KL and both reconstruction terms equal float64 of their closed forms', async () => {
    const engine = await testEngine();
    const [n, L] = [7, 5];
    const mu = uniform(n * L, -2, 2), logvar = uniform(n * L, -3, 1.5);
    const kl = await engine.read(gaussianKl(constant(mu, [n, L]), constant(logvar, [n, L])));
    klReference(mu, logvar, L).forEach((want, i) => {
      expect(kl[i]).toBeGreaterThanOrEqual(0);
      expect(Math.abs(kl[i] - want)).toBeLessThan(1e-5 * Math.max(1, want));
    });

    const [B, S, sigma] = [4, 3, 0.2];
    const logits = uniform(B * S * S, -6, 6), x = uniform(B * S * S, 0, 1);
    const t = (v: Float32Array) => constant(v, [B, 1, S, S]);
    const bernoulli = await engine.read(reconstructionNats(t(logits), t(x), 'bernoulli', sigma));
    const gaussian = await engine.read(reconstructionNats(t(logits), t(x), 'gaussian', sigma));
    for (let b = 0; b < B; b++) {
      let bce = 0, sq = 0;
      for (let j = b * S * S; j < (b + 1) * S * S; j++) {
        const p = 1 / (1 + Math.exp(-logits[j]));
        bce -= x[j] * Math.log(p) + (1 - x[j]) * Math.log(1 - p);
        sq += (x[j] - p) ** 2;
      }
      const nll = sq / (2 * sigma * sigma) + ((S * S) / 2) * Math.log(2 * Math.PI * sigma * sigma);
      expect(Math.abs(bernoulli[b] - bce)).toBeLessThan(1e-5 * Math.max(1, bce));
      expect(Math.abs(gaussian[b] - nll)).toBeLessThan(1e-5 * Math.max(1, Math.abs(nll)));
    }
  });

  it('beta ramps linearly from 0 over the warm-up, then stays', () => {
    expect([0, 5, 10, 20, 21, 1000].map((s) => betaAt({ beta: 2, warmupSteps: 20 }, s))).toEqual([0, 0.5, 1, 2, 2, 2]);
    expect(betaAt({ beta: 0.5, warmupSteps: 0 }, 0)).toBe(0.5);
  });
});

describe('a VAE trained on 16x16 digits in Node', () => {
  it('MLP: the ELBO improves well past the first step, reconstructions beat the mean image, KL matches its mu and logvar', async () => {
    const engine = await testEngine();
    const [B, P, steps, warmupSteps] = [64, 256, 150, 20];
    const train = unit(glyphs(2048, { size: 16, seed: 5 }).images);
    const heldOut = unit(glyphs(256, { size: 16, seed: 99 }).images);
    const vae = await Vae.create(engine, { arch: 'mlp', latent: 8, hidden: 128, batch: B, warmupSteps, seed: 1 });
    const order = new SeededRandom(3);
    const x = new Float32Array(B * P);
    const results: VaeStepResult[] = [];
    for (let s = 0; s < steps; s++) {
      for (let i = 0; i < B; i++) {
        const k = Math.floor(order.next() * 2048);
        x.set(train.subarray(k * P, (k + 1) * P), i * P);
      }
      results.push((await vae.step(x))!);
    }
    // The KL weight of step s (1-based) is min(1, (s - 1) / warmupSteps), and the loss weighs KL by it.
    results.forEach((r, i) => {
      expect(r.beta).toBe(Math.min(1, i / warmupSteps));
      expect(Math.abs(r.loss - (r.recon + r.beta * r.kl))).toBeLessThan(1e-3 * r.loss);
    });
    const negElbo = results.map((r) => r.recon + r.kl);
    const last = negElbo.slice(-10).reduce((a, b) => a + b, 0) / 10;
    console.log(`VAE MLP: -ELBO first step ${negElbo[0].toFixed(1)} nats, mean of the last 10 of ${steps} ${last.toFixed(1)}`);
    expect(last).toBeLessThan(0.5 * negElbo[0]);

    const ev = await vae.evaluate(heldOut, 7);
    const heldNeg = ev.recon.reduce((a, b) => a + b, 0) / 256 + ev.kl.reduce((a, b) => a + b, 0) / 256;
    klReference(ev.mu, ev.logvar, 8).forEach((want, i) => {
      expect(ev.kl[i]).toBeGreaterThanOrEqual(0);
      expect(Math.abs(ev.kl[i] - want)).toBeLessThan(1e-4 * Math.max(1, want));
    });
    const mean = new Float64Array(P);
    for (let k = 0; k < 2048; k++) for (let j = 0; j < P; j++) mean[j] += train[k * P + j] / 2048;
    let recon = 0, baseline = 0;
    for (let k = 0; k < 256; k++) {
      for (let j = 0; j < P; j++) {
        recon += (ev.reconstructions[k * P + j] - heldOut[k * P + j]) ** 2;
        baseline += (mean[j] - heldOut[k * P + j]) ** 2;
      }
    }
    console.log(`VAE MLP held out: -ELBO ${heldNeg.toFixed(1)} nats; pixel MSE ${(recon / 256 / P).toFixed(4)}, mean image ${(baseline / 256 / P).toFixed(4)}`);
    expect(heldNeg).toBeLessThan(0.5 * negElbo[0]);
    expect(recon).toBeLessThan(0.7 * baseline);
    // encode() and reconstruct() of a few of them agree with the evaluation.
    const { mu } = await vae.encode(heldOut.subarray(0, 4 * P));
    for (let i = 0; i < 4 * 8; i++) expect(mu[i]).toBeCloseTo(ev.mu[i], 4);
    const again = await vae.reconstruct(heldOut.subarray(0, 4 * P));
    for (let i = 0; i < 4 * P; i++) expect(again[i]).toBeCloseTo(ev.reconstructions[i], 4);
    await expect(vae.decode(new Float32Array(3))).rejects.toThrow(/z must be \(n, 8\) values/);
    vae.dispose();
  });

  it('conv: trains at 16 pixels, and at 28 with the Gaussian likelihood decodes (n, 1, 28, 28) in [0, 1]', async () => {
    const engine = await testEngine();
    const train = unit(glyphs(256, { size: 16, seed: 8 }).images);
    const vae = await Vae.create(engine, { arch: 'conv', latent: 4, width: 8, batch: 16, lr: 2e-3, seed: 2 });
    const negElbo: number[] = [];
    for (let s = 0; s < 25; s++) {
      const r = (await vae.step(train.subarray((s % 16) * 16 * 256, ((s % 16) + 1) * 16 * 256)))!;
      negElbo.push(r.recon + r.kl);
    }
    const last = negElbo.slice(-5).reduce((a, b) => a + b, 0) / 5;
    console.log(`VAE conv 16: -ELBO first ${negElbo[0].toFixed(1)}, mean of the last 5 of 25 ${last.toFixed(1)}`);
    expect(last).toBeLessThan(0.8 * negElbo[0]);
    vae.dispose();

    const big = await Vae.create(engine, { arch: 'conv', size: 28, latent: 2, width: 4, batch: 4, likelihood: 'gaussian', sigma: 0.1, seed: 3 });
    const x = unit(glyphs(4, { size: 28, seed: 9 }).images);
    const r = (await big.step(x))!;
    expect(Number.isFinite(r.recon) && r.kl >= 0).toBe(true);
    const images = await big.decode(Float32Array.of(0, 0, 1, -1, -2, 0.5));
    expect(images.length).toBe(3 * 28 * 28);
    expect(images.every((v) => v >= 0 && v <= 1)).toBe(true);
    await expect(Vae.create(engine, { arch: 'conv', size: 18 })).rejects.toThrow(/divisible by 4/);
    big.dispose();
  });
});

describe('the VAE session', () => {
  it('refuses bad fields by name', () => {
    expect(() => vaeSessionConfig({ latent: 0 })).toThrow(/latent must be an integer in \[1, 512\]/);
    expect(() => vaeSessionConfig({ arch: 'resnet' as never })).toThrow(/arch must be one of 'mlp', 'conv'/);
    expect(() => vaeSessionConfig({ likelihood: 'poisson' as never })).toThrow(ConfigError);
    expect(() => vaeSessionConfig({ pictureCount: 20, heldOut: 10 })).toThrow(/pictureCount/);
    expect(() => vaeSessionConfig({ latnet: 2 } as never)).toThrow(/unknown field\(s\) latnet/);
    expect(vaeSessionConfig({}).latent).toBe(2);
  });

  it('records the terms and beta, draws a 2D latent, and a checkpoint continues bit for bit in a new session', async () => {
    const engine = await testEngine();
    const config = {
      latent: 2, hidden: 64, batch: 32, trainSize: 512, heldOut: 40, pictureCount: 6, sampleCount: 5, gridSide: 4, pictureEvery: 4,
      warmupSteps: 10, metricsIntervalMs: 0, autosaveEvery: 0,
    };
    const listen = async (s: VaeSession) => {
      const records: VaeStepRecord[] = [], pictures: VaePicturesEvent[] = [];
      await s.subscribe((e: VaeEvent) => {
        if (e.type === 'metrics') records.push(...e.steps);
        if (e.type === 'pictures') pictures.push(e);
      });
      return { records, pictures };
    };
    const a = new VaeSession({ engine, autosave: memoryAutosave() });
    const ea = await listen(a);
    await a.create(config);
    await a.step(8);
    expect(ea.records.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const r of ea.records) {
      expect(r.beta).toBe(Math.min(1, (r.step - 1) / 10));
      expect(r.elbo).toBe(-(r.recon + r.kl));
      expect(r.kl).toBeGreaterThanOrEqual(0);
    }
    // At the build (step 0), then every 4 steps.
    expect(ea.pictures.map((p) => p.step)).toEqual([0, 4, 8]);
    const p = ea.pictures[2];
    const P = 16 * 16;
    expect([p.inputs.length, p.reconstructions.length, p.samples.length]).toEqual([6 * P, 6 * P, 5 * P]);
    expect(p.latent!.mu.length).toBe(40 * 2);
    expect(p.latent!.labels!.length).toBe(40);
    expect(p.latent!.grid.images.length).toBe(16 * P);
    for (const v of [p.reconstructions, p.samples, p.latent!.grid.images]) expect(v.every((x) => x >= 0 && x <= 1)).toBe(true);
    expect(p.heldOut!.elbo).toBeCloseTo(-(p.heldOut!.recon + p.heldOut!.kl), 3);
    expect(p.heldOut!.meanImageError).toBeGreaterThan(0);
    expect((await a.decode(Float32Array.of(0, 0))).length).toBe(P);

    const saved = await a.exportCheckpoint();
    await a.step(6);
    const b = new VaeSession({ engine, autosave: memoryAutosave() });
    const eb = await listen(b);
    expect((await b.importCheckpoint(saved)).step).toBe(8);
    await b.step(6);
    const figures = (rs: VaeStepRecord[]) => rs.filter((r) => r.step > 8).map((r) => [r.step, r.recon, r.kl, r.loss, r.beta, r.gradNorm]);
    expect(figures(eb.records)).toEqual(figures(ea.records));
    expect(figures(eb.records).length).toBe(6);
    const fa = parseSafetensors(await a.exportCheckpoint()), fb = parseSafetensors(await b.exportCheckpoint());
    expect([...fb.tensors.keys()].sort()).toEqual([...fa.tensors.keys()].sort());
    for (const name of fa.tensors.keys()) expect(decodeTensor(fb, name)).toEqual(decodeTensor(fa, name));
    await a.dispose();
    await b.dispose();
  });

  it('autosaves, and a resumed autosave steps on as the run it came from', async () => {
    const engine = await testEngine();
    const store = memoryAutosave();
    const config = { latent: 2, hidden: 32, batch: 16, trainSize: 128, heldOut: 8, pictureCount: 2, sampleCount: 2, gridSide: 2, pictureEvery: 0, autosaveEvery: 3 };
    const a = new VaeSession({ engine, autosave: store });
    await a.create(config);
    await a.step(3);
    const fourth = await a.step(1);
    const b = new VaeSession({ engine, autosave: store });
    expect(await b.hasAutosave()).toMatchObject({ task: 'vae', step: 3, model: 'glyphs16, mlp, latent 2' });
    expect((await b.resumeAutosave()).step).toBe(3);
    expect(await b.step(1)).toEqual(fourth);
    await a.dispose();
    await b.dispose();
  });

  it('trains on the user\'s images, binarised, and evaluates them as its held-out set', async () => {
    const s = new VaeSession({ engine: await testEngine(), autosave: memoryAutosave() });
    const decoded = Array.from({ length: 16 }, (_, i) => ({
      name: `img${i}.png`, width: 20, height: 20,
      data: Uint8Array.from({ length: 20 * 20 * 4 }, (_, k) => (k % 4 === 3 ? 255 : ((k >> 2) % 20) * 12 + i * 3)),
    }));
    await expect(s.create({ dataset: 'upload' })).rejects.toThrow(/no images yet/);
    await s.upload({ decoded }, 16);
    const info = await s.create({ dataset: 'upload', latent: 3, hidden: 32, batch: 8, heldOut: 10, pictureCount: 4, sampleCount: 2, pictureEvery: 0, binarize: true });
    expect(info).toMatchObject({ trainImages: 16, heldOutIsTrain: true, canTrain: true, size: 16 });
    const r = await s.step(2);
    expect(Number.isFinite(r.elbo)).toBe(true);
    const p = await s.pictures();
    expect(p.heldOut!.count).toBe(10);
    expect(p.inputs.every((v) => v === 0 || v === 1)).toBe(true);
    expect(p.latent).toBeNull();
    await s.dispose();
  });
});
