/** IDS.json: a JSON array of token ids (the CLI's --ids), checked against the vocabulary. */
import { ModelFileError } from '../errors.ts';

export function parseTokenIds(file: string, text: string, vocabSize: number): number[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelFileError(file, 'bad-json', `not valid JSON (${(error as Error).message})`);
  }
  if (!Array.isArray(json) || json.length === 0) throw new ModelFileError(file, 'bad-json', 'expected a non-empty JSON array of token ids');
  json.forEach((id: unknown, i) => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new ModelFileError(file, 'bad-json', `entry ${i} (${JSON.stringify(id)?.slice(0, 40)}) is not a token id in 0..${vocabSize - 1}`);
    }
  });
  return json as number[];
}
