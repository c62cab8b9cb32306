import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test as base, expect } from '@playwright/test';

const PUBLIC = join(import.meta.dirname, '../../public');
const index = JSON.parse(readFileSync(join(PUBLIC, 'models/index.json'), 'utf8')) as {
  id: string;
  name: string;
  path: string;
  default?: boolean;
  lessonExpert?: number;
}[];
const entry = index.find((m) => m.default) ?? index[0];
const config = JSON.parse(readFileSync(join(PUBLIC, entry.path, 'config.json'), 'utf8')) as {
  model_type: string;
  num_hidden_layers: number;
  num_experts_per_tok: number;
} & ({ num_local_experts: number } | { num_experts: number });

/** The model a plain first visit loads (public/models/index.json's default entry) and what its summary shows. */
export const DEFAULT_MODEL = {
  id: entry.id,
  name: entry.name,
  architecture: config.model_type,
  layers: config.num_hidden_layers,
  // Mixtral names the routed experts num_local_experts, Qwen2-MoE num_experts.
  experts: 'num_local_experts' in config ? config.num_local_experts : config.num_experts,
  topK: config.num_experts_per_tok,
  /** The expert the guided tour switches off (src/ui/lab/GuidedTour.tsx lessonExpert). */
  lessonExpert: entry.lessonExpert ?? 0,
};

/** A heading pattern for "the shipped model `id` (public/models/index.json) is the loaded one". */
export function loadedHeading(id: string): RegExp {
  const shipped = index.find((m) => m.id === id);
  if (!shipped) throw new Error(`public/models/index.json lists no model ${id}`);
  return new RegExp(`Loaded model: ${shipped.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);
}

/** A heading pattern for "the default model is (still) the loaded one". */
export const LOADED_DEFAULT = loadedHeading(entry.id);

/** Every e2e test fails on an uncaught page error, whatever else it checks. */
export const test = base.extend<{ pageErrors: string[] }>({
  pageErrors: [
    async ({ page }, use) => {
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await use(errors);
      expect(errors, 'uncaught errors in the page').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };
