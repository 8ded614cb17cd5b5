// Types for wgsl-preprocessor, which ships none: a template tag resolving #if/#elif/#else/#endif.
declare module 'wgsl-preprocessor' {
  export function wgsl(strings: TemplateStringsArray, ...values: unknown[]): string;
}
