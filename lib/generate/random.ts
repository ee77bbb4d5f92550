/**
 * A small seeded pseudo-random number generator for sampling tokens.
 *
 * The generator is xoshiro128** 1.0 by David Blackman and Sebastiano Vigna: 128 bits of
 * state in four 32-bit words, updated with shifts, xors and one rotation, so it runs on
 * plain 32-bit integer operations (`Math.imul`, `>>>`) without BigInt. Its state is
 * filled from a single integer seed with SplitMix64, as the authors recommend; that
 * runs once per generator, so it uses BigInt for clarity.
 *
 * The same seed always gives the same sequence, on every platform.
 *
 * @example
 * ```ts
 * import { Xoshiro128StarStar } from "./random.ts";
 *
 * const rng = Xoshiro128StarStar.fromSeed(42);
 * const u = rng.nextFloat(); // in [0, 1)
 * ```
 *
 * @module
 */

const MASK64 = (1n << 64n) - 1n;

/**
 * SplitMix64 (Steele, Lea, Flood): a 64-bit generator used here only to expand one seed
 * into the 128-bit state of xoshiro128**.
 */
export class SplitMix64 {
  #state: bigint;

  /** @param seed any integer; it is taken modulo 2^64 */
  constructor(seed: bigint) {
    this.#state = BigInt.asUintN(64, seed);
  }

  /** The next 64-bit output. */
  next(): bigint {
    this.#state = (this.#state + 0x9e3779b97f4a7c15n) & MASK64;
    let z = this.#state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  }
}

/** xoshiro128**: 32-bit outputs, period 2^128 - 1. */
export class Xoshiro128StarStar {
  // The four state words; kept as separate fields so the hot path touches no array.
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  /**
   * Starts from an explicit state (four unsigned 32-bit words, not all zero).
   * Most callers want {@linkcode Xoshiro128StarStar.fromSeed}.
   */
  constructor(s0: number, s1: number, s2: number, s3: number) {
    if ((s0 | s1 | s2 | s3) === 0) {
      throw new RangeError("xoshiro128** state must not be all zero");
    }
    this.#s0 = s0 >>> 0;
    this.#s1 = s1 >>> 0;
    this.#s2 = s2 >>> 0;
    this.#s3 = s3 >>> 0;
  }

  /**
   * A generator whose state is the first two SplitMix64 outputs for `seed`, split into
   * little-endian 32-bit words (the layout the Rust `rand_xoshiro` crate uses for
   * `seed_from_u64`).
   *
   * @param seed an integer (number or bigint); negative values wrap modulo 2^64
   */
  static fromSeed(seed: number | bigint): Xoshiro128StarStar {
    const mix = new SplitMix64(BigInt(seed));
    const a = mix.next();
    const b = mix.next();
    const lo = (x: bigint) => Number(x & 0xffffffffn);
    const hi = (x: bigint) => Number(x >> 32n);
    // SplitMix64 never yields two zero outputs in a row, so the state is never all zero.
    return new Xoshiro128StarStar(lo(a), hi(a), lo(b), hi(b));
  }

  /** The next output, an unsigned 32-bit integer. */
  nextUint32(): number {
    const s1 = this.#s1;
    // result = rotl(s1 * 5, 7) * 9
    const x = Math.imul(s1, 5);
    const result = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
    const t = s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= s1;
    this.#s1 = s1 ^ this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = (this.#s3 << 11) | (this.#s3 >>> 21);
    return result;
  }

  /** A float in [0, 1) with 53 random bits (two outputs: the top 27 and top 26 bits). */
  nextFloat(): number {
    const a = this.nextUint32() >>> 5; // 27 bits
    const b = this.nextUint32() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992; // (a * 2^26 + b) / 2^53
  }
}

/**
 * A seed drawn from the operating system's entropy: a non-negative safe integer, so that
 * it can be printed, passed back as `--seed` and reproduce the run.
 */
export function randomSeed(): number {
  const words = new Uint32Array(2);
  crypto.getRandomValues(words);
  return (words[0] & 0x1fffff) * 4294967296 + words[1]; // 21 + 32 = 53 bits
}
