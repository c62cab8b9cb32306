import { describe, expect, it } from 'vitest';
import { detagBrownDocument } from '../../src/engine/corpus/brown-detag.ts';
import { ModelFileError } from '../../src/engine/errors.ts';

/** Tagged lines as the corpus writes them: paragraphs after blank lines, first line tab-indented. */
const tagged = (...paragraphs: string[][]): string => paragraphs.map((lines) => `\n\n\t${lines.join('\n')}\n`).join('');

describe('Brown de-tagging rules', () => {
  it("drops tags, glues punctuation and turns `` and '' into \" with . and , moved inside", () => {
    const doc = tagged(["The/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, and/cc it's/pps+bez over/rb ''/'' ./.", "Didn't/dod* he/pps go/vb ?/. ?/."]);
    expect(detagBrownDocument(doc)).toBe('The jury said "no evidence," and it\'s over." Didn\'t he go?');
  });

  it('keeps paragraphs as lines and puts a headline on its own line', () => {
    const doc = `${tagged(['First/od paragraph/nn ./.'])}\n\n\nMerger/nn-hl proposed/vbn-hl \nHowever/wrb ,/, no/at ./.\nYes/rb ./.\n`;
    expect(detagBrownDocument(doc)).toBe('First paragraph.\nMerger proposed\nHowever, no. Yes.');
  });

  it("prints repeated sentence punctuation once and an abbreviation's period once", () => {
    const doc = tagged(['He/pps ate/vbd ;/. ;/.', 'she/pps won/vbd !/. !/.', 'Ivan/np Allen/np Jr./np ./.', "``/`` at/in three/cd A.M./rb ''/'' ./."]);
    expect(detagBrownDocument(doc)).toBe('He ate; she won! Ivan Allen Jr. "at three A.M."');
  });

  it('spaces brackets, dashes and slashes in words', () => {
    const doc = tagged(['Both/abx (/( and/or/cc 1/2/cd )/) --/-- see/vb //in page/nn 3/cd :/: here/rb ./.']);
    expect(detagBrownDocument(doc)).toBe('Both (and/or 1/2) -- see / page 3: here.');
  });

  it('pairs lone single quotes into opening and closing ones', () => {
    const doc = tagged(["More/ap '/' pro/jj '/' letters/nns than/in '/' con/jj '/' ./.", "``/`` It's/pps+bez '/' See/vb Joe/np '/' ''/'' ./."]);
    expect(detagBrownDocument(doc)).toBe("More 'pro' letters than 'con.' \"It's 'See Joe.'\"");
  });

  it('prints inch marks as " and drops the stray quote token the corpus puts after them', () => {
    const doc = tagged(["Cut/vb 1/8''/nn ''/'' bars/nns ,/, ``/`` A/np ''/'' ./."]);
    expect(detagBrownDocument(doc)).toBe('Cut 1/8" bars, "A."');
  });

  it('names the file and the token when a token has no tag', () => {
    expect(() => detagBrownDocument(tagged(['The/at jury'], ['x/nn']), 'ca99')).toThrow(ModelFileError);
    expect(() => detagBrownDocument(tagged(['The/at jury']), 'ca99')).toThrow(/ca99: token 'jury' is not of the form word\/tag/);
    expect(() => detagBrownDocument('\n\n  \n', 'ca98')).toThrow(/ca98: no tagged text/);
  });
});
