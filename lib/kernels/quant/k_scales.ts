/**
 * The pieces Q4_K and Q5_K share: the 12 bytes that hold their super-block's 8 six-bit scales
 * and 8 six-bit minimums, and the search for one sub-block's scale and minimum.
 *
 * ```text
 * byte j      (j < 4): scale j (bits 0–5) | top 2 bits of scale j + 4 (bits 6–7)
 * byte j + 4  (j < 4): min j   (bits 0–5) | top 2 bits of min j + 4   (bits 6–7)
 * byte j + 8  (j < 4): low 4 bits of scale j + 4 | low 4 bits of min j + 4 << 4
 * ```
 *
 * (ggml's `get_scale_min_k4` reads them.) A sub-block of 32 weights decodes as `d · sc · q −
 * dmin · m`, with `d` and `dmin` the super-block's float16 scales.
 *
 * @example
 * ```ts
 * import { packScalesMins, scaleMin } from "./k_scales.ts";
 *
 * const bytes = new Uint8Array(12);
 * packScalesMins(bytes, 0, [1, 2, 3, 4, 60, 61, 62, 63], [0, 0, 0, 0, 5, 6, 7, 8]);
 * scaleMin(bytes, 0, 5); // [61, 6]
 * ```
 *
 * @module
 */

/**
 * Scale and minimum of sub-block `j` (0–7) from the 12 bytes at `bytes[at ..]`.
 *
 * @param bytes The bytes.
 * @param at Offset of the 12 scale bytes.
 * @param j Sub-block.
 * @returns `[scale, min]`, each 0–63.
 */
export function scaleMin(bytes: Uint8Array, at: number, j: number): [number, number] {
  if (j < 4) return [bytes[at + j] & 63, bytes[at + j + 4] & 63];
  const low = bytes[at + j + 4];
  return [
    (low & 15) | ((bytes[at + j - 4] >> 6) << 4),
    (low >> 4) | ((bytes[at + j] >> 6) << 4),
  ];
}

/**
 * Writes 8 scales and 8 minimums (each 0–63) as 12 bytes at `bytes[at ..]`.
 *
 * @param bytes Destination.
 * @param at Offset.
 * @param scales The 8 scales.
 * @param mins The 8 minimums.
 */
export function packScalesMins(
  bytes: Uint8Array,
  at: number,
  scales: ArrayLike<number>,
  mins: ArrayLike<number>,
): void {
  for (let j = 0; j < 4; j++) {
    bytes[at + j] = (scales[j] & 63) | ((scales[j + 4] >> 4) << 6);
    bytes[at + j + 4] = (mins[j] & 63) | ((mins[j + 4] >> 4) << 6);
    bytes[at + j + 8] = (scales[j + 4] & 15) | ((mins[j + 4] & 15) << 4);
  }
}

/** `fitScaleMin`'s scratch: a sub-block (at most 32 values) in float64. */
const ABOVE = new Float64Array(32), VALUES = new Float64Array(32), WEIGHTS = new Float64Array(32);

/**
 * Fits `x[start + i] ≈ scale · L[i] − min` for `i < n`, with integers `L[i]` in `[0, nmax]`,
 * `scale ≥ 0` and `min ≥ 0` (the sub-block's offset never above zero, as ggml's K-quants
 * store it), minimizing `Σ w[i] · error²`. Tries 11 scales around the one that maps the range
 * of `x` onto `[0, nmax]` (`nmax ± 1` steps over the range); for each it rounds every `L[i]`,
 * then solves the weighted least squares for scale and offset given those `L` and keeps the
 * best (the error in closed form from the same sums, as ggml's `make_qkx2_quants` scores its
 * candidates). 21 candidates measured no better (Q4_K round trip 0.0725 against 0.0726) at
 * half the speed.
 *
 * @param x Values.
 * @param start First index in `x` (and in `w`).
 * @param n Count, at most 32.
 * @param nmax Largest integer.
 * @param w Weights of the squared errors: `w[i − shift]` for `x[i]`.
 * @param shift Index of `x[0]`'s weight, negated (`w` may cover only the super-block).
 * @param out Receives `scale` at `out[at]` and `min` at `out[at + 1]`.
 * @param at Where in `out`.
 */
export function fitScaleMin(
  x: Float32Array,
  start: number,
  n: number,
  nmax: number,
  w: Float32Array,
  shift: number,
  out: Float64Array,
  at: number,
): void {
  if (n > ABOVE.length) throw new RangeError(`expected at most 32 values, got ${n}`);
  const end = start + n;
  let lo = x[start], hi = x[start], sw = 0, sx = 0, sxx = 0;
  for (let i = start; i < end; i++) {
    const v = x[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    sw += w[i - shift];
    sx += w[i - shift] * v;
    sxx += w[i - shift] * v * v;
  }
  if (lo > 0) lo = 0;
  out[at] = 0;
  out[at + 1] = -lo;
  if (hi <= lo) return;
  // The sub-block in float64 scratch, read 11 times below: x − lo, x and its weight.
  const above = ABOVE, values = VALUES, weights = WEIGHTS;
  for (let k = 0; k < n; k++) {
    above[k] = x[start + k] - lo;
    values[k] = x[start + k];
    weights[k] = w[start + k - shift];
  }
  let best = Infinity;
  out[at] = (hi - lo) / nmax;
  for (let step = -10; step <= 10; step += 2) {
    const inverse = (nmax + 0.1 * step) / (hi - lo);
    let sl = 0, sll = 0, slx = 0;
    for (let k = 0; k < n; k++) {
      // Math.floor of a value ≥ 0.5 (x ≥ lo, inverse > 0), done as an int32 truncation.
      let l = (inverse * above[k] + 0.5) | 0;
      if (l > nmax) l = nmax;
      const wl = weights[k] * l;
      sl += wl;
      sll += wl * l;
      slx += wl * values[k];
    }
    const det = sw * sll - sl * sl;
    if (det <= 0) continue;
    let scale = (sw * slx - sl * sx) / det, offset = (sll * sx - sl * slx) / det;
    if (offset > 0) {
      offset = 0;
      scale = slx / sll;
    }
    if (!(scale > 0)) continue;
    // Σ w (scale · l + offset − x)² expanded over the sums.
    const error = scale * scale * sll + offset * offset * sw + sxx +
      2 * (scale * offset * sl - scale * slx - offset * sx);
    if (error < best) {
      best = error;
      out[at] = scale;
      out[at + 1] = -offset;
    }
  }
}

/**
 * The weights of the squared errors ggml's K-quant search uses: `rms(x) + |x[i]|` over the
 * super-block, so that large weights are matched more closely.
 *
 * @param x Values.
 * @param start First index of the super-block.
 * @param n Its size.
 * @param w Destination: `w[i − start]` for `x[i]`.
 */
export function errorWeights(x: Float32Array, start: number, n: number, w: Float32Array): void {
  let sum = 0;
  for (let i = start; i < start + n; i++) sum += x[i] * x[i];
  const rms = Math.sqrt(sum / n);
  for (let i = start; i < start + n; i++) w[i - start] = rms + Math.abs(x[i]);
}
