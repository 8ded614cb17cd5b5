// The image denoiser: the U-Net's compiled forward against its own graph evaluated with every
// op's float64 CPU reference (a tiny conditional model, so every kind of block is present), the
// config errors, and the diffusion step on it learning: the loss on one batch of glyphs falls.

import { describe, expect, it } from 'vitest';
import { ConfigError, Diffusion, createUnet, glyphs, input } from '../src/index.js';
import { evalCpu } from './support/cpugraph.js';
import { testEngine } from './support/engine.js';

const tiny = { channels: 1, size: 8, base: 8, mults: [1, 2], blocks: 1, groups: 4, embDim: 16, timesteps: 10, classes: 3, seed: 2 };

describe('U-Net', () => {
  it('matches its CPU composition on a tiny conditional model', async () => {
    const engine = await testEngine();
    const unet = createUnet(tiny);
    const B = 2;
    const x = input('x', [B, 1, 8, 8]);
    const t = input('t', [B], 'i32');
    const label = input('label', [B], 'i32');
    const out = unet.predict(unet.weights, x, t, label);
    expect(out.shape).toEqual([B, 1, 8, 8]);
    // conv_out starts at zero (the model predicts zero noise before training), which would hide
    // everything behind it: give it values.
    const params = new Map<typeof x, Float32Array>();
    for (const p of Object.values(unet.weights)) params.set(p, await engine.readParameter(p));
    const outW = unet.weights['conv_out.weight'];
    const filled = Float32Array.from({ length: outW.size }, (_, i) => Math.sin(i) * 0.2);
    await engine.writeParameter(outW, filled);
    params.set(outW, filled);
    const feeds = {
      x: Float32Array.from({ length: B * 64 }, (_, i) => Math.cos(i * 0.7)),
      t: Int32Array.from([3, 9]),
      label: Int32Array.from([1, 3]), // 3 = "no label"
    };
    const [gpu] = await engine.run([out], feeds);
    const [cpu] = evalCpu([out], feeds, params);
    const scale = Math.max(...Array.from(cpu.data, Math.abs));
    expect(scale).toBeGreaterThan(0.05);
    const worst = Math.max(...Array.from(gpu, (v, i) => Math.abs(v - cpu.data[i])));
    expect(worst / scale).toBeLessThan(1e-4);
  });

  it('refuses configs it cannot build, naming the way out', () => {
    expect(() => createUnet({ ...tiny, size: 9 })).toThrow(ConfigError);
    expect(() => createUnet({ ...tiny, size: 9 })).toThrow(/not divisible by 2\^\(levels - 1\) = 2/);
    expect(() => createUnet({ ...tiny, groups: 3 })).toThrow(/groups 3 must divide every width/);
  });

  it('learns: the diffusion loss on one batch of glyphs falls', async () => {
    const engine = await testEngine();
    const B = 8;
    const data = glyphs(B, { size: 8, seed: 4 });
    const unet = createUnet({ ...tiny, classes: 10, timesteps: 50 });
    const diffusion = await Diffusion.create(engine, unet, B, { optimizer: { kind: 'adamw', lr: 3e-3, weightDecay: 0, maxGradNorm: 1 }, labelDrop: 0 }, 3);
    const losses: number[] = [];
    for (let s = 0; s < 60; s++) losses.push((await diffusion.step(data.images, data.labels))!);
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    const early = mean(losses.slice(0, 10)), late = mean(losses.slice(-10));
    console.log(`unet on one batch: loss ${early.toFixed(3)} -> ${late.toFixed(3)}`);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(late).toBeLessThan(early * 0.8);
    diffusion.dispose();
  });
});
