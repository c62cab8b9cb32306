import { describe, expect, it } from 'vitest';
import { linkTextId, linkTextOf, textKey, textRefOf } from '../../src/engine/experiment/text-ref.ts';

describe('text ids in links', () => {
  it('reads brown (the v1 default) as the Brown held-out text, with or without a genre', () => {
    expect(textRefOf({ kind: 'corpus', id: 'brown' })).toEqual({ kind: 'corpus', id: 'brown-heldout' });
    expect(textRefOf({ kind: 'corpus', id: 'brown.news' })).toEqual({ kind: 'corpus', id: 'brown-heldout', genre: 'news' });
    expect(textRefOf({ kind: 'corpus', id: 'wikitext-2-test' })).toEqual({ kind: 'corpus', id: 'wikitext-2-test' });
    expect(textRefOf({ kind: 'pasted', hash: '0123456789abcdef' })).toEqual({ kind: 'pasted', hash: '0123456789abcdef' });
  });

  it('writes links with the alias and round-trips', () => {
    expect(linkTextId('brown-heldout')).toBe('brown');
    expect(linkTextId('tiny-shakespeare')).toBe('tiny-shakespeare');
    for (const id of ['brown', 'brown.belles_lettres', 'tiny-shakespeare'])
      expect(linkTextOf(textRefOf({ kind: 'corpus', id }))).toEqual({ kind: 'corpus', id });
    expect(textKey({ kind: 'corpus', id: 'brown-heldout', genre: 'news' })).toBe('brown-heldout.news');
    expect(textKey({ kind: 'pasted', hash: 'ab' })).toBe('pasted:ab');
  });
});
