// Generated 2D classification sets (no downloads): interleaved spirals and two moons, with
// labels, from a seeded generator so every run and every environment sees the same points.

/** Points (N, 2) and integer labels (N,). */
export interface Labelled2D {
  x: Float32Array;
  y: Int32Array;
  classes: number;
}

/** A small seeded uniform generator (mulberry32). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
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
