/**
 * From two opened checkpoints (dense teacher, pruned student) to what the layer-wise distiller needs, per MoE layer:
 * the teacher's and the student's routed experts as f32 in the canonical layout (gate_up [E, 2I, H] then
 * down [E, H, I], whatever the family stores: src/engine/model/expert-layout.ts; gpt_oss's biases after them,
 * src/engine/distill/layout.ts), and the kept bits (from
 * masks.safetensors, else the student's zeros). Checks that both are the same network first. Weights the masks
 * prune that the student's files hold nonzero are set to 0 (and counted).
 */
import { ModelFileError } from '../errors.ts';
import type { Checkpoint } from '../model/checkpoint.ts';
import { readCanonicalExperts, readGptOssExperts } from '../model/expert-layout.ts';
import type { MaskSet } from '../model/mask-set.ts';
import type { WeightDtype } from '../model/spec.ts';
import { decodeWeights } from '../prune/packing.ts';
import { MASKS_FILE, readMasksFile } from '../prune/masks-file.ts';
import { countPruned, keptExperts, layerKeptBits, studentRelativeMasks } from './student-masks.ts';
import { checkSameModel } from './scope.ts';
import { expertParameterLayout, type ExpertParameterLayout } from './layout.ts';

const WEIGHT_DTYPE = { F32: 'f32', F16: 'f16', BF16: 'bf16' } as const;

/** One MoE layer's experts, [P_l] = [E, 2I, H] then [E, H, I] (then the biases) f32. */
export interface DistillLayer {
  layer: number;
  teacher: Float32Array;
  student: Float32Array;
  kept: Uint32Array; // [ceil(P_l / 32)] 0 = pruned
  pruned: number;
}

export interface DistillProblem {
  teacher: Checkpoint;
  student: Checkpoint;
  layers: DistillLayer[];
  /** The masks file's contents mapped onto the student (its own expert numbering), or null: masks from its zeros. */
  masks: MaskSet | null;
  maskSource: 'masks.safetensors' | 'zeros';
  /** Expert weights held at 0. */
  prunedWeights: number;
  /** Weights the masks prune that the student's files held nonzero (set to 0 before distilling). */
  nonzeroPruned: number;
  droppedExperts: number[][]; // [L] the teacher's expert ids
}

export interface LayerExpertsF32 {
  values: Float32Array; // [P_l]
  /** The stored dtype; 'mxfp4' for gpt_oss's MXFP4 experts (decoded exactly). */
  dtype: WeightDtype | 'mxfp4';
  gateUpCount: number;
  layout: ExpertParameterLayout;
}

/** Layer l's routed experts as f32 [P_l] in the canonical layout (gpt_oss: their biases after them), and their stored dtype. */
export async function readExpertsF32(checkpoint: Checkpoint, layer: number): Promise<LayerExpertsF32> {
  const { numExperts: E, expertFfnSize: I, hiddenSize: H } = checkpoint.spec;
  const names = checkpoint.names.layers[layer]?.experts;
  const biases = names?.layout === 'gpt-oss';
  const layout = expertParameterLayout({ E, H, I, biases });
  const gateUpCount = 2 * E * I * H;
  const values = new Float32Array(layout.count);
  if (names?.layout === 'gpt-oss') {
    const g = await readGptOssExperts(checkpoint, layer);
    values.set(g.gateUp, layout.gateUp);
    values.set(g.down, layout.down);
    values.set(g.gateUpBias, layout.gateUpBias);
    values.set(g.downBias, layout.downBias);
    const stored = checkpoint.tensors.get(names.gateUp)?.info.dtype;
    const dtype = names.format === 'mxfp4' ? 'mxfp4' : WEIGHT_DTYPE[stored as keyof typeof WEIGHT_DTYPE];
    if (!dtype) throw new ModelFileError(checkpoint.folder.name, 'bad-dtype', `layer ${layer}'s experts are ${stored}, not F32, F16, BF16 or MXFP4`);
    return { values, dtype, gateUpCount, layout };
  }
  const c = await readCanonicalExperts(checkpoint, layer);
  const dtype = WEIGHT_DTYPE[c.dtype as keyof typeof WEIGHT_DTYPE];
  if (!dtype) throw new ModelFileError(checkpoint.folder.name, 'bad-dtype', `layer ${layer}'s experts are ${c.dtype}, not F32, F16 or BF16`);
  values.set(decodeWeights(c.gateUp, dtype, gateUpCount));
  values.set(decodeWeights(c.down, dtype, E * I * H), gateUpCount);
  return { values, dtype, gateUpCount, layout };
}

