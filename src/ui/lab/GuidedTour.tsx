import { useEffect, useState, type ReactNode } from 'react';
import type { Panel } from '../../engine/experiment/schema.ts';
import { textRefOf } from '../../engine/experiment/text-ref.ts';
import type { LabActions } from '../../state/actions.ts';
import { useLab, useLabActions, type LabState } from '../../state/store.ts';
import { LESSON_GENERATION } from '../../engine/experiment/vocabulary.ts';
import { scrollToSection, SECTIONS } from '../SectionNav.tsx';

interface TourStep {
  title: string;
  panel: Panel;
  body: ReactNode | ((state: LabState) => ReactNode);
  /** What "Do this step" runs (none: reading only). */
  act?: { label: string | ((state: LabState) => string); run: (actions: LabActions, state: LabState) => Promise<unknown> };
  /** Done when this holds (the step's result is on the page). */
  done?: (state: LabState) => boolean;
}

const GREEDY = { kind: 'greedy' } as const;

/**
 * The expert the lesson switches off in every MoE layer: the loaded shipped model's `lessonExpert` (one whose absence
 * changes the lesson's continuation, public/models/index.json), else expert 0.
 */
export function lessonExpert(s: LabState): number {
  const model = s.experiment.model;
  return (model.source === 'embedded' ? s.embedded.find((m) => m.id === model.id)?.lessonExpert : undefined) ?? 0;
}

/**
 * Router-guided pruning in eleven steps, on whatever model is loaded (the default one on a plain visit): routing, one
 * expert switched off, calibration and its coverage, MoE-Pruner's masks against Wanda's, perplexity and a generated
 * sentence before and after (docs/classroom.md).
 */
export const TOUR: TourStep[] = [
  {
    title: 'A Mixture-of-Experts model',
    panel: 'model',
    body: (
      <p>
        Each layer of this model has several <em>experts</em> (small feed-forward networks) and a <em>router</em>. For every token the router picks the top-K
        experts and mixes their outputs with gate weights g. Only K experts run per token, so the model is cheap to run but big to store — which is why pruning
        it is attractive.
      </p>
    ),
  },
  {
    title: 'Where do the tokens go?',
    panel: 'inspect',
    body: (
      <p>
        Route a text through the model. The heatmap shows the share of tokens each expert gets per layer; the coloured text shows which expert each token went
        to. Point at anything for its exact value.
      </p>
    ),
    act: { label: 'Route the text', run: (a, s) => a.inspect({ text: textRefOf(s.experiment.evaluation.text), tokens: 128, bySource: true }) },
    done: (s) => s.tasks.inspect.result !== null,
  },
  {
    title: 'Switch one expert off',
    panel: 'evaluate',
    body: (s) => (
      <p>
        Does the router's choice matter? Switch expert {lessonExpert(s)} off in every layer — its router logit becomes −∞, so each token goes to its best
        experts among the others — and let the model continue the same sentence. The columns show the dense model as trained and steered. The Steering controls
        switch other experts off, or <em>force</em> one expert to take every token.
      </p>
    ),
    act: {
      label: (s) => `Generate with expert ${lessonExpert(s)} off`,
      run: async (a, s) => {
        const off = [{ layer: '*' as const, expert: lessonExpert(s) }];
        a.setSteering(off);
        await a.generate(LESSON_GENERATION.prompt, LESSON_GENERATION.tokens, GREEDY, off);
      },
    },
    done: (s) => Boolean(s.tasks.generate.result?.steered?.result),
  },
  {
    title: 'Calibrate: what each expert sees',
    panel: 'calibrate',
    body: (
      <p>
        Pruning methods need to know how large each input column of a weight matrix typically is. Calibration runs sample text through the model and sums, per
        expert and input column j, the squared inputs Σx<sub>j</sub>² — and, router-weighted, Σ(g·x<sub>j</sub>)², where g is the gate weight the token gave
        that expert. The criteria views rank the experts by how often they are chosen, their gate weight and their output; an expert that received few
        calibration tokens gets a warning, because its statistics are unreliable.
      </p>
    ),
    act: { label: 'Calibrate', run: (a) => a.calibrate() },
    done: (s) => s.tasks.calibrate.result !== null,
  },
  {
    title: 'Score every weight',
    panel: 'prune',
    body: (
      <>
        <p>
          Wanda (Sun et al. 2023) scores weight W<sub>ij</sub> by |W<sub>ij</sub>| · √Σx<sub>j</sub>². MoE-Pruner (Xie et al. 2024) uses the router-weighted sum
          instead: |W<sub>ij</sub>| · √Σ(g·x<sub>j</sub>)². An input that only arrives with a small gate weight matters less, because the router scales the
          expert's output down.
        </p>
        <p>In each output row the lowest-scoring half of the weights is set to zero (50% sparsity).</p>
      </>
    ),
    act: {
      label: 'Prune 50% with MoE-Pruner',
      run: async (a) => {
        a.setPruneMethod('moe-pruner');
        a.setSparsityPattern({ kind: 'unstructured' });
        a.setSparsity(0.5);
        await a.prune();
      },
    },
    done: (s) => s.masksKey !== null,
  },
  {
    title: 'Where Wanda and MoE-Pruner disagree',
    panel: 'prune',
    body: (
      <p>
        Both methods keep half of every row; they differ only in the router weighting. Compare the MoE-Pruner masks in force with the masks Wanda makes from the
        same calibration: the heatmap shows, per layer and expert, the share of pruned weights on which the two disagree.
      </p>
    ),
    act: { label: "Compare with Wanda's masks", run: (a) => a.compareMasks('wanda') },
    done: (s) => s.tasks.compareMasks.result !== null,
  },
  {
    title: 'What did it cost?',
    panel: 'evaluate',
    body: (
      <p>
        Perplexity measures how surprised the model is by held-out text (lower is better). The dense and the pruned model read exactly the same windows, so the
        difference is what pruning cost.
      </p>
    ),
    act: { label: 'Measure perplexity', run: (a) => a.evaluate(true) },
    done: (s) => s.tasks.evaluate.result?.results.some((r) => r.variant === 'pruned') ?? false,
  },
  {
    title: 'What does the pruned model say?',
    panel: 'evaluate',
    body: (
      <p>
        Perplexity is an average. Continue the same sentence again: now the pruned model writes beside the dense one (and the steered one, while an expert is
        switched off). Where does the pruned sentence part from the dense one?
      </p>
    ),
    act: {
      label: 'Generate after pruning',
      run: (a, s) =>
        a.generate(LESSON_GENERATION.prompt, LESSON_GENERATION.tokens, GREEDY, s.experiment.evaluation.disabledExperts, s.experiment.evaluation.forcedExperts),
    },
    done: (s) => Boolean(s.tasks.generate.result?.pruned?.result),
  },
  {
    title: 'Did the routing change?',
    panel: 'inspect',
    body: (
      <p>
        Pruning the experts changes their outputs, and through the residual stream, what later routers see. Route the text again: the inspector now shows the
        dense and the pruned model (switch between them) and how often a token's experts changed.
      </p>
    ),
    act: { label: 'Route again', run: (a, s) => a.inspect({ text: textRefOf(s.experiment.evaluation.text), tokens: 128, bySource: true }) },
    done: (s) => Boolean(s.tasks.inspect.result?.pruned),
  },
  {
    title: 'Without the router: Wanda',
    panel: 'prune',
    body: (
      <p>
        Now prune with Wanda at the same sparsity and measure again. Comparing the two perplexities shows what router weighting buys; the sweep below draws the
        comparison over many sparsities.
      </p>
    ),
    act: {
      label: 'Prune 50% with Wanda and measure',
      run: async (a) => {
        a.setPruneMethod('wanda');
        await a.runExperiment(true);
      },
    },
  },
  {
    title: 'Share what you found',
    panel: 'model',
    body: (
      <p>
        The address bar holds the whole experiment: model (with its content hash), calibration, method and sparsity. Anyone who opens it gets the same masks and
        numbers with “Reproduce this experiment”. For a class, add <code>hide=</code> to hide controls and <code>tour=1</code> to start this tour
        (docs/classroom.md).
      </p>
    ),
  },
];

