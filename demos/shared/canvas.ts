// What every canvas of the demo pages does alike: a backing store at the device's pixel ratio
// with a context that draws in CSS pixels (crisp on any screen), for a canvas the layout sizes
// (a square plane as wide as its box) or one sized by what it draws (a grid of images, a
// heatmap); and redrawing at most once per animation frame however many updates come in one.
// Not here: what any canvas draws (planes, grids, heatmaps have their own modules).

/** A cleared context for `canvas` drawing in CSS pixels over w × h, its backing store at the device's pixel ratio. */
export function hiDpiContext(canvas: HTMLCanvasElement, w: number, h: number): CanvasRenderingContext2D {
  const dpr = window.devicePixelRatio || 1;
  const pw = Math.round(w * dpr), ph = Math.round(h * dpr);
  if (canvas.width !== pw || canvas.height !== ph) {
    canvas.width = pw;
    canvas.height = ph;
  }
  const g = canvas.getContext('2d')!;
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  return g;
}

/** hiDpiContext for a square canvas as wide as the layout made it; null while it is hidden (no width). */
export function squareContext(canvas: HTMLCanvasElement): CanvasRenderingContext2D | null {
  const css = canvas.clientWidth;
  return css === 0 ? null : hiDpiContext(canvas, css, css);
}

/** hiDpiContext for a canvas that takes the size of what it draws: w × h CSS pixels on the page. */
export function sizedContext(canvas: HTMLCanvasElement, w: number, h: number): CanvasRenderingContext2D {
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  return hiDpiContext(canvas, w, h);
}

/** A draw() that calls `paint` on the next animation frame, once however often it is called before then. */
export function frameDrawer(paint: () => void): () => void {
  let frame = 0;
  return () => {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      paint();
    });
  };
}
