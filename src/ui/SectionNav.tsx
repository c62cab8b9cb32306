import type { Panel } from '../engine/experiment/schema.ts';
import { useLab, useLabActions } from '../state/store.ts';

export const SECTIONS: { panel: Panel; id: string; label: string }[] = [
  { panel: 'model', id: 'model', label: 'Model' },
  { panel: 'inspect', id: 'inspect', label: 'Inspect' },
  { panel: 'calibrate', id: 'calibrate', label: 'Calibrate' },
  { panel: 'prune', id: 'prune', label: 'Prune' },
  { panel: 'evaluate', id: 'evaluate', label: 'Evaluate' },
];

/** Scrolls to a section (the URL hash holds the share link, so the section links never change it). */
export function scrollToSection(panel: Panel): void {
  const id = SECTIONS.find((s) => s.panel === panel)?.id ?? 'model';
  document.getElementById(id)?.scrollIntoView({ behavior: 'smooth', block: 'start' });
}

/** The page's sections in the order of the workflow; the one chosen is remembered in the link (panel=). */
export function SectionNav() {
  const panel = useLab((s) => s.experiment.view.panel);
  const { setView } = useLabActions();
  return (
    <nav className="section-nav" aria-label="Sections">
      {SECTIONS.map((s, i) => (
        <a
          key={s.panel}
          href={`#${s.id}`}
          className={panel === s.panel ? 'current' : ''}
          aria-current={panel === s.panel ? 'true' : undefined}
          onClick={(event) => {
            // The hash holds the share link: scroll instead of following the anchor.
            event.preventDefault();
            setView({ panel: s.panel });
            scrollToSection(s.panel);
          }}
        >
          <span className="step" aria-hidden="true">
            {i + 1}
          </span>{' '}
          {s.label}
        </a>
      ))}
    </nav>
  );
}
