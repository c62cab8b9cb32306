/**
 * From two opened checkpoints (dense teacher, pruned student) to what the GPU distiller needs: both as flat f32
 * parameters in the training layout, the masks (masks.safetensors, else the student's zeros) as kept / update
 * bitsets, and the dropped experts. Checks scope and that both are the same network first.
 */
import { ModelFileError } from '../errors.ts';
import type { Checkpoint } from '../model/checkpoint.ts';
import type { MaskSet } from '../model/masks.ts';
import { paramLayout, type ParamLayout } from '../train/config.ts';
import { countPruned, expertEnabledOf, keptBits, keptExperts, MASKS_FILE, readMasksFile, studentRelativeMasks, updateBits } from './masks.ts';
import { placements, readFlatParameters, type Placement } from './params.ts';
import { checkDistillable, checkSameModel, trainConfigOf, type DistillTrainable } from './scope.ts';

/** Flat parameters and bitsets in the training layout (src/gpu/distill/distiller.ts uploads them). */
export interface DistillProblem {
  layout: ParamLayout;
  student: Float32Array; // [P] the pruned model, pruned weights exactly 0
  teacher: Float32Array; // [P] the dense model (its expert tensors are read)
  kept: Uint32Array; // [ceil(P / 32)] 0 = pruned
  update: Uint32Array; // [ceil(P / 32)] 1 = trainable and kept
  /** Per layer [E], 1 = enabled; null: no expert of the layer dropped. */
  expertEnabled: (Uint8Array | null)[];
  trainable: DistillTrainable;
}

export interface PreparedDistillation {
  problem: DistillProblem;
  /** The student's placements (for writing the distilled folder). */
  placements: Placement[];
  /** The masks file's contents mapped onto the student (its own expert numbering), or null: masks from its zeros. */
  masks: MaskSet | null;
  maskSource: 'masks.safetensors' | 'zeros';
  /** Parameters held at 0. */
  prunedWeights: number;
  /** Weights the masks prune that the student's files held nonzero (set to 0 before distilling). */
  nonzeroPruned: number;
  droppedExperts: number[][]; // [L] the teacher's expert ids
}

export interface PrepareOptions {
  /** S: tokens per training window. */
  window: number;
  trainable: DistillTrainable;
  signal?: AbortSignal;
}

export async function prepareDistillation(teacher: Checkpoint, student: Checkpoint, o: PrepareOptions): Promise<PreparedDistillation> {
  const teacherName = teacher.folder.name;
  const studentName = student.folder.name;
  checkDistillable(teacher.spec, `${teacherName}/config.json`, o.trainable);
  checkDistillable(student.spec, `${studentName}/config.json`, o.trainable);
  checkSameModel(teacher.spec, student.spec, teacherName, `${studentName}/config.json`);
  if (o.window > student.spec.maxPositions) {
    throw new ModelFileError(
      `${studentName}/config.json`,
      'unsupported',
      `training windows of ${o.window} tokens are longer than max_position_embeddings ${student.spec.maxPositions}`,
    );
  }
  if (student.spec.slidingWindow !== null && o.window > student.spec.slidingWindow) {
    throw new ModelFileError(
      `${studentName}/config.json`,
      'unsupported',
      `training windows of ${o.window} tokens are longer than the sliding window ${student.spec.slidingWindow}`,
    );
  }
  const layout = paramLayout(trainConfigOf(student.spec, o.window));
  const studentPlacements = placements(student, layout);
  const studentValues = await readFlatParameters(student, layout, o.signal);
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
  if (removed && kept.some((k) => k.length !== student.spec.numExperts)) {
    throw new ModelFileError(
      `${studentName}/config.json`,
      'shape-mismatch',
      `${student.spec.numExperts} experts per layer, but ${MASKS_FILE} keeps ${kept.map((k) => k.length).join('/')} of the teacher's ${teacher.spec.numExperts}`,
    );
  }
  const masks = teacherMasks && studentRelativeMasks(teacherMasks, kept, teacher.spec);
  const teacherLayout = removed ? paramLayout(trainConfigOf(teacher.spec, o.window)) : layout;
  const teacherValues = expertsInLayout(await readFlatParameters(teacher, teacherLayout, o.signal), teacherLayout, layout, removed ? kept : null);
  const keptWeights = keptBits(layout, studentPlacements, masks, studentValues);
  let nonzeroPruned = 0;
  for (let i = 0; i < layout.count; i++) {
    if (!((keptWeights[i >>> 5] >>> (i & 31)) & 1) && studentValues[i] !== 0) {
      studentValues[i] = 0;
      nonzeroPruned++;
    }
  }
  const expertEnabled = expertEnabledOf(masks, student.spec.numLayers);
  for (const [l, enabled] of expertEnabled.entries()) {
    const count = enabled ? enabled.reduce((a, b) => a + b, 0) : student.spec.numExperts;
    if (count < student.spec.topK)
      throw new ModelFileError(`${studentName}/${MASKS_FILE}`, 'bad-layout', `layer ${l} keeps ${count} experts, fewer than top-k ${student.spec.topK}`);
  }
  return {
    problem: {
      layout,
      student: studentValues,
      teacher: teacherValues,
      kept: keptWeights,
      update: updateBits(layout, studentPlacements, keptWeights, o.trainable),
      expertEnabled,
      trainable: o.trainable,
    },
    placements: studentPlacements,
    masks,
    maskSource: masks ? 'masks.safetensors' : 'zeros',
    prunedWeights: countPruned(keptWeights, layout.count),
    nonzeroPruned,
    droppedExperts: kept.map((k) => [...Array(teacher.spec.numExperts).keys()].filter((e) => !k.includes(e))),
  };
}

/**
 * The expert tensors (w13, w2) of `values` in `from` layout copied into `to` layout, expert kept[l][j] of `from`
 * becoming expert j of `to` (null: same experts); everything else stays 0 (the teacher's experts are all that is read).
 */
export function expertsInLayout(values: Float32Array, from: ParamLayout, to: ParamLayout, kept: number[][] | null): Float32Array {
  if (!kept) return values;
  const out = new Float32Array(to.count);
  to.layers.forEach((t, l) => {
    for (const key of ['w13', 'w2'] as const) {
      const size = t[key].size / to.config.numExperts;
      kept[l].forEach((e, j) =>
        out.set(values.subarray(from.layers[l][key].offset + e * size, from.layers[l][key].offset + (e + 1) * size), t[key].offset + j * size),
      );
    }
  });
  return out;
}
