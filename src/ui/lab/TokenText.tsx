import { useState, type ReactNode } from 'react';
import { textColorOn } from '../charts/common.ts';

/** How one token is drawn: its background, an optional underline colour, and what pointing at it says. */
export interface TokenMark {
  background: string;
  underline?: string;
  words: string;
}

/** Whitespace and control characters drawn so every token has a visible box. */
export function visible(token: string): string {
  return token.replace(/\n/g, '↵\n').replace(/\t/g, '→').replace(/\r/g, '') || '∅';
}

/**
 * A text as coloured token boxes (the token views of the inspector and of the loss), with a readout line that
 * says what the token under the pointer means; the boxes' titles carry the same words.
 */
export function TokenText({
  label,
  tokens,
  mark,
  before,
  idle,
}: {
  label: string;
  tokens: string[];
  mark: (t: number) => TokenMark;
  before?: ReactNode;
  idle: string;
}) {
  const [hover, setHover] = useState<string | null>(null);
  return (
    <figure className="token-figure" aria-label={label}>
      {before}
      <p className="token-text">
        {tokens.map((token, t) => {
          const { background, underline, words } = mark(t);
          return (
            <span
              key={t}
              className="token"
              title={words}
              style={{ background, color: textColorOn(background), borderBottomColor: underline ?? 'transparent' }}
              onPointerEnter={() => setHover(words)}
              onPointerLeave={() => setHover(null)}
            >
              {visible(token)}
            </span>
          );
        })}
      </p>
      <figcaption>
        <span className="hover-readout" role="status" data-testid="hover-readout">
          {hover ?? idle}
        </span>
      </figcaption>
    </figure>
  );
}
