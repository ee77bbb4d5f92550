/**
 * Bit-for-bit comparison of float32 results, for results that must not depend on how the work
 * was split (threads, chunks, tiles).
 *
 * @module
 */

import assert from "node:assert/strict";

/** Fails with the first element whose bits differ (`Object.is`: -0 differs from 0, NaN equals NaN). */
export function assertBitwiseEqual(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) assert.fail(`${what}: element ${i} differs: ${a[i]} vs ${b[i]}`);
  }
}
