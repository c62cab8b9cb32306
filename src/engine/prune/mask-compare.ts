/**
 * Where two prunings of one model disagree (`moe-lab compare-masks`, the page's disagreement heatmap). For a matrix
 * let P_A and P_B be the sets of weights each mask prunes (keep bit 0, or the whole expert when the mask set drops
 * it). The **disagreement** is
 *
 *   |P_A xor P_B| / (|P_A| + |P_B|)
 *
 * 0 when both prune the same weights, 1 when they prune disjoint sets; when both prune the same number of weights
 * (two methods at one sparsity) it is exactly the share of A's pruned weights that B keeps. Counts come with it:
 * `both` = |P_A and P_B|, `onlyA`, `onlyB`, and `elements`. Reported per matrix (layer and canonical key), per routed
 * expert (its gate_up and down blocks together, src/engine/model/mask-set.ts layouts [E, 2I, H] and [E, H, I]),
 * per layer and overall. A matrix absent from a mask set is dense (nothing pruned).
 */
import { ModelFileError } from '../errors.ts';
import type { SafetensorsHeader } from '../io/safetensors.ts';
import { MATRIX_KEYS, maskWordCount, type LayerMasks, type MaskSet, type MatrixKey } from '../model/mask-set.ts';
import { MASKS_FORMAT, unpackMaskBytes } from './masks-file.ts';

/** Pruned-weight counts of two masks over the same elements. */
export interface DisagreementCount {
  elements: number;
  /** |P_A|, |P_B|. */
  prunedA: number;
  prunedB: number;
  /** |P_A and P_B|. */
  both: number;
  /** |P_A \ P_B|, |P_B \ P_A|. */
  onlyA: number;
  onlyB: number;
  /** (onlyA + onlyB) / (prunedA + prunedB); 0 when neither prunes anything. */
  disagreement: number;
}

export interface MatrixDisagreement extends DisagreementCount {
  layer: number;
  key: MatrixKey;
}

export interface ExpertDisagreement extends DisagreementCount {
  layer: number;
  expert: number;
}

export interface MaskComparison {
  overall: DisagreementCount;
  /** Per MoE layer, over every matrix either mask set masks. */
  layers: ({ layer: number } & DisagreementCount)[];
  matrices: MatrixDisagreement[];
  /** Per routed expert of each layer with expert masks (or dropped experts); [] without the expert count. */
  experts: ExpertDisagreement[];
}

/** What the comparison needs to know of the model: each masked matrix's element count and E (null: unknown). */
export interface MaskShapes {
  elements(layer: number, key: MatrixKey): number;
  numExperts: number | null;
}

const EXPERT_KEYS: readonly MatrixKey[] = ['experts.gate_up', 'experts.down'];

function counted(elements: number, prunedA: number, prunedB: number, both: number): DisagreementCount {
  const onlyA = prunedA - both;
  const onlyB = prunedB - both;
  const total = prunedA + prunedB;
  return { elements, prunedA, prunedB, both, onlyA, onlyB, disagreement: total ? (onlyA + onlyB) / total : 0 };
}

function sum(parts: readonly DisagreementCount[]): DisagreementCount {
  const add = (f: (c: DisagreementCount) => number) => parts.reduce((n, c) => n + f(c), 0);
  return counted(
    add((c) => c.elements),
    add((c) => c.prunedA),
    add((c) => c.prunedB),
    add((c) => c.both),
  );
}

