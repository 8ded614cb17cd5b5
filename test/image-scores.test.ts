// The image scorer: the classifier the engine trains on generated glyphs is accurate on held-out
// glyphs, real glyphs score a small Fréchet distance and high class agreement, and noise or a
// collapsed set (one digit asked to be every class) scores far worse.

import { describe, expect, it } from 'vitest';
import { ImageScorer, InputError, glyphs, mulberry32 } from '../src/index.js';
import { testEngine } from './support/engine.js';

describe('image scorer', () => {
  it('tells real glyphs from noise and from a collapsed set', async () => {
    const engine = await testEngine();
    const scorer = await ImageScorer.train(engine, { size: 16, trainImages: 4000, heldOut: 500, steps: 300 });
    console.log(`scorer: held-out accuracy ${scorer.heldOutAccuracy}`);
    expect(scorer.heldOutAccuracy).toBeGreaterThan(0.9);

    const real = glyphs(500, { size: 16, seed: 77 });
    const realScore = await scorer.score(real.images, real.labels);
    const rand = mulberry32(5);
    const noise = Float32Array.from({ length: real.images.length }, () => rand() * 2 - 1);
    const noiseScore = await scorer.score(noise, real.labels);
    const sevens = glyphs(500, { size: 16, seed: 78, classes: [7] });
    const collapsed = await scorer.score(sevens.images, real.labels);
    console.log(`real: agreement ${realScore.classAgreement}, FD ${realScore.frechet.toFixed(2)}; noise FD ${noiseScore.frechet.toFixed(2)}; collapsed FD ${collapsed.frechet.toFixed(2)}`);

    expect(realScore.classAgreement).toBeGreaterThan(0.85);
    expect(realScore.predicted.every((n) => n > 20)).toBe(true);
    expect(noiseScore.frechet).toBeGreaterThan(10 * realScore.frechet);
    expect(collapsed.frechet).toBeGreaterThan(5 * realScore.frechet);
    expect(collapsed.classAgreement!).toBeLessThan(0.2);
    expect(collapsed.predicted[7]).toBeGreaterThan(400);
    expect((await scorer.score(real.images)).classAgreement).toBeNull();
    await expect(scorer.score(new Float32Array(17))).rejects.toThrow(InputError);
    scorer.dispose();
  });
});
