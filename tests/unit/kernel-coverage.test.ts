/**
 * Every kernel has its three companions (docs/style.md, "Kernels"): a `.wgsl` file with a `@compute` entry point
 * has a host at the mirrored path (shaders/<folder>/<name>.wgsl -> src/gpu/kernels/<folder>/<name>.ts) that loads
 * it; the host's doc comment names its CPU reference ("CPU reference: `fn` in <file>"), which exists and exports
 * that function; and a test in tests/gpu reaches both the host — imports it, or imports the module that
 * dispatches it — and that reference file (directly or through a tests/ helper). A `.wgsl` file without `@compute` is a library (WGSL has no includes:
 * hosts prepend it through defineKernel's `include`): some host must load it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

/**
 * Where a kernel's CPU reference may live (docs/architecture.md, "Kernels, hosts, references, tests"): under
 * src/engine/reference/, or the engine's own CPU function when the product itself computes the same thing
 * (bitset popcount, f16/bf16 encoding, MXFP4 decoding).
 */
const REFERENCE_HOMES = ['src/engine/reference/', 'src/engine/model/keep-mask.ts', 'src/engine/prune/packing.ts', 'src/engine/model/mxfp4.ts'];

function files(dir: string, pattern: RegExp): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return files(path, pattern);
    return pattern.test(entry.name) ? [path] : [];
  });
}

const rel = (path: string) => relative(root, path).split('\\').join('/');

/** Relative imports and re-exports of a TypeScript file (type-only included: enough to say what a test reaches). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:import|export)\s[^;]*?from\s*'(\.[^']+)'/g)].map((m) => resolve(dirname(file), m[1]));
}

const shaders = files(join(root, 'shaders'), /\.wgsl$/).sort();
const kernels = shaders.filter((file) => /@compute/.test(readFileSync(file, 'utf8')));
const libraries = shaders.filter((file) => !kernels.includes(file));
const hostOf = (shader: string) => join(root, 'src/gpu/kernels', relative(join(root, 'shaders'), shader).replace(/\.wgsl$/, '.ts'));

const sources = files(join(root, 'src'), /\.tsx?$/);
const sourceImports = new Map(sources.map((file) => [file, importsOf(file)]));
const gpuTests = files(join(root, 'tests/gpu'), /\.test\.ts$/);

/** Everything a test file imports, following imports of other files under tests/ (its helpers). */
function reachedBy(test: string): Set<string> {
  const reached = new Set<string>();
  const queue = [test];
  const seen = new Set(queue);
  while (queue.length) {
    for (const target of importsOf(queue.shift()!)) {
      reached.add(target);
      if (target.startsWith(join(root, 'tests')) && existsSync(target) && !seen.has(target)) {
        seen.add(target);
        queue.push(target);
      }
    }
  }
  return reached;
}
const testReach = new Map(gpuTests.map((test) => [test, reachedBy(test)]));

interface Declared {
  names: string[];
  file: string;
}

/** The "CPU reference:" lines of a host's doc comment. */
function declaredReferences(host: string): Declared[] {
  const text = readFileSync(host, 'utf8');
  return [...text.matchAll(/CPU reference: ((?:`\w+`(?:, )?)+) in (src\/[\w/.-]+\.ts)/g)].map((m) => ({
    names: [...m[1].matchAll(/`(\w+)`/g)].map((n) => n[1]),
    file: m[2],
  }));
}

describe('kernel coverage', () => {
  it('finds the kernels and the include-only libraries', () => {
    expect(kernels.length).toBeGreaterThan(40);
    expect(libraries.map(rel)).toContain('shaders/common/weights.wgsl');
  });

  it('every kernel has a host at the mirrored path that loads it', () => {
    const problems = kernels.flatMap((shader) => {
      const host = hostOf(shader);
      if (!existsSync(host)) return [`${rel(shader)}: no host ${rel(host)}`];
      return importsOf(host).includes(shader) ? [] : [`${rel(host)} does not import ${rel(shader)}`];
    });
    expect(problems).toEqual([]);
  });

  it('every host mirrors a shader', () => {
    const orphans = files(join(root, 'src/gpu/kernels'), /\.ts$/)
      .filter((host) => !existsSync(join(root, 'shaders', relative(join(root, 'src/gpu/kernels'), host).replace(/\.ts$/, '.wgsl'))))
      .map(rel);
    expect(orphans).toEqual([]);
  });

  it('every library is loaded by a host', () => {
    const loaded = new Set([...sourceImports.values()].flat());
    expect(libraries.filter((library) => !loaded.has(library)).map(rel)).toEqual([]);
  });

  it('every kernel names a CPU reference that exists, in a reference home', () => {
    const problems = kernels.flatMap((shader) => {
      const host = hostOf(shader);
      if (!existsSync(host)) return [];
      const declared = declaredReferences(host);
      if (declared.length === 0) return [`${rel(host)}: no "CPU reference:" line`];
      return declared.flatMap(({ names, file }) => {
        const path = join(root, file);
        if (!existsSync(path)) return [`${rel(host)}: ${file} does not exist`];
        const text = readFileSync(path, 'utf8');
        const missing = names.filter((name) => !new RegExp(`export (?:async )?(?:function|const|class) ${name}\\b`).test(text));
        const home = REFERENCE_HOMES.some((prefix) => file.startsWith(prefix));
        return [
          ...missing.map((name) => `${rel(host)}: ${file} exports no ${name}`),
          ...(home ? [] : [`${rel(host)}: ${file} is outside the reference homes`]),
        ];
      });
    });
    expect(problems).toEqual([]);
  });

  it('every kernel is compared with its reference by a test in tests/gpu', () => {
    // The test reaches the kernel (its host, or a module that dispatches it) and the reference file the host names.
    const untested = kernels.filter((shader) => {
      const host = hostOf(shader);
      const dispatchers = new Set([host, ...sources.filter((file) => sourceImports.get(file)!.includes(host))]);
      const references = existsSync(host) ? declaredReferences(host).map(({ file }) => join(root, file)) : [];
      return ![...testReach.values()].some(
        (reached) => [...dispatchers].some((module) => reached.has(module)) && references.some((reference) => reached.has(reference)),
      );
    });
    expect(untested.map(rel)).toEqual([]);
  });
});