function popcount(word: number): number {
  let x = word >>> 0;
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/**
 * Pruned bits of elements [from, to) of a mask: returns the counts of pruned-in-A, pruned-in-B and pruned-in-both.
 * `dropA` / `dropB`: the whole range is pruned (a dropped expert). Bits are read one element at a time at the ends
 * and a word at a time in between.
 */
function countRange(a: Uint32Array | null, b: Uint32Array | null, from: number, to: number, dropA: boolean, dropB: boolean): [number, number, number] {
  let prunedA = 0;
  let prunedB = 0;
  let both = 0;
  let i = from;
  const bit = (m: Uint32Array | null, drop: boolean, e: number) => (drop ? 1 : m ? 1 - ((m[e >>> 5] >>> (e & 31)) & 1) : 0);
  while (i < to && i & 31) {
    const pa = bit(a, dropA, i);
    const pb = bit(b, dropB, i);
    prunedA += pa;
    prunedB += pb;
    both += pa & pb;
    i++;
  }
  for (; i + 32 <= to; i += 32) {
    const wa = dropA ? 0xffffffff : a ? ~a[i >>> 5] >>> 0 : 0;
    const wb = dropB ? 0xffffffff : b ? ~b[i >>> 5] >>> 0 : 0;
    prunedA += popcount(wa);
    prunedB += popcount(wb);
    both += popcount(wa & wb);
  }
  for (; i < to; i++) {
    const pa = bit(a, dropA, i);
    const pb = bit(b, dropB, i);
    prunedA += pa;
    prunedB += pb;
    both += pa & pb;
  }
  return [prunedA, prunedB, both];
}

/** Compares two mask sets of one model (element counts from `shapes`); throws RangeError on mismatched masks. */
export function compareMaskSets(a: MaskSet, b: MaskSet, shapes: MaskShapes): MaskComparison {
  const layerCount = Math.max(a.layers.length, b.layers.length);
  const matrices: MatrixDisagreement[] = [];
  const experts: ExpertDisagreement[] = [];
  const layers: MaskComparison['layers'] = [];
  for (let l = 0; l < layerCount; l++) {
    const la: LayerMasks | null = a.layers[l] ?? null;
    const lb: LayerMasks | null = b.layers[l] ?? null;
    if (!la && !lb) continue;
    const enabledA = la?.expertEnabled ?? null;
    const enabledB = lb?.expertEnabled ?? null;
    if (enabledA && enabledB && enabledA.length !== enabledB.length)
      throw new RangeError(`layer ${l}: the masks enable ${enabledA.length} and ${enabledB.length} experts (masks of different models?)`);
    const E = shapes.numExperts ?? enabledA?.length ?? enabledB?.length ?? null;
    const keys = MATRIX_KEYS.filter((k) => la?.matrices[k] || lb?.matrices[k] || ((enabledA || enabledB) && EXPERT_KEYS.includes(k)));
    const layerMatrices: MatrixDisagreement[] = [];
    const perExpert = E ? Array.from({ length: E }, () => [0, 0, 0, 0]) : null; // [elements, prunedA, prunedB, both]
    for (const key of keys) {
      const elements = shapes.elements(l, key);
      const ma = la?.matrices[key] ?? null;
      const mb = lb?.matrices[key] ?? null;
      for (const [m, name] of [
        [ma, 'A'],
        [mb, 'B'],
      ] as const) {
        if (m && m.length !== maskWordCount(elements))
          throw new RangeError(`layers.${l}.${key}: mask ${name} has ${m.length} words, the matrix's ${elements} elements need ${maskWordCount(elements)}`);
      }
      const isExpert = EXPERT_KEYS.includes(key);
      if (isExpert && E) {
        if (elements % E) throw new RangeError(`layers.${l}.${key}: ${elements} elements do not split into ${E} experts`);
        const block = elements / E;
        let totals = [0, 0, 0];
        for (let e = 0; e < E; e++) {
          const counts = countRange(ma, mb, e * block, (e + 1) * block, enabledA?.[e] === 0, enabledB?.[e] === 0);
          const row = perExpert![e];
          row[0] += block;
          for (let c = 0; c < 3; c++) row[c + 1] += counts[c];
          totals = totals.map((t, c) => t + counts[c]);
        }
        layerMatrices.push({ layer: l, key, ...counted(elements, totals[0], totals[1], totals[2]) });
      } else {
        const [pa, pb, both] = countRange(ma, mb, 0, elements, false, false);
        layerMatrices.push({ layer: l, key, ...counted(elements, pa, pb, both) });
      }
    }
    if (perExpert && keys.some((k) => EXPERT_KEYS.includes(k))) {
      perExpert.forEach(([n, pa, pb, both], expert) => experts.push({ layer: l, expert, ...counted(n, pa, pb, both) }));
    }
    matrices.push(...layerMatrices);
    layers.push({ layer: l, ...sum(layerMatrices) });
  }
  return { overall: sum(matrices), layers, matrices, experts };
}

/**
 * A masks.safetensors read without its model: the mask set, each matrix's element count (from the metadata) and the
 * model hash the writer recorded. Checks the format, names and sizes as far as the file itself tells them.
 */
export interface MasksWithoutModel {
  masks: MaskSet;
  elements: Map<string, number>;
  modelHash: string | null;
  method: string | null;
}

export function masksWithoutModel(header: SafetensorsHeader, bytes: Uint8Array): MasksWithoutModel {
  const file = header.file;
  if (header.metadata.format !== MASKS_FORMAT) {
    throw new ModelFileError(
      file,
      'bad-header',
      `metadata format is ${JSON.stringify(header.metadata.format ?? null)}, expected ${MASKS_FORMAT} (not a masks file?)`,
    );
  }
  const layers: (LayerMasks | null)[] = [];
  const elements = new Map<string, number>();
  for (const info of header.tensors.values()) {
    const match = /^layers\.(\d+)\.(.+)$/.exec(info.name);
    if (!match) throw new ModelFileError(file, 'bad-header', `tensor ${info.name} is not a layer's mask`);
    const l = Number(match[1]);
    if (info.dtype !== 'U8' || info.shape.length !== 1)
      throw new ModelFileError(file, 'bad-dtype', `tensor ${info.name} is ${info.dtype} [${info.shape}], expected U8 [n]`);
    const data = bytes.subarray(info.byteOffset, info.byteOffset + info.byteLength);
    const layer = (layers[l] ??= { matrices: {} });
    if (match[2] === 'expert_enabled') {
      if (data.some((v) => v > 1)) throw new ModelFileError(file, 'bad-header', `${info.name} holds values other than 0 and 1`);
      layer.expertEnabled = Uint8Array.from(data);
      continue;
    }
    const key = match[2] as MatrixKey;
    if (!MATRIX_KEYS.includes(key)) throw new ModelFileError(file, 'bad-header', `tensor ${info.name}: ${match[2]} is not a prunable matrix`);
    const n = Number(header.metadata[`${info.name}.elements`]);
    if (!Number.isInteger(n) || n < 1 || info.shape[0] !== Math.ceil(n / 8)) {
      throw new ModelFileError(
        file,
        'bad-header',
        `${info.name}: metadata ${info.name}.elements is ${JSON.stringify(header.metadata[`${info.name}.elements`] ?? null)} for ${info.shape[0]} bytes`,
      );
    }
    elements.set(info.name, n);
    layer.matrices[key] = unpackMaskBytes(data, n);
  }
  for (let l = 0; l < layers.length; l++) layers[l] ??= null;
  return { masks: { layers }, elements, modelHash: header.metadata.model_hash ?? null, method: header.metadata.method ?? null };
}

/**
 * The shapes two model-free mask files share: every matrix either masks must have one element count in both
 * (a matrix one file leaves dense takes the other's count). Throws RangeError naming the files otherwise.
 */
export function sharedShapes(a: MasksWithoutModel, b: MasksWithoutModel, names: [string, string]): MaskShapes {
  if (a.modelHash && b.modelHash && a.modelHash !== b.modelHash) {
    throw new RangeError(
      `${names[0]} and ${names[1]} are masks of different models (model_hash ${a.modelHash.slice(0, 16)}… and ${b.modelHash.slice(0, 16)}…)`,
    );
  }
  for (const [name, n] of a.elements) {
    const m = b.elements.get(name);
    if (m !== undefined && m !== n) throw new RangeError(`${name} has ${n} elements in ${names[0]} and ${m} in ${names[1]}: the masks do not match in shape`);
  }
  const enabledLength = (x: MasksWithoutModel) => x.masks.layers.find((l) => l?.expertEnabled)?.expertEnabled?.length ?? null;
  return {
    elements: (layer, key) => {
      const n = a.elements.get(`layers.${layer}.${key}`) ?? b.elements.get(`layers.${layer}.${key}`);
      if (n === undefined) throw new RangeError(`layers.${layer}.${key}: neither file gives its element count (give --model)`);
      return n;
    },
    numExperts: enabledLength(a) ?? enabledLength(b),
  };
}
