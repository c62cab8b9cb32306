/**
 * From two opened checkpoints (dense teacher, pruned student) to what the layer-wise distiller needs, per MoE layer:
 * the teacher's and the student's routed experts as f32 in the canonical layout (gate_up [E, 2I, H] then
 * down [E, H, I], whatever the family stores: src/engine/model/expert-layout.ts), and the kept bits (from
 * masks.safetensors, else the student's zeros). Checks that both are the same network first. Weights the masks
 * prune that the student's files hold nonzero are set to 0 (and counted).
 */
import { ModelFileError } from '../errors.ts';
import type { Checkpoint } from '../model/checkpoint.ts';
import { readCanonicalExperts } from '../model/expert-layout.ts';
import type { MaskSet } from '../model/mask-set.ts';
import type { WeightDtype } from '../model/spec.ts';
import { decodeWeights } from '../prune/packing.ts';
import { MASKS_FILE, readMasksFile } from '../prune/masks-file.ts';
import { countPruned, keptExperts, layerKeptBits, studentRelativeMasks } from './student-masks.ts';
import { checkSameModel } from './scope.ts';

const WEIGHT_DTYPE = { F32: 'f32', F16: 'f16', BF16: 'bf16' } as const;

/** One MoE layer's experts, [P_l] = [E, 2I, H] then [E, H, I] f32. */
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

/** Layer l's routed experts as f32 [P_l] in the canonical layout, and their stored dtype. */
export async function readExpertsF32(checkpoint: Checkpoint, layer: number): Promise<{ values: Float32Array; dtype: WeightDtype; gateUpCount: number }> {
  const c = await readCanonicalExperts(checkpoint, layer);
  const dtype = WEIGHT_DTYPE[c.dtype as keyof typeof WEIGHT_DTYPE];
  if (!dtype) throw new ModelFileError(checkpoint.folder.name, 'bad-dtype', `layer ${layer}'s experts are ${c.dtype}, not F32, F16 or BF16`);
  const { numExperts: E, expertFfnSize: I, hiddenSize: H } = checkpoint.spec;
  const gateUpCount = 2 * E * I * H;
  const values = new Float32Array(3 * E * I * H);
  values.set(decodeWeights(c.gateUp, dtype, gateUpCount));
  values.set(decodeWeights(c.down, dtype, E * I * H), gateUpCount);
  return { values, dtype, gateUpCount };
}

/** The experts `kept` (teacher ids, in order) of canonical f32 values of `from` experts. */
function selectExperts(values: Float32Array, from: number, kept: number[], I: number, H: number): Float32Array {
  if (kept.length === from) return values;
  const gu = 2 * I * H;
  const down = H * I;
  const out = new Float32Array(kept.length * (gu + down));
  kept.forEach((e, j) => {
    out.set(values.subarray(e * gu, (e + 1) * gu), j * gu);
    out.set(values.subarray(from * gu + e * down, from * gu + (e + 1) * down), kept.length * gu + j * down);
  });
  return out;
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
    const t = await readExpertsF32(teacher, l);
    const keptBits = layerKeptBits(masks, l, s.values, s.gateUpCount);
    for (let i = 0; i < s.values.length; i++) {
      if (!((keptBits[i >>> 5] >>> (i & 31)) & 1) && s.values[i] !== 0) {
        s.values[i] = 0;
        nonzeroPruned++;
      }
    }
    const teacherValues = removed ? selectExperts(t.values, teacher.spec.numExperts, kept[l], I, H) : t.values;
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
