/**
 * The URL hash mirrors the experiment: every change is written back (debounced, with history.replaceState so
 * the back button is not flooded), and a link pasted into the address bar of an open page is read again.
 */
import { encodeExperiment } from '../engine/experiment/url.ts';
import type { LabActions } from './actions.ts';
import type { LabStore } from './store.ts';

/** The parts of `window` this needs (a fake in tests). */
export interface UrlWindow {
  location: { hash: string };
  history: { replaceState(data: unknown, unused: string, url: string): void };
  addEventListener(type: 'hashchange', listener: () => void): void;
  removeEventListener(type: 'hashchange', listener: () => void): void;
  setTimeout(handler: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

export const URL_DEBOUNCE_MS = 250;

/** Starts mirroring; returns the function that stops it. The caller applies the initial hash first. */
export function syncExperimentWithUrl(store: LabStore, actions: LabActions, win: UrlWindow, debounceMs = URL_DEBOUNCE_MS): () => void {
  let written = win.location.hash.replace(/^#/, '');
  let timer: unknown = null;

  const write = () => {
    timer = null;
    const encoded = encodeExperiment(store.getState().experiment);
    if (encoded === written) return;
    written = encoded;
    win.history.replaceState(null, '', `#${encoded}`);
  };

  const unsubscribe = store.subscribe((state, previous) => {
    if (state.experiment === previous.experiment) return;
    if (timer !== null) win.clearTimeout(timer);
    timer = win.setTimeout(write, debounceMs);
  });

  const onHashChange = () => {
    const hash = win.location.hash.replace(/^#/, '');
    if (hash === written) return;
    written = hash;
    actions.applyShareLink(hash);
    void actions.openExperimentModel();
  };
  win.addEventListener('hashchange', onHashChange);

  return () => {
    unsubscribe();
    if (timer !== null) win.clearTimeout(timer);
    win.removeEventListener('hashchange', onHashChange);
  };
}
