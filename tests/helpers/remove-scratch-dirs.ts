/** Setup file of every test tier (vite.config.ts): the folders scratchDir made are removed when a test file ends. */
import { afterAll } from 'vitest';
import { removeScratchDirs } from './scratch-dir.ts';

afterAll(removeScratchDirs);
