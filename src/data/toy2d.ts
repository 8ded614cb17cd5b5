// Generated 2D sets (no downloads), from a seeded generator so every run and every environment
// sees the same points: labelled spirals and two moons for classifiers, and unlabelled samplers
// (swiss roll, moons, ring of Gaussians, spirals) for generative models, with a mode-coverage
// score for the ring. Not here: the seeded generator (random.ts), image data (glyphs.ts) or
// distances between point sets (src/eval/distance.ts).

import { ConfigError, InputError } from '../errors.js';
import { gaussian, mulberry32 } from './random.js';

/** Points (N, 2) and integer labels (N,). */
export interface Labelled2D {
  x: Float32Array;
  y: Int32Array;
  classes: number;
}

/** `classes` spiral arms of `perClass` points each, 1.5 turns, radius in [0, 1]. */
export function spirals(perClass: number, classes = 2, noise = 0.05, seed = 1): Labelled2D {
  const rand = mulberry32(seed);
  const n = perClass * classes;
  const x = new Float32Array(n * 2);
  const y = new Int32Array(n);
  for (let c = 0; c < classes; c++) {
    for (let i = 0; i < perClass; i++) {
      const r = (i + 0.5) / perClass;
      const theta = (2 * Math.PI * c) / classes + 3 * Math.PI * r;
      const k = c * perClass + i;
      x[2 * k] = r * Math.cos(theta) + noise * gaussian(rand);
      x[2 * k + 1] = r * Math.sin(theta) + noise * gaussian(rand);
      y[k] = c;
    }
  }
  return { x, y, classes };
}

/** Two interleaving half circles. */
export function moons(perClass: number, noise = 0.1, seed = 1): Labelled2D {
  const rand = mulberry32(seed);
  const x = new Float32Array(perClass * 4);
  const y = new Int32Array(perClass * 2);
  for (let i = 0; i < perClass; i++) {
    const t = (Math.PI * i) / Math.max(1, perClass - 1);
    x[2 * i] = Math.cos(t) + noise * gaussian(rand);
    x[2 * i + 1] = Math.sin(t) + noise * gaussian(rand);
    const j = perClass + i;
    x[2 * j] = 1 - Math.cos(t) + noise * gaussian(rand);
    x[2 * j + 1] = 0.5 - Math.sin(t) + noise * gaussian(rand);
    y[j] = 1;
  }
  return { x, y, classes: 2 };
}

// ---------------------------------------------------------------------------------------------
// Unlabelled samplers for generative models. Each returns n i.i.d. points (n, 2), row-major,
// centred near the origin with a per-coordinate standard deviation between about 0.5 and 1, so a
// diffusion model's unit-variance noise and a GAN's tanh-free output meet the data at its scale.

