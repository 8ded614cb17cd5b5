// Types for wgsl-preprocessor, which ships none: a template tag resolving #if/#elif/#else/#endif.
// The package has no `main`, so it is imported by its file path, which Node and Vite both resolve.
declare module 'wgsl-preprocessor/wgsl-preprocessor.js' {
  export function wgsl(strings: TemplateStringsArray, ...values: unknown[]): string;
}
