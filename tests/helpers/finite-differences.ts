/** Central finite differences, the check of hand-written gradients (the f64 references' own tests). */

/** (f(x + h e_i) - f(x - h e_i)) / 2h, f taking a copy of x with entry i moved. */
export function centralDifference(f: (x: Float64Array) => number, x: ArrayLike<number>, i: number, h = 1e-6): number {
  const plus = Float64Array.from(x);
  const minus = Float64Array.from(x);
  plus[i] += h;
  minus[i] -= h;
  return (f(plus) - f(minus)) / (2 * h);
}
