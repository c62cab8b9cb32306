/**
 * Named actions: the only code that changes the lab's state (docs/style.md). Each is a plain function over the
 * store and the Engine, so the same actions drive the page and the Node tests (tests/unit/store.test.ts).
 */
import type { Engine, ModelSource, ModelSummary } from '../api/engine.ts';
import { shortHash } from '../engine/experiment/model-hash.ts';
import {
  canonicalRemoteId,
  canonicalSubset,
  HIDEABLE_CONTROLS,
  LIMITS,
  type Experiment,
  type ExperimentCalibration,
  type ExperimentEvaluation,
  type ExperimentModel,
  type ExperimentPrune,
  type ExperimentRecover,
  type ExperimentView,
  type HideableControl,
  type PruneTarget,
} from '../engine/experiment/schema.ts';
import { decodeExperiment } from '../engine/experiment/url.ts';
import { settingOf, validSetting, withSetting, type SettingName } from '../engine/experiment/vocabulary.ts';
import { createTaskActions, errorInfo } from './lab-actions.ts';
import type { LabState, LabStore, Note } from './store.ts';

/** Shown when the page itself has no navigator.gpu: the engine is never started then. */
export const NO_WEBGPU_REASON = 'This browser does not expose WebGPU (navigator.gpu is missing).';

export interface StartOptions {
  /** Whether the page's own navigator has `gpu`: without it nothing else can work, so the engine is not asked. */
  webGpuInPage: boolean;
}

const clamp = (value: number, range: { min: number; max: number }) => Math.min(range.max, Math.max(range.min, value));
const clampInt = (value: number, range: { min: number; max: number }) => clamp(Math.round(value), range);

