/**
 * `?gpumem=SIZE` in the page's URL (before the `#` of the share link, so never part of an experiment): the engine's
 * GPU memory budget instead of the one derived from the adapter (src/lab/page-gpu.ts). A debug and test setting:
 * a small budget makes any model load in streaming mode (docs/ui.md, "Streaming mode"). Sizes are read by the
 * parser of the CLI's `--gpu-memory` (`64MiB`, `8GiB`, plain bytes).
 */
import { parseByteSize } from '../engine/format-bytes.ts';

export const GPU_MEMORY_PARAM = 'gpumem';

/** The budget the URL's query asks for (null: none asked), and a note when its value is not a size. */
export function pageGpuMemory(search: string): { bytes: number | null; problem: string | null } {
  const text = new URLSearchParams(search).get(GPU_MEMORY_PARAM);
  if (text === null) return { bytes: null, problem: null };
  const bytes = parseByteSize(text);
  if (bytes !== null) return { bytes, problem: null };
  return {
    bytes: null,
    problem: `The page's ${GPU_MEMORY_PARAM}=${text} is not a size such as 512MiB, 8GiB or a number of bytes; the GPU memory budget comes from the adapter.`,
  };
}

/** The page's address as a share link: without `gpumem`, a setting of this tab that the experiment does not carry. */
export function shareableUrl(href: string): string {
  const url = new URL(href);
  url.searchParams.delete(GPU_MEMORY_PARAM);
  return url.href;
}
