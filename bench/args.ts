// The command line both runners (bench/node.ts, bench/browser.ts) share: --name=value options,
// bare flags, which suites --suite= names, and where --out= puts each suite's JSON.
// Not here: what the options mean to each suite (the suites' options objects say).

/** Every suite, in the order --suite=all runs them. */
export const SUITES = ['peak', 'matmul', 'kernels', 'attention', 'optimizer', 'gpt', 'coldstart', 'diffusion', 'gan', 'rl', 'vae', 'contrastive', 'finetune', 'conv', 'soak'] as const;
export type SuiteName = (typeof SUITES)[number];
/** Suites 'all' leaves out: long by design, run only when named. */
export const LONG_SUITES: readonly SuiteName[] = ['soak'];

/** The value of --name=value, '' for a bare --name, undefined when not given. */
export const arg = (name: string): string | undefined =>
  process.argv.includes(`--${name}`) ? '' : process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

/** True for --name, --name=1 or --name=true. */
export const flag = (name: string): boolean => process.argv.some((a) => a === `--${name}` || a === `--${name}=1` || a === `--${name}=true`);

/** The suites a --suite= value names (default matmul; a comma-separated list; 'all' for every one but the long ones), or an error naming the choices. */
export function parseSuites(value: string | undefined): SuiteName[] {
  if (!value) return ['matmul'];
  if (value === 'all') return SUITES.filter((s) => !LONG_SUITES.includes(s));
  const names = value.split(',');
  const unknown = names.find((n) => !SUITES.includes(n as SuiteName));
  if (unknown !== undefined) throw new Error(`unknown suite '${unknown}'; use one of ${SUITES.join(', ')} (or several, comma-separated), or all.`);
  return names as SuiteName[];
}

/**
 * Where --out=PATH puts `suite`'s result: PATH itself for one suite; for several, one file each
 * with the suite's name before the extension (out.json -> out-gan.json).
 */
export function outPath(out: string | undefined, suite: string, several: boolean): string | undefined {
  if (!out || !several) return out;
  const dot = out.lastIndexOf('.');
  return dot > out.lastIndexOf('/') ? `${out.slice(0, dot)}-${suite}${out.slice(dot)}` : `${out}-${suite}.json`;
}
