/**
 * Temporary folders for tests, one definition: `scratchDir` makes one under the OS temp folder and the setup file
 * (tests/helpers/remove-scratch-dirs.ts, run before every test file of every tier) removes each file's folders when
 * its tests end, so no run leaves model files behind (the gpu tier writes about 1.2 GB of them).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made = new Set<string>();

/** A fresh empty folder, removed when the test file's tests end. */
export function scratchDir(prefix = 'moe-lab-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.add(dir);
  return dir;
}

/** Removes every folder `scratchDir` made in this test file. */
export function removeScratchDirs(): void {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
  made.clear();
}
