#!/usr/bin/env node
// The `moe-lab` command: runs the TypeScript sources directly (tsx), with WGSL files imported as text.
// A bundled build (.devtools/cli.mjs, see bench/README.md) is used on machines without node_modules.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
register('./wgsl-loader.mjs', import.meta.url);
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
