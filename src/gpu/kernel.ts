/**
 * A kernel is one WGSL file (plus the shared snippets it names) and its parsed interface: the storage and uniform
 * bindings of group 0 and the layout of its parameter struct. Host files call `defineKernel` once at module load;
 * the bind group layout is explicit (not 'auto'), so a binding the shader does not read under some `override`
 * setting still takes its buffer and never shifts the others.
 */
import { uniformLayout, type UniformLayout } from './uniforms.ts';

export type BindingKind = 'uniform' | 'storage' | 'read-only-storage';

export interface BindingDecl {
  binding: number;
  name: string;
  kind: BindingKind;
}

export interface Kernel {
  name: string;
  source: string;
  entryPoint: string;
  bindings: BindingDecl[];
  /** Layout of the uniform struct bound as `params`, when the kernel has one. */
  params?: UniformLayout;
  /** `override` constants the WGSL declares (names only): anything else passed in is a bug. */
  overrides: string[];
}

export interface KernelSource {
  /** Stable id for caches and error messages, e.g. 'nn/rmsnorm'. */
  name: string;
  /** The kernel's WGSL; shared snippets (e.g. shaders/common/weights.wgsl) are prepended in order. */
  source: string;
  include?: string[];
  entryPoint?: string;
}

const BINDING_PATTERN = /@group\(\s*(\d+)\s*\)\s*@binding\(\s*(\d+)\s*\)\s*var\s*<\s*(uniform|storage)\s*(?:,\s*(read|read_write)\s*)?>\s*(\w+)\s*:\s*(\w+)/g;
const OVERRIDE_PATTERN = /^\s*(?:@id\(\d+\)\s*)?override\s+(\w+)/gm;

export function defineKernel(def: KernelSource): Kernel {
  const source = [...(def.include ?? []), def.source].join('\n');
  const code = source.replace(/\/\/[^\n]*/g, '');
  const bindings: BindingDecl[] = [];
  let params: UniformLayout | undefined;
  for (const m of code.matchAll(BINDING_PATTERN)) {
    const [, group, binding, space, access, name, type] = m;
    if (group !== '0') throw new Error(`${def.name}: only @group(0) is used by this engine (found ${name})`);
    const kind: BindingKind = space === 'uniform' ? 'uniform' : access === 'read_write' ? 'storage' : 'read-only-storage';
    bindings.push({ binding: Number(binding), name, kind });
    if (kind === 'uniform') {
      if (name !== 'params') throw new Error(`${def.name}: the uniform binding must be named 'params'`);
      params = uniformLayout(code, type);
    }
  }
  bindings.sort((a, b) => a.binding - b.binding);
  const seen = new Set<string>();
  for (const b of bindings) {
    if (seen.has(b.name)) throw new Error(`${def.name}: binding name ${b.name} used twice`);
    seen.add(b.name);
  }
  const overrides = [...code.matchAll(OVERRIDE_PATTERN)].map((m) => m[1]);
  return { name: def.name, source, entryPoint: def.entryPoint ?? 'main', bindings, params, overrides };
}

/** Workgroup grid for `count` items, `perWorkgroup` each, folded into y when x would pass the per-dimension limit.
 * Kernels read their flat workgroup index as `wid.x + wid.y * nwg.x` and must bound-check against `count`. */
export function grid1d(count: number, perWorkgroup: number, maxPerDimension = 65535): [number, number] {
  const groups = Math.max(1, Math.ceil(count / perWorkgroup));
  if (groups <= maxPerDimension) return [groups, 1];
  const y = Math.ceil(groups / maxPerDimension);
  return [Math.ceil(groups / y), y];
}
