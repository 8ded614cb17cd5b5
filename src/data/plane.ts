// The square of the plane that the 2D tasks draw and sample their grids on (the diffusion
// model's denoising field, the GAN discriminator's decision surface): its half side, and a
// square grid of points over it, row-major, top row first.
// Not here: the 2D distributions themselves (toy2d.ts), drawing (demos/).

/** Half the side of the square of the plane that the pages draw and the grids cover. */
export const PLANE_EXTENT = 2.5;

/** n × n points (x, y) over [-PLANE_EXTENT, PLANE_EXTENT]², row-major, top row first. */
export function squareGrid(n: number): Float32Array {
  const g = new Float32Array(n * n * 2);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      g[2 * (r * n + c)] = -PLANE_EXTENT + (2 * PLANE_EXTENT * c) / (n - 1);
      g[2 * (r * n + c) + 1] = PLANE_EXTENT - (2 * PLANE_EXTENT * r) / (n - 1);
    }
  }
  return g;
}
