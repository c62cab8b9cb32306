import type { Plugin } from 'vite';
import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

/** Import `shaders/**.wgsl` as a string, exactly as the Node CLI loader (bin/wgsl-loader.mjs) and esbuild do. */
function wgslAsText(): Plugin {
  return {
    name: 'moe-lab-wgsl-as-text',
    enforce: 'pre',
    transform(code, id) {
      if (!id.split('?')[0].endsWith('.wgsl')) return null;
      return { code: `export default ${JSON.stringify(code)};`, map: null };
    },
  };
}

export default defineConfig({
  plugins: [wgslAsText(), react()],
  // Relative asset paths so the built app also works from a sub-folder (e.g. a GitHub Pages project site).
  base: './',
  worker: { format: 'es', plugins: () => [wgslAsText()] },
  build: { target: 'es2022', chunkSizeWarningLimit: 2048 },
  server: { host: '127.0.0.1', port: 5173, strictPort: false },
  preview: { host: '127.0.0.1', port: 4173 },
  test: {
    // Both tiers (extends: true): the folders scratchDir made are removed when each test file ends.
    setupFiles: ['tests/helpers/remove-scratch-dirs.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'gpu',
          include: ['tests/gpu/**/*.test.ts'],
          environment: 'node',
          // One Dawn instance at a time: software Vulkan drivers use every core already.
          pool: 'forks',
          fileParallelism: false,
          maxWorkers: 1,
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
