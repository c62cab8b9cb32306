/**
 * The `moe-lab` command as one bundle entry (scripts/device-suite.mjs bundles it into .devtools/suite/moe-lab.mjs for
 * a machine without node_modules): bin/moe-lab.mjs without tsx, the WGSL inlined by the bundler.
 */
import { main } from '../src/cli/main.ts';

process.exitCode = await main(process.argv.slice(2));
