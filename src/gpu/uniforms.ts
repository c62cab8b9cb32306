/**
 * Uniform parameter blocks, laid out from the WGSL struct itself: the struct in the .wgsl file is the one
 * definition of the layout (docs/style.md), the host passes values by field name and never hand-computes offsets.
 * Only 4-byte scalars and their vec2/vec4 are supported: that is all a kernel's parameters need.
 */

export type ScalarType = 'u32' | 'i32' | 'f32';

export interface UniformField {
  name: string;
  type: ScalarType;
  components: 1 | 2 | 4;
  offset: number; // bytes
}

export interface UniformLayout {
  struct: string;
  fields: UniformField[];
  size: number; // bytes, rounded up to 16 as WGSL's uniform address space requires
}

const TYPE_PATTERN = /^(?:(u32|i32|f32)|vec([24])<(u32|i32|f32)>|vec([24])([uif]))$/;

function parseType(text: string, where: string): { type: ScalarType; components: 1 | 2 | 4 } {
  const match = TYPE_PATTERN.exec(text.replace(/\s+/g, ''));
  if (!match) throw new Error(`${where}: unsupported uniform field type '${text}' (use u32/i32/f32, vec2, vec4)`);
  if (match[1]) return { type: match[1] as ScalarType, components: 1 };
  if (match[2]) return { type: match[3] as ScalarType, components: Number(match[2]) as 2 | 4 };
  const short = { u: 'u32', i: 'i32', f: 'f32' } as const;
  return { type: short[match[5] as 'u' | 'i' | 'f'], components: Number(match[4]) as 2 | 4 };
}

/** Parses `struct <name> { ... }` out of WGSL source into byte offsets (WGSL alignment rules). */
export function uniformLayout(wgsl: string, struct: string): UniformLayout {
  const withoutComments = wgsl.replace(/\/\/[^\n]*/g, '');
  const match = new RegExp(`struct\\s+${struct}\\s*\\{([^}]*)\\}`).exec(withoutComments);
  if (!match) throw new Error(`struct ${struct} not found in WGSL source`);
  const fields: UniformField[] = [];
  let offset = 0;
  for (const raw of match[1].split(',')) {
    const decl = raw.trim();
    if (!decl) continue;
    const colon = decl.indexOf(':');
    if (colon < 0) throw new Error(`struct ${struct}: cannot read field '${decl}'`);
    const name = decl
      .slice(0, colon)
      .replace(/@\w+(\([^)]*\))?/g, '')
      .trim();
    const { type, components } = parseType(decl.slice(colon + 1), `struct ${struct}.${name}`);
    const align = components === 1 ? 4 : components * 4;
    offset = Math.ceil(offset / align) * align;
    fields.push({ name, type, components, offset });
    offset += components * 4;
  }
  return { struct, fields, size: Math.max(16, Math.ceil(offset / 16) * 16) };
}

export type UniformValues = Record<string, number | readonly number[]>;

/** Writes `values` into `target` at `byteOffset` following `layout`; every field must be given, no extra ones. */
export function writeUniforms(layout: UniformLayout, values: UniformValues, target: ArrayBuffer, byteOffset = 0): void {
  const view = new DataView(target, byteOffset, layout.size);
  const given = new Set(Object.keys(values));
  for (const field of layout.fields) {
    const value = values[field.name];
    if (value === undefined) throw new Error(`uniform ${layout.struct}.${field.name} was not given`);
    given.delete(field.name);
    const items = typeof value === 'number' ? [value] : value;
    if (items.length !== field.components) {
      throw new Error(`uniform ${layout.struct}.${field.name} takes ${field.components} value(s), got ${items.length}`);
    }
    items.forEach((item, i) => {
      const at = field.offset + 4 * i;
      if (field.type === 'f32') view.setFloat32(at, item, true);
      else if (field.type === 'i32') view.setInt32(at, item, true);
      else {
        if (!Number.isInteger(item) || item < 0 || item > 0xffffffff) {
          throw new Error(`uniform ${layout.struct}.${field.name} = ${item} is not a u32`);
        }
        view.setUint32(at, item, true);
      }
    });
  }
  if (given.size) throw new Error(`uniform ${layout.struct} has no field(s) ${[...given].join(', ')}`);
}
