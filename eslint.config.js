import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.devtools/', '.gl/', 'test-results/', 'playwright-report/', 'public/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { files: ['bin/**', 'scripts/**', '*.config.*'], languageOptions: { globals: globals.node } },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // The engine knows nothing of the UI or the GPU device (STYLE.md #1).
    files: ['src/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['react', 'react-dom', 'react/*', 'd3', 'd3-*', 'zustand', 'zustand/*'], message: 'src/engine is UI-free.' },
            { group: ['**/ui/**', '**/state/**', '**/worker/**', '**/gpu/**', 'webgpu'], message: 'src/engine must not depend on ui/state/worker/gpu.' },
          ],
        },
      ],
      'no-restricted-globals': ['error', 'document', 'window', 'navigator', 'localStorage'],
    },
  },
  {
    // Only node.ts and the Node-side tools may load Dawn; the browser bundle must never pull it in.
    files: ['src/gpu/**/*.ts', 'src/ui/**/*.{ts,tsx}', 'src/state/**/*.ts', 'src/worker/**/*.ts'],
    ignores: ['src/gpu/node.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [{ name: 'webgpu', message: 'Import Dawn only in src/gpu/node.ts.' }] }] },
  },
);
