/** WGSL sources are imported as text, the same way under Vite, Vitest, the Node CLI loader and esbuild. */
declare module '*.wgsl' {
  const source: string;
  export default source;
}