export function createLabActions(store: LabStore, engine: Engine) {
  const get = store.getState;
  const set = store.setState;
  let nextNoteId = 1;
  let modelController: AbortController | null = null;
  let hubController: AbortController | null = null;
  const tasks = createTaskActions(store, engine, (text) => note('link', text));

  const note = (topic: Note['topic'], text: string) => set((s) => ({ notes: [...s.notes, { id: nextNoteId++, topic, text }] }));
  const patchExperiment = (patch: Partial<Experiment>) => set((s) => ({ experiment: { ...s.experiment, ...patch } }));

  /** The experiment's model entry for a loaded model. */
  function experimentModel(source: ModelSource, summary: ModelSummary): ExperimentModel {
    const hash = shortHash(summary.contentHash);
    if (source.kind === 'embedded') return { source: 'embedded', id: source.id, hash };
    if (source.kind === 'hub') return { source: 'hub', id: canonicalRemoteId(source.repo) ?? source.repo.trim(), hash };
    return { source: 'files', id: summary.name, hash };
  }

  /** After a load: does the model match what the share link named? Says so when its content changed. */
  function checkLinkedModel(loaded: ExperimentModel) {
    const linked = get().linkedModel;
    if (!linked || linked.source !== loaded.source || (linked.source !== 'files' && linked.id !== loaded.id)) return;
    if (linked.hash && linked.hash !== loaded.hash) {
      note(
        'model',
        `The link was made with ${linked.id} whose content hash was ${linked.hash}; the model loaded now hashes to ` +
          `${loaded.hash}. It has changed since, so masks and numbers may differ from the link's.`,
      );
    }
    set({ linkedModel: null });
  }

  function describe(source: ModelSource): string {
    if (source.kind === 'embedded') return get().embedded.find((m) => m.id === source.id)?.name ?? source.id;
    if (source.kind === 'hub') return source.repo.trim();
    const first = source.files[0];
    return source.files.length === 1 ? (first instanceof File ? first.name : first.path) : `${source.files.length} files`;
  }

  const actions = {
    ...tasks,

    /** Reads a share link (the URL hash) into the experiment; its notes replace the previous link's. */
    applyShareLink(hash: string): void {
      const { experiment, notes, keys } = decodeExperiment(hash);
      const namesModel = keys.includes('model');
      // A pasted text travels as its hash only: say that the text itself is needed.
      const have = new Set(get().addedTexts.map((t) => t.hash));
      for (const [what, text] of [
        ['calibration', experiment.calibration.text],
        ['evaluation', experiment.evaluation.text],
        ...(experiment.recover.text ? ([['Recover training', experiment.recover.text]] as const) : []),
      ] as const) {
        if (text.kind === 'pasted' && !have.has(text.hash)) {
          notes.push(`The link's ${what} text is a pasted text known only by its hash ${text.hash}: paste or upload the same text to reproduce the results.`);
        }
      }
      set((s) => ({
        // A link that names no model keeps the one loaded.
        experiment: !namesModel && s.modelRef ? { ...experiment, model: s.modelRef } : experiment,
        linkedModel: namesModel ? experiment.model : null,
        notes: [...s.notes.filter((n) => n.topic !== 'link'), ...notes.map((text) => ({ id: nextNoteId++, topic: 'link' as const, text }))],
      }));
    },

    /** First steps of the page: find the GPU, list the embedded models, open the model the link or the index names. */
    async start(options: StartOptions): Promise<void> {
      if (!options.webGpuInPage) {
        set({ gpu: { status: 'unavailable', reason: NO_WEBGPU_REASON } });
        return;
      }
      try {
        const report = await engine.capabilities();
        set({ gpu: report.available ? { status: 'ready', caps: report.caps, summary: report.summary } : { status: 'unavailable', reason: report.reason } });
        if (!report.available) return;
        void tasks.loadTexts();
        set({ embedded: await engine.embeddedModels() });
      } catch (error) {
        set({ modelTask: { status: 'error', label: 'Starting the engine', error: errorInfo(error) } });
        return;
      }
      await actions.openExperimentModel();
    },

    /** Opens the model the share link named, or the embedded default on a plain visit. Never downloads a hub model unasked. */
    async openExperimentModel(): Promise<void> {
      const { linkedModel, embedded, modelRef } = get();
      if (modelRef && (!linkedModel || (linkedModel.source === modelRef.source && linkedModel.id === modelRef.id))) {
        // Already loaded: only compare hashes, and keep the loaded model's own hash in the experiment.
        checkLinkedModel(modelRef);
        patchExperiment({ model: modelRef });
        return;
      }
      if (linkedModel?.source === 'hub') {
        // Only the Hugging Face Hub is asked by itself (for config.json and sizes); another host waits for a click.
        const onHub = !linkedModel.id.includes('://') || /^https:\/\/(www\.)?(huggingface\.co|hf\.co)\//.test(linkedModel.id);
        note(
          'model',
          `The link uses the model ${linkedModel.id}${onHub ? ' from Hugging Face' : ''}: check its size below, then load it (nothing large is downloaded until you do).`,
        );
        actions.setHubRepo(linkedModel.id);
        if (onHub) await actions.checkHubModel();
        return;
      }
      if (linkedModel?.source === 'files') {
        note('model', `The link was made with local files (${linkedModel.id}): drop the same model files below; their content hash will be checked.`);
        return;
      }
      const fallback = embedded.find((m) => m.default) ?? embedded[0];
      let id = linkedModel?.id ?? fallback?.id;
      if (linkedModel && !embedded.some((m) => m.id === linkedModel.id)) {
        note('model', `This page has no embedded model "${linkedModel.id}"; ${fallback ? `loading ${fallback.name} instead` : 'there is none to load'}.`);
        set({ linkedModel: null });
        id = fallback?.id;
      }
      if (id) await actions.loadModel({ kind: 'embedded', id });
    },

    /** Loads a model, cancelling any load in progress; the loaded model changes only when this one succeeds. */
    async loadModel(source: ModelSource): Promise<void> {
      modelController?.abort();
      const controller = (modelController = new AbortController());
      const label = describe(source);
      set({ modelTask: { status: 'loading', label, progress: null } });
      try {
        const summary = await engine.loadModel(source, {
          signal: controller.signal,
          onProgress: (progress) => {
            if (modelController === controller) set({ modelTask: { status: 'loading', label, progress } });
          },
        });
        if (modelController !== controller) return;
        const model = experimentModel(source, summary);
        tasks.resetTasks();
        set((s) => ({ model: summary, modelRef: model, modelTask: { status: 'idle' }, experiment: { ...s.experiment, model } }));
        checkLinkedModel(model);
        void tasks.refreshGpuMemory();
      } catch (error) {
        if (modelController !== controller) return;
        const info = errorInfo(error);
        set({ modelTask: info.kind === 'aborted' ? { status: 'idle' } : { status: 'error', label, error: info } });
      } finally {
        if (modelController === controller) modelController = null;
      }
    },

    /** Cancels the model load or the size check in progress. */
    cancelModelTask(): void {
      modelController?.abort();
      hubController?.abort();
    },

    setHubRepo(repo: string): void {
      hubController?.abort();
      set({ hub: { repo, check: { status: 'idle' } } });
    },

    /** Size and fit of the typed repo, from its config.json and file sizes only. */
    async checkHubModel(): Promise<void> {
      hubController?.abort();
      const controller = (hubController = new AbortController());
      const repo = get().hub.repo;
      set({ hub: { repo, check: { status: 'estimating' } } });
      try {
        const estimate = await engine.estimateModel({ kind: 'hub', repo }, { signal: controller.signal });
        if (hubController === controller) set({ hub: { repo, check: { status: 'estimated', estimate } } });
      } catch (error) {
        if (hubController !== controller) return;
        const info = errorInfo(error);
        set({ hub: { repo, check: info.kind === 'aborted' ? { status: 'idle' } : { status: 'error', error: info } } });
      }
    },

    loadHubModel(): Promise<void> {
      return actions.loadModel({ kind: 'hub', repo: get().hub.repo });
    },

    dismissNote(id: number): void {
      set((s) => ({ notes: s.notes.filter((n) => n.id !== id) }));
    },

    /**
     * Any setting of the vocabulary (src/engine/experiment/vocabulary.ts), made valid by its row (numbers clamped
     * and rounded, subsets in canonical order); a value the row refuses (a half-typed number, an empty subset) keeps
     * the current one. The named setters below are this action for one row each.
     */
    setSetting(name: SettingName, value: unknown): void {
      const { section, at } = settingOf(name);
      const valid = at === null ? null : validSetting(name, value);
      if (valid) patchExperiment({ [section]: withSetting(get().experiment[section], name, valid.value) });
    },
    setPruneMethod(method: ExperimentPrune['method']): void {
      actions.setSetting('method', method);
    },
    setSparsity(sparsity: number): void {
      actions.setSetting('sparsity', sparsity);
    },
    setSparsityPattern(pattern: ExperimentPrune['pattern']): void {
      actions.setSetting('pattern', pattern);
    },
    setPruneGroup(group: ExperimentPrune['group']): void {
      actions.setSetting('group', group);
    },
    setAllocation(allocation: ExperimentPrune['allocation']): void {
      actions.setSetting('allocation', allocation);
    },
    setExpertsDrop(expertsDrop: number): void {
      actions.setSetting('expertsDrop', expertsDrop);
    },
    setExpertCriterion(expertCriterion: ExperimentPrune['expertCriterion']): void {
      actions.setSetting('expertCriterion', expertCriterion);
    },
    /** Experts switched off in the steered generation (steering; in the share link as steer=). */
    setSteering(disabledExperts: ExperimentEvaluation['disabledExperts']): void {
      actions.setSetting('disabledExperts', disabledExperts);
    },
    /** Experts forced in the steered generation, one per layer (steering; in the share link as force=). */
    setForcedExperts(forcedExperts: ExperimentEvaluation['forcedExperts']): void {
      actions.setSetting('forcedExperts', forcedExperts);
    },
    /** Which experts pruning never drops or prunes (super experts, Su et al. 2025). */
    setProtect(protect: ExperimentPrune['protect']): void {
      actions.setSetting('protect', protect);
    },
    /** SparseGPT's block width and dampening (a half-typed field, NaN, keeps the current value). */
    setSparseGpt(change: Partial<ExperimentPrune['sparseGpt']>): void {
      if (change.blockSize !== undefined) actions.setSetting('blockSize', change.blockSize);
      if (change.damp !== undefined) actions.setSetting('damp', change.damp);
    },
    /** Keeps the targets in canonical order; an empty choice is refused (nothing would be pruned). */
    setPruneTargets(targets: readonly PruneTarget[]): void {
      actions.setSetting('targets', targets);
    },
    setCalibrationText(text: ExperimentCalibration['text']): void {
      actions.setSetting('text', text);
    },
    setCalibrationSize(samples: number, seqLen: number): void {
      actions.setSetting('samples', samples);
      actions.setSetting('seqLen', seqLen);
    },
    setCalibrationSeed(seed: number): void {
      actions.setSetting('seed', seed);
    },
    setCalibrationMode(mode: ExperimentCalibration['mode']): void {
      actions.setSetting('mode', mode);
    },
    setEvaluationText(text: ExperimentEvaluation['text']): void {
      actions.setSetting('evalText', text);
    },
    setEvaluationSize(ctx: number, maxTokens: number): void {
      actions.setSetting('ctx', ctx);
      actions.setSetting('evalTokens', maxTokens);
    },
    /** The Recover step's training text (null: the calibration text). */
    setRecoverText(text: ExperimentRecover['text']): void {
      actions.setSetting('recoverText', text);
    },
    /** The Recover step's numbers, each made valid by its vocabulary row. */
    setRecoverSettings(change: Partial<Omit<ExperimentRecover, 'text'>>): void {
      const rows = {
        samples: 'recoverSamples',
        seqLen: 'recoverSeqLen',
        seed: 'recoverSeed',
        steps: 'recoverSteps',
        lr: 'recoverLr',
        batch: 'recoverBatch',
      } as const;
      for (const [field, value] of Object.entries(change)) actions.setSetting(rows[field as keyof typeof rows], value);
    },
    setView(view: Partial<ExperimentView>): void {
      const next = { ...get().experiment.view, ...view };
      patchExperiment({ view: { panel: next.panel, layer: clampInt(next.layer, LIMITS.layer) } });
    },
    setHiddenControls(hide: readonly HideableControl[]): void {
      patchExperiment({ hide: canonicalSubset(hide, HIDEABLE_CONTROLS) });
    },
    setTour(tour: boolean): void {
      patchExperiment({ tour });
    },
  };
  return actions;
}

export type LabActions = ReturnType<typeof createLabActions>;

/** Whether the experiment hides `control` (classroom mode). */
export function isHidden(state: LabState, control: HideableControl): boolean {
  return state.experiment.hide.includes(control);
}
