// The seeded host-side random numbers that generated data sets, samplers, models' noise and
// tests draw from: mulberry32, as a class with its state in the open and as a function, and
// standard normal draws from either. Seeded, so every run and environment sees the same numbers.
// Not here: random tensors on the GPU (ops/random.ts, shaders/random.ts), or any data set
// (toy2d.ts, glyphs.ts, corpus.ts).

/**
 * A small seeded uniform generator (mulberry32) whose whole state is one 32-bit word, so a
 * checkpoint can store it and a resumed run draws exactly what the original would have.
 */
export class SeededRandom {
  state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** The same generator as a function. */
export function mulberry32(seed: number): () => number {
  const g = new SeededRandom(seed);
  return () => g.next();
}

/** One standard normal draw (Box-Muller) from a uniform generator. */
export function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}
