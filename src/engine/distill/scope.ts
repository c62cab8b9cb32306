/**
 * What distillation can run on: the models the WGSL training kernels cover (src/gpu/train), i.e. the Mixtral
 * architecture — RMSNorm, RoPE, softmax -> top-K -> renormalize routing, SwiGLU experts, no biases, untied LM
 * head. Grouped-query attention is accepted when attention is frozen (the default): its k/v heads are repeated
 * into full multi-head form, which computes exactly what transformers' repeat_kv computes. Anything else is refused
 * with one line naming what the training kernels lack.
 */
import { ModelFileError } from '../errors.ts';
import type { MoeModelSpec } from '../model/spec.ts';
import type { TrainModelConfig } from '../train/config.ts';

/** Which parameters distillation updates: the routed experts only (default), or every weight. */
export type DistillTrainable = 'experts' | 'all';

/** What the training kernels lack for `spec` (empty when it is covered). */
export function missingForTraining(spec: MoeModelSpec, trainable: DistillTrainable): string[] {
  const missing: string[] = [];
  if (spec.architecture !== 'mixtral') missing.push(`the ${spec.architecture} family (only Mixtral is covered)`);
  if (spec.norm.kind !== 'rms' || spec.norm.bias) missing.push('LayerNorm');
  if (spec.routing.kind !== 'softmax-topk') missing.push(`the ${spec.routing.kind} routing rule`);
  else if (!spec.routing.renormalize) missing.push('top-K routing without renormalization');
  if (spec.qkNorm !== 'none') missing.push('q/k normalization');
  if (spec.qkvBias || spec.oBias || spec.lmHeadBias) missing.push('biases');
  if (spec.clipQkv !== null) missing.push('q/k/v clipping');
  if (spec.sharedExpert) missing.push('shared experts');
  if (spec.moeLayers.some((m) => !m)) missing.push('dense (non-MoE) layers');
  if (spec.embeddingMultiplier !== 1 || spec.residualMultiplier !== 1 || spec.logitsScaling !== 1) missing.push('embedding/residual/logit multipliers');
  if (spec.tiedEmbeddings) missing.push('tied embeddings');
  if (spec.numHeads * spec.headDim !== spec.hiddenSize)
    missing.push(`a head width ${spec.numHeads} x ${spec.headDim} other than hidden_size ${spec.hiddenSize}`);
  if (Math.abs(spec.attentionScale * Math.sqrt(spec.headDim) - 1) > 1e-12) missing.push('an attention scale other than 1/sqrt(head_dim)');
  if (spec.numKvHeads !== spec.numHeads) {
    if (spec.numHeads % spec.numKvHeads) missing.push(`${spec.numHeads} heads over ${spec.numKvHeads} key/value heads`);
    else if (trainable === 'all')
      missing.push(`training grouped-query attention (${spec.numKvHeads} key/value heads for ${spec.numHeads}; use --train experts)`);
  }
  if (spec.numExperts > 64) missing.push(`${spec.numExperts} experts (at most 64)`);
  return missing;
}

/** Throws ModelFileError('unsupported') naming `file` and what is missing, when distillation cannot run on `spec`. */
export function checkDistillable(spec: MoeModelSpec, file: string, trainable: DistillTrainable): void {
  const missing = missingForTraining(spec, trainable);
  if (missing.length)
    throw new ModelFileError(file, 'unsupported', `distillation needs the Mixtral architecture; the training kernels lack ${missing.join(', ')}`);
}

/**
 * The teacher and the student must be the same network: every shape and rule equal, except that the student may
 * have fewer experts (the pruning export removes dropped ones; masks.safetensors says which).
 */
export function checkSameModel(teacher: MoeModelSpec, student: MoeModelSpec, teacherFile: string, studentFile: string): void {
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
  if (student.numExperts > teacher.numExperts)
    throw new ModelFileError(studentFile, 'shape-mismatch', `${student.numExperts} experts, more than the teacher's ${teacher.numExperts}`);
  if (teacher.norm.eps !== student.norm.eps)
    throw new ModelFileError(studentFile, 'bad-config', `rms_norm_eps ${student.norm.eps} differs from the teacher's ${teacher.norm.eps}`);
}

/** The training kernels' model description for `spec`, on windows of `window` tokens. */
export function trainConfigOf(spec: MoeModelSpec, window: number): TrainModelConfig {
  return {
    vocabSize: spec.vocabSize,
    hiddenSize: spec.hiddenSize,
    numLayers: spec.numLayers,
    numHeads: spec.numHeads,
    numExperts: spec.numExperts,
    topK: spec.topK,
    expertFfnSize: spec.expertFfnSize,
    contextLength: window,
    ropeTheta: spec.ropeTheta,
    rmsNormEps: spec.norm.eps,
    bosTokenId: spec.bosTokenId ?? 0,
    eosTokenId: spec.eosTokenId ?? 0,
  };
}
