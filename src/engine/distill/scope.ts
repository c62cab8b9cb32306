/**
 * What distillation needs of its two checkpoints: the same network (every shape and rule equal, except that the
 * student may have fewer experts: the pruning export removes dropped ones, masks.safetensors says which) with at
 * least one MoE layer. Every family the loader reads qualifies: distillation runs on the inference forward
 * (src/gpu/model) and trains only the routed experts, SwiGLU in all of them (gpt_oss's clamped and biased).
 */
import { ModelFileError } from '../errors.ts';
import type { MoeModelSpec } from '../model/spec.ts';

export function checkSameModel(teacher: MoeModelSpec, student: MoeModelSpec, teacherFile: string, studentFile: string): void {
  if (teacher.architecture !== student.architecture)
    throw new ModelFileError(studentFile, 'shape-mismatch', `a ${student.architecture} model, but the teacher ${teacherFile} is ${teacher.architecture}`);
  const fields = ['vocabSize', 'hiddenSize', 'numLayers', 'numHeads', 'numKvHeads', 'headDim', 'topK', 'expertFfnSize', 'ropeTheta'] as const;
  for (const f of fields) {
    if (teacher[f] !== student[f]) {
      throw new ModelFileError(
        studentFile,
        'shape-mismatch',
        `${f} is ${student[f]} but the teacher ${teacherFile} has ${teacher[f]}; distill a model pruned from that teacher`,
      );
    }
  }
  if (teacher.moeLayers.some((moe, l) => moe !== student.moeLayers[l]))
    throw new ModelFileError(studentFile, 'shape-mismatch', `its MoE layers differ from the teacher's (${teacherFile})`);
  if (!student.moeLayers.some(Boolean)) throw new ModelFileError(studentFile, 'unsupported', 'no MoE layer: there are no experts to distill');
  if (student.numExperts > teacher.numExperts)
    throw new ModelFileError(studentFile, 'shape-mismatch', `${student.numExperts} experts, more than the teacher's ${teacher.numExperts}`);
  if (teacher.norm.eps !== student.norm.eps)
    throw new ModelFileError(studentFile, 'bad-config', `norm eps ${student.norm.eps} differs from the teacher's ${teacher.norm.eps}`);
}
