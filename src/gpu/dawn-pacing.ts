// Node only: pacing the loop with which Dawn's Node bindings wait for the GPU. While any of
// their promises is pending (a buffer map, onSubmittedWorkDone, an async pipeline), the bindings
// tick the device from a setImmediate that queues the next one at once: the main thread spins
// at 100% of a core for as long as the GPU works. On a CPU-emulated adapter that core is one
// SwiftShader would have run kernels on; on a 2-core machine the mini GPT step took 790 ms
// with the spin and 463 ms paced (Chromium, whose GPU process waits without spinning: 404, same
// session), which was nearly all of the gap between Node and Chromium there. Pacing: the first ticks of a
// wait still come at once (a short wait ends as soon as before), later ones every millisecond.
// The bindings look setImmediate up on the global object at each tick, so this wraps it there
// and paces only their callbacks (native and anonymous, no arguments); every other caller's
// setImmediate is passed through untouched. Installed once per process, by acquireDevice, in
// Node on a software adapter; a GPU's driver does not run on the CPU, and there a tick's latency
// counts for more than the core it spins.
// Not here: acquiring the device (device.ts).

/** Ticks of one wait that come at once before pacing starts (tens of microseconds in all). */
const PROMPT_TICKS = 16;
/** Delay between later ticks, ms. */
const PACED_MS = 1;
/** A gap between two ticks longer than this ends a wait: the next tick starts a new one. */
const NEW_WAIT_MS = 20;

let installed = false;

const isBindingsTick = (fn: unknown, args: unknown[]): fn is () => void =>
  typeof fn === 'function' && args.length === 0 && fn.name === '' && Function.prototype.toString.call(fn).endsWith('{ [native code] }');

/** Wraps the global setImmediate so that Dawn's ticks pace themselves (see the header); idempotent. */
export function paceDawnTicks(): void {
  if (installed || typeof setImmediate !== 'function') return;
  installed = true;
  const immediate = globalThis.setImmediate;
  let streak = 0;
  let last = -Infinity;
  const paced = (fn: (...a: unknown[]) => void, ...args: unknown[]) => {
    if (!isBindingsTick(fn, args)) return immediate(fn, ...args);
    const now = performance.now();
    streak = now - last > NEW_WAIT_MS ? 0 : streak + 1;
    last = now;
    return streak < PROMPT_TICKS ? immediate(fn) : setTimeout(fn, PACED_MS);
  };
  // util.promisify(setImmediate) keeps working: it reads this symbol off the function.
  const custom = Symbol.for('nodejs.util.promisify.custom');
  Object.defineProperty(paced, custom, { value: (immediate as unknown as Record<symbol, unknown>)[custom] });
  globalThis.setImmediate = paced as unknown as typeof setImmediate;
}
