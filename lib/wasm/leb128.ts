/**
 * LEB128, the variable-length integer encoding of the WebAssembly binary format: seven bits per
 * byte, least significant group first, the high bit set on every byte but the last. Unsigned
 * values (sizes, indices, offsets) stop when the rest is zero; signed values (constants) stop
 * when the rest is all copies of the sign bit, which the last byte's bit 6 carries.
 *
 * @example
 * ```ts
 * import { signedLeb128, unsignedLeb128 } from "./leb128.ts";
 *
 * unsignedLeb128(624485); // [0xe5, 0x8e, 0x26]
 * signedLeb128(-123456); // [0xc0, 0xbb, 0x78]
 * ```
 *
 * @module
 */

/**
 * Encodes a non-negative integer as unsigned LEB128.
 *
 * @param value A whole number ≥ 0 (a `bigint` for 64-bit values past 2^53).
 * @returns The bytes.
 */
export function unsignedLeb128(value: number | bigint): number[] {
  let v = BigInt(value);
  if (v < 0n) throw new RangeError(`expected an unsigned value, found ${value}`);
  const bytes: number[] = [];
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    bytes.push(v === 0n ? low : low | 0x80);
  } while (v !== 0n);
  return bytes;
}

/**
 * Encodes an integer as signed LEB128 (two's complement, sign-extended from the last byte).
 *
 * @param value A whole number (a `bigint` for 64-bit values past 2^53).
 * @returns The bytes.
 */
export function signedLeb128(value: number | bigint): number[] {
  let v = BigInt(value);
  const bytes: number[] = [];
  for (;;) {
    const low = Number(v & 0x7fn);
    v >>= 7n; // arithmetic shift: the sign is kept
    const signBitClear = (low & 0x40) === 0;
    if ((v === 0n && signBitClear) || (v === -1n && !signBitClear)) {
      bytes.push(low);
      return bytes;
    }
    bytes.push(low | 0x80);
  }
}