function checkCount(fn: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${fn}: n must be a non-negative integer, got ${n}`);
}

/**
 * The 2D swiss roll: t uniform in [1.5π, 4.5π], point t·(cos t, sin t) / 7, less its exact mean
 * (2/7, 2/21π) (per-coordinate std ≈ 1). `noise` is the std of added Gaussian noise, in output
 * units; neighbouring turns are about 0.9 apart.
 */
export function swissRoll(n: number, noise = 0.05, seed = 1): Float32Array {
  checkCount('swissRoll', n);
  const rand = mulberry32(seed);
  const x = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const t = 1.5 * Math.PI * (1 + 2 * rand());
    x[2 * i] = (t * Math.cos(t)) / 7 - 2 / 7 + noise * gaussian(rand);
    x[2 * i + 1] = (t * Math.sin(t)) / 7 - 2 / (21 * Math.PI) + noise * gaussian(rand);
  }
  return x;
}

/**
 * Two interleaving half circles, as `moons` draws them, but i.i.d. (random arc position and
 * moon) and centred: shifted by (-0.5, -0.25), per-coordinate std ≈ (0.87, 0.5).
 */
export function twoMoons2D(n: number, noise = 0.1, seed = 1): Float32Array {
  checkCount('twoMoons2D', n);
  const rand = mulberry32(seed);
  const x = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const t = Math.PI * rand();
    const lower = rand() < 0.5;
    const px = lower ? 1 - Math.cos(t) : Math.cos(t);
    const py = lower ? 0.5 - Math.sin(t) : Math.sin(t);
    x[2 * i] = px - 0.5 + noise * gaussian(rand);
    x[2 * i + 1] = py - 0.25 + noise * gaussian(rand);
  }
  return x;
}

/**
 * `arms` spiral arms as `spirals` draws them (1.5 turns), i.i.d. (random arm and radius) and
 * scaled by 1.5 so the radius runs over [0, 1.5] (per-coordinate std ≈ 0.6).
 */
export function spiral2D(n: number, arms = 2, noise = 0.05, seed = 1): Float32Array {
  checkCount('spiral2D', n);
  if (!Number.isInteger(arms) || arms < 1) throw new ConfigError(`spiral2D: arms must be a positive integer, got ${arms}`);
  const rand = mulberry32(seed);
  const x = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const arm = Math.min(arms - 1, Math.floor(rand() * arms));
    const r = rand();
    const theta = (2 * Math.PI * arm) / arms + 3 * Math.PI * r;
    x[2 * i] = 1.5 * r * Math.cos(theta) + noise * gaussian(rand);
    x[2 * i + 1] = 1.5 * r * Math.sin(theta) + noise * gaussian(rand);
  }
  return x;
}

export interface RingOptions {
  /** Number of Gaussian modes, evenly spaced on the circle. */
  modes?: number;
  /** Circle radius; √2 gives each coordinate unit variance. */
  radius?: number;
  /** Standard deviation of each mode (isotropic), in data units. */
  std?: number;
}

export const ringDefaults: Required<RingOptions> = { modes: 8, radius: Math.SQRT2, std: 0.05 };

/** Points (n, 2), the mode each was drawn from (n,), and the mode centres (modes, 2). */
export interface RingSample {
  x: Float32Array;
  mode: Int32Array;
  centres: Float32Array;
}

/** Centres (modes, 2) of the ring: mode k at angle 2πk/modes. */
export function ringCentres(modes = ringDefaults.modes, radius = ringDefaults.radius): Float32Array {
  const c = new Float32Array(modes * 2);
  for (let k = 0; k < modes; k++) {
    c[2 * k] = radius * Math.cos((2 * Math.PI * k) / modes);
    c[2 * k + 1] = radius * Math.sin((2 * Math.PI * k) / modes);
  }
  return c;
}

/**
 * The classic mode-collapse probe for GANs: an equal mixture of `modes` isotropic Gaussians on a
 * circle. Each point picks its mode uniformly at random; `mode` records which.
 */
export function ringOfGaussians(n: number, options: RingOptions = {}, seed = 1): RingSample {
  checkCount('ringOfGaussians', n);
  const { modes, radius, std } = { ...ringDefaults, ...options };
  if (!Number.isInteger(modes) || modes < 1) throw new ConfigError(`ringOfGaussians: modes must be a positive integer, got ${modes}`);
  if (!(std >= 0) || !(radius >= 0)) throw new ConfigError(`ringOfGaussians: radius (${radius}) and std (${std}) must be >= 0`);
  const rand = mulberry32(seed);
  const centres = ringCentres(modes, radius);
  const x = new Float32Array(n * 2);
  const mode = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = Math.min(modes - 1, Math.floor(rand() * modes));
    mode[i] = k;
    x[2 * i] = centres[2 * k] + std * gaussian(rand);
    x[2 * i + 1] = centres[2 * k + 1] + std * gaussian(rand);
  }
  return { x, mode, centres };
}

export type Sampler2DName = 'swissroll' | 'moons' | 'ring' | 'spirals';

/** Every name `sample2D` accepts, with what it draws (for menus and reports). */
export const samplers2D: readonly { name: Sampler2DName; description: string }[] = [
  { name: 'swissroll', description: 'Swiss roll: one curve winding 1.5 turns outwards, noise 0.05' },
  { name: 'moons', description: 'Two interleaving half circles, noise 0.1' },
  { name: 'ring', description: 'Eight Gaussians (std 0.05) on a circle of radius √2: the mode-collapse probe' },
  { name: 'spirals', description: 'Two interleaved spiral arms of 1.5 turns, noise 0.05' },
];

/** n points (n, 2) of the named distribution with its default parameters. */
export function sample2D(name: Sampler2DName, n: number, seed = 1): Float32Array {
  switch (name) {
    case 'swissroll': return swissRoll(n, 0.05, seed);
    case 'moons': return twoMoons2D(n, 0.1, seed);
    case 'ring': return ringOfGaussians(n, {}, seed).x;
    case 'spirals': return spiral2D(n, 2, 0.05, seed);
    default: {
      const names = samplers2D.map((s) => s.name).join(', ');
      throw new ConfigError(`sample2D: unknown distribution '${String(name)}'; choose one of ${names}`);
    }
  }
}

export interface ModeCoverageOptions {
  /** A sample counts for its nearest centre only within this distance (default 3 × ring std). */
  maxDist?: number;
  /** A mode is covered when it receives at least this share of all samples (default 0.2 / modes). */
  minShare?: number;
}

export interface ModeCoverage {
  /** Modes that received at least minShare of the samples. */
  covered: number;
  /** Samples counted for each mode (nearest centre, within maxDist). */
  counts: number[];
  /** Share of samples within maxDist of some centre (the rest are off every mode). */
  highQuality: number;
}

/**
 * How many modes a generator reaches: each sample goes to its nearest centre if it lies within
 * maxDist, and a mode counts as covered when its share of samples reaches minShare. A collapsed
 * GAN scores 1 of 8 however sharp its samples; highQuality tells sharp from blurry.
 */
export function modeCoverage(points: Float32Array, centres: Float32Array, options: ModeCoverageOptions = {}): ModeCoverage {
  if (points.length % 2 !== 0) throw new InputError(`modeCoverage: points must be (n, 2), got length ${points.length}`);
  if (centres.length === 0 || centres.length % 2 !== 0) {
    throw new InputError(`modeCoverage: centres must be (modes, 2) with modes >= 1, got length ${centres.length}`);
  }
  const k = centres.length / 2;
  const maxDist = options.maxDist ?? 3 * ringDefaults.std;
  const minShare = options.minShare ?? 0.2 / k;
  const n = points.length / 2;
  const counts = new Array<number>(k).fill(0);
  let near = 0;
  for (let i = 0; i < n; i++) {
    let best = -1;
    let bestD2 = Infinity;
    for (let c = 0; c < k; c++) {
      const dx = points[2 * i] - centres[2 * c];
      const dy = points[2 * i + 1] - centres[2 * c + 1];
      const d2 = dx * dx + dy * dy;
      if (d2 < bestD2) { bestD2 = d2; best = c; }
    }
    if (bestD2 <= maxDist * maxDist) { counts[best]++; near++; }
  }
  const covered = n === 0 ? 0 : counts.filter((c) => c > 0 && c >= minShare * n).length;
  return { covered, counts, highQuality: n === 0 ? 0 : near / n };
}