/** The experts `kept` (teacher ids, in order) of [P_l] values of `from` experts: every section [from, n] cut to [kept, n]. */
function selectExperts(values: Float32Array, from: number, kept: number[], I: number, H: number, biases: boolean): Float32Array {
  if (kept.length === from) return values;
  const sections = biases ? [2 * I * H, H * I, 2 * I, H] : [2 * I * H, H * I]; // per expert, in layout order
  const out = new Float32Array(kept.length * sections.reduce((a, b) => a + b, 0));
  let [source, target] = [0, 0];
  for (const n of sections) {
    kept.forEach((e, j) => out.set(values.subarray(source + e * n, source + (e + 1) * n), target + j * n));
    source += from * n;
    target += kept.length * n;
  }
  return out;
}

/**
 * Distilled MXFP4 experts are refused, not re-quantized: a 4-bit E2M1 code per weight with one power-of-two scale per
 * 32 can hold only updates of at least half a quantization step, so most of what distillation moves would round
 * back; a bf16 or f32 copy of the model distills and exports in its own dtype.
 */
function refuseMxfp4(student: Checkpoint, layer: number): never {
  throw new ModelFileError(
    student.folder.name,
    'unsupported',
    `layer ${layer}'s experts are MXFP4: distillation does not re-quantize trained weights to 4 bits (updates below half an E2M1 step would round away); distill a bf16 or f32 copy`,
  );
}

export async function prepareDistillation(teacher: Checkpoint, student: Checkpoint, signal?: AbortSignal): Promise<DistillProblem> {
  const teacherName = teacher.folder.name;
  const studentName = student.folder.name;
  checkSameModel(teacher.spec, student.spec, teacherName, `${studentName}/config.json`);
  // The masks were made for the dense model: read them against the teacher, then map them onto the student.
  const masksSource = await student.folder.open(MASKS_FILE);
  const teacherMasks = masksSource ? await readMasksFile(masksSource, teacher.spec) : null;
  const kept = keptExperts(teacherMasks, teacher.spec.numExperts, teacher.spec.numLayers);
  const removed = student.spec.numExperts < teacher.spec.numExperts;
  if (removed && !teacherMasks) {
    throw new ModelFileError(
      `${studentName}/config.json`,
      'shape-mismatch',
      `${student.spec.numExperts} experts per layer, the teacher ${teacher.spec.numExperts}, and no ${MASKS_FILE} says which were dropped`,
    );
  }
  if (removed && kept.some((k, l) => student.spec.moeLayers[l] && k.length !== student.spec.numExperts)) {
    throw new ModelFileError(
      `${studentName}/config.json`,
      'shape-mismatch',
      `${student.spec.numExperts} experts per layer, but ${MASKS_FILE} keeps ${kept.map((k) => k.length).join('/')} of the teacher's ${teacher.spec.numExperts}`,
    );
  }
  const masks = teacherMasks && studentRelativeMasks(teacherMasks, kept, teacher.spec);
  const { expertFfnSize: I, hiddenSize: H } = student.spec;
  const layers: DistillLayer[] = [];
  let nonzeroPruned = 0;
  for (const [l, moe] of student.spec.moeLayers.entries()) {
    if (!moe) continue;
    signal?.throwIfAborted();
    const enabled = masks?.layers[l]?.expertEnabled;
    const count = enabled ? enabled.reduce((a, b) => a + b, 0) : student.spec.numExperts;
    if (count < student.spec.topK)
      throw new ModelFileError(`${studentName}/${MASKS_FILE}`, 'bad-layout', `layer ${l} keeps ${count} experts, fewer than top-k ${student.spec.topK}`);
    const s = await readExpertsF32(student, l);
    if (s.dtype === 'mxfp4') refuseMxfp4(student, l);
    const t = await readExpertsF32(teacher, l);
    const keptBits = layerKeptBits(masks, l, s.values, s.gateUpCount, s.layout.matrices);
    for (let i = 0; i < s.values.length; i++) {
      if (!((keptBits[i >>> 5] >>> (i & 31)) & 1) && s.values[i] !== 0) {
        s.values[i] = 0;
        nonzeroPruned++;
      }
    }
    const teacherValues = removed ? selectExperts(t.values, teacher.spec.numExperts, kept[l], I, H, s.layout.count > s.layout.matrices) : t.values;
    layers.push({ layer: l, teacher: teacherValues, student: s.values, kept: keptBits, pruned: countPruned(keptBits, s.values.length) });
  }
  return {
    teacher,
    student,
    layers,
    masks,
    maskSource: masks ? 'masks.safetensors' : 'zeros',
    prunedWeights: layers.reduce((sum, l) => sum + l.pruned, 0),
    nonzeroPruned,
    droppedExperts: kept.map((k) => [...Array(teacher.spec.numExperts).keys()].filter((e) => !k.includes(e))),
  };
}
