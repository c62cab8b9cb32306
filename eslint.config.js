import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file's folder), so the layer rule works whatever directory eslint runs from. */
const repoRoot = dirname(fileURLToPath(import.meta.url));

/**
 * The layers of src/ (docs/architecture.md, "Layers") and, for each, the layers it must not import — value and
 * type imports alike. Arrows point down: ui -> state -> api <- lab -> gpu -> engine; worker and cli reach the lab
 * service from above. A layer not listed here (src/types, src/main.tsx) is unrestricted.
 */
const FORBIDDEN_LAYERS = {
  engine: ['api', 'lab', 'worker', 'state', 'ui', 'cli', 'gpu'],
  gpu: ['lab', 'worker', 'state', 'ui', 'cli'],
  api: ['gpu', 'lab', 'worker', 'state', 'ui', 'cli'],
  lab: ['worker', 'state', 'ui', 'cli'],
  worker: ['state', 'ui', 'cli'],
  state: ['gpu', 'lab', 'worker', 'ui', 'cli'],
  ui: ['gpu', 'lab', 'worker', 'cli'],
  cli: ['worker', 'state', 'ui'],
};

/** src/<layer>/... of a path relative to the repository root, else null. */
function layerOf(path) {
  const parts = path.split(sep);
  return parts[0] === 'src' && parts.length > 2 ? parts[1] : null;
}

/** A local rule: resolves every relative import of a file under src/ and reports one that crosses a barred layer boundary. */
const layerImports = {
  meta: { type: 'problem', schema: [] },
  create(context) {
    const from = layerOf(relative(repoRoot, context.filename));
    const forbidden = (from && FORBIDDEN_LAYERS[from]) || [];
    if (forbidden.length === 0) return {};
    const check = (node) => {
      const spec = node.source?.value;
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const to = layerOf(relative(repoRoot, resolve(dirname(context.filename), spec)));
      if (to && forbidden.includes(to))
        context.report({ node: node.source, message: `src/${from} must not import src/${to} (${spec}); see docs/architecture.md, "Layers".` });
    };
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check, ImportExpression: check };
  },
};

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', '.devtools/', '.gl/', 'test-results/', 'playwright-report/', 'public/'] },
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
    files: ['src/**/*.{ts,tsx}'],
    plugins: { layers: { rules: { imports: layerImports } } },
    rules: { 'layers/imports': 'error' },
  },
  {
    // The engine knows nothing of the UI or the GPU device (docs/architecture.md, "Layers").
    files: ['src/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['react', 'react-dom', 'react/*', 'd3', 'd3-*', 'zustand', 'zustand/*'], message: 'src/engine is UI-free.' },
            { group: ['webgpu'], message: 'src/engine must not touch a GPU device (layers/imports bars the folders above it).' },
          ],
        },
      ],
      'no-restricted-globals': ['error', 'document', 'window', 'navigator', 'localStorage'],
    },
  },
  {
    // Only node.ts and the Node-side tools may load Dawn; the browser bundle must never pull it in.
    files: ['src/gpu/**/*.ts', 'src/ui/**/*.{ts,tsx}', 'src/state/**/*.ts', 'src/worker/**/*.ts', 'src/lab/**/*.ts', 'src/api/**/*.ts'],
    ignores: ['src/gpu/node.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [{ name: 'webgpu', message: 'Import Dawn only in src/gpu/node.ts.' }] }] },
  },
);