/** The guided tour: a card that walks through TOUR, scrolls to each step's section and can do the step. */
export function GuidedTour() {
  const on = useLab((s) => s.experiment.tour);
  const state = useLab((s) => s);
  const actions = useLabActions();
  const [index, setIndex] = useState(0);
  const [busy, setBusy] = useState(false);
  const step = TOUR[index];
  useEffect(() => {
    if (!on) return;
    scrollToSection(step.panel);
    const id = SECTIONS.find((s) => s.panel === step.panel)?.id;
    const element = id ? document.getElementById(id) : null;
    element?.classList.add('tour-focus');
    return () => element?.classList.remove('tour-focus');
  }, [on, step]);
  if (!on) return null;
  const canAct = state.model !== null && (state.model.tokenizer || !step.act);
  const done = step.done?.(state) ?? false;
  const run = async () => {
    if (!step.act) return;
    setBusy(true);
    try {
      await step.act.run(actions, state);
    } finally {
      setBusy(false);
    }
  };
  return (
    <aside className="tour" role="dialog" aria-label="Guided tour" aria-modal="false">
      <p className="tour-step">
        Step {index + 1} of {TOUR.length}
      </p>
      <h2>{step.title}</h2>
      {typeof step.body === 'function' ? step.body(state) : step.body}
      {state.model && !state.model.tokenizer && step.act && (
        <p className="hint warn">{state.model.name} has no tokenizer, so this step cannot run on it; load a model with one.</p>
      )}
      <div className="row">
        <button type="button" disabled={index === 0} onClick={() => setIndex(index - 1)}>
          Back
        </button>
        {step.act && (
          <button type="button" className="primary" disabled={!canAct || busy} onClick={() => void run()}>
            {busy ? 'Working…' : `${typeof step.act.label === 'function' ? step.act.label(state) : step.act.label}${done ? ' again' : ''}`}
          </button>
        )}
        {index < TOUR.length - 1 ? (
          <button type="button" onClick={() => setIndex(index + 1)}>
            Next
          </button>
        ) : (
          <button type="button" onClick={() => actions.setTour(false)}>
            Finish
          </button>
        )}
        <button type="button" className="link-button" onClick={() => actions.setTour(false)}>
          End the tour
        </button>
      </div>
    </aside>
  );
}
