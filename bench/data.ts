/**
 * Bench inputs: fast pseudo-random fills and lazily allocated arrays.
 *
 * Values only need to be ordinary finite numbers (no subnormals, no NaN) so that timings
 * are representative; they are made with integer arithmetic because filling gigabytes
 * through `Math.random()` would dominate the bench start-up.
 *
 * @module
 */

/** A value built on first use and kept, so a filtered-out bench costs no memory. */
export function lazy<T>(make: () => T): () => T {
  let value: T | undefined;
  let made = false;
  return () => {
    if (!made) {
      value = make();
      made = true;
    }
    return value as T;
  };
}

/** xorshift32 state stepper: cheap, good enough to avoid patterns a CPU could exploit. */
function xorshift32(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x | 0;
}

/** A buffer of `byteLength` bytes, shared when workers must see it. */
function bytes(byteLength: number, shared: boolean): ArrayBuffer | SharedArrayBuffer {
  return shared ? new SharedArrayBuffer(byteLength) : new ArrayBuffer(byteLength);
}

/**
 * Fill `target` with float32 values uniformly spread over [-1, 1).
 *
 * @param target the array to fill
 * @param seed nonzero seed
 */
export function fillRandomF32(target: Float32Array, seed = 0x9e3779b9): void {
  let x = seed | 0 || 1;
  for (let i = 0; i < target.length; i++) {
    x = xorshift32(x);
    target[i] = x * 4.656612873077393e-10; // 2^-31
  }
}

/**
 * Float32 values uniformly spread over [-1, 1).
 *
 * @param n element count
 * @param seed nonzero seed
 * @param shared allocate a `SharedArrayBuffer` (for workers)
 */
export function randomF32(n: number, seed = 0x9e3779b9, shared = false): Float32Array {
  const out = new Float32Array(bytes(n * 4, shared));
  fillRandomF32(out, seed);
  return out;
}

/**
 * bfloat16 bit patterns of magnitude in [2^-8, 1), random sign: two per 32-bit write.
 * Read as IEEE half, the same bits are normal numbers of magnitude in [0.5, 2), so one
 * array can stand for weights of either 16-bit type.
 *
 * @param n element count (the buffer holds `n` rounded up to even)
 * @param seed nonzero seed
 * @param shared allocate a `SharedArrayBuffer` (for workers)
 */
export function randomBf16(n: number, seed = 0x2545f491, shared = false): Uint16Array {
  const words = new Uint32Array(bytes(((n + 1) >>> 1) * 4, shared));
  let x = seed | 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x = xorshift32(x);
    // bf16: sign(1) exponent(8) mantissa(7); exponent 119..126 → 2^-8 … 2^-1 scale.
    const lo = (x & 0x807f) | ((119 + ((x >>> 8) & 7)) << 7);
    const hi = ((x >>> 16) & 0x807f) | ((119 + ((x >>> 24) & 7)) << 7);
    words[i] = lo | (hi << 16);
  }
  return new Uint16Array(words.buffer, 0, n);
}

/**
 * IEEE half bit patterns of magnitude in [2^-6, 1), random sign: two per 32-bit write.
 *
 * @param n element count
 * @param seed nonzero seed
 */
export function randomF16(n: number, seed = 0x68e31da4): Uint16Array {
  const words = new Uint32Array((n + 1) >>> 1);
  let x = seed | 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x = xorshift32(x);
    // f16: sign(1) exponent(5) mantissa(10); exponent 9..14 → 2^-6 … 2^-1 scale.
    const lo = (x & 0x83ff) | ((9 + ((x >>> 10) & 3) + ((x >>> 12) & 1)) << 10);
    const hi = ((x >>> 16) & 0x83ff) | ((9 + ((x >>> 26) & 3) + ((x >>> 28) & 1)) << 10);
    words[i] = lo | (hi << 16);
  }
  return new Uint16Array(words.buffer, 0, n);
}

/** A sink benches write results into, so the optimizer cannot drop the work. */
export const sink = { value: 0 };
