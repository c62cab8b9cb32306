/** Workgroup grids of the training kernels (64 invocations per workgroup). */
import { grid1d } from '../kernel.ts';

/** One invocation per item; kernels read the flat index as gid.x + gid.y * nwg.x * 64. */
export function gridFlat(count: number): [number, number] {
  return grid1d(count, 64);
}

/** x over `width` (one invocation per column), y (+ z past 65535) over `rows`; kernels read row = gid.y + gid.z * nwg.y. */
export function gridRows(width: number, rows: number): [number, number, number] {
  const x = Math.max(1, Math.ceil(width / 64));
  if (rows <= 65535) return [x, Math.max(1, rows), 1];
  return [x, 65535, Math.ceil(rows / 65535)];
}
