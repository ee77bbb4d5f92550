/**
 * Writes `.safetensors` files, for test fixtures and random-weight Hugging Face folders: the
 * 8-byte little-endian header length, the JSON header padded with spaces to a multiple of 8
 * bytes, then the tensors' bytes back to back with no gaps (as the safetensors library lays
 * them out, so that its reader accepts our files too). Tensors are placed widest element type
 * first, which keeps every tensor aligned to its element size.
 *
 * @example
 * ```ts
 * import { encodeSafetensors } from "./safetensors_writer.ts";
 *
 * const norm = new Uint8Array(new Float32Array([1, 1, 1, 1]).buffer);
 * const file = encodeSafetensors([{ name: "norm.weight", dtype: "F32", shape: [4], data: norm }]);
 * Deno.writeFileSync("/tmp/tiny.safetensors", file);
 * ```
 *
 * @module
 */

import { writeFileAtomic } from "./atomic_file.ts";
import type { SafetensorsDtype } from "./safetensors.ts";

/** One tensor to write. */
export interface SafetensorsEntry {
  /** Its name in the header. */
  readonly name: string;
  /** Element type. */
  readonly dtype: SafetensorsDtype;
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** Its row-major little-endian elements: `product(shape) × element size` bytes. */
  readonly data: Uint8Array;
}

const ELEMENT_BYTES: Readonly<Record<SafetensorsDtype, number>> = { BF16: 2, F16: 2, F32: 4 };

/**
 * Lays out a safetensors file in memory.
 *
 * @param entries The tensors (unique names; each `data` the right length).
 * @param metadata Optional `__metadata__` strings (e.g. `{ format: "pt" }`).
 * @returns The file's bytes.
 * @throws {RangeError} When a tensor's data length disagrees with its shape and dtype, or a name
 * repeats.
 */
export function encodeSafetensors(
  entries: readonly SafetensorsEntry[],
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const ordered = entries
    .map((entry, index) => ({ entry, index }))
    .sort((a, b) =>
      ELEMENT_BYTES[b.entry.dtype] - ELEMENT_BYTES[a.entry.dtype] || a.index - b.index
    )
    .map(({ entry }) => entry);
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header.__metadata__ = { ...metadata };
  let offset = 0;
  for (const { name, dtype, shape, data } of ordered) {
    const expected = shape.reduce((a, b) => a * b, 1) * ELEMENT_BYTES[dtype];
    if (data.length !== expected) {
      throw new RangeError(
        `tensor "${name}": expected ${expected} bytes for ${dtype} [${shape}], found ${data.length}`,
      );
    }
    if (Object.hasOwn(header, name)) throw new RangeError(`tensor "${name}" appears twice`);
    header[name] = { dtype, shape: [...shape], data_offsets: [offset, offset + data.length] };
    offset += data.length;
  }
  const file = assembleSafetensors(JSON.stringify(header), offset);
  let at = file.length - offset;
  for (const { data } of ordered) {
    file.set(data, at);
    at += data.length;
  }
  return file;
}

/**
 * The frame of a safetensors file around a given header text: length prefix, the header padded
 * with spaces to a multiple of 8 bytes, and `dataBytes` zero bytes of data to fill in. Tests use
 * it to write headers that break the rules on purpose.
 *
 * @param headerJson The header's text (not checked).
 * @param dataBytes Size of the data section.
 * @returns The file's bytes, data zeroed.
 */
export function assembleSafetensors(headerJson: string, dataBytes: number): Uint8Array {
  const text = new TextEncoder().encode(headerJson);
  const headerLength = Math.ceil(text.length / 8) * 8;
  const file = new Uint8Array(8 + headerLength + dataBytes);
  new DataView(file.buffer).setBigUint64(0, BigInt(headerLength), true);
  file.fill(0x20, 8, 8 + headerLength);
  file.set(text, 8);
  return file;
}

/**
 * Writes a safetensors file so that it appears whole or not at all (a temporary file renamed
 * into place).
 *
 * @param path Where to write it.
 * @param entries The tensors.
 * @param metadata Optional `__metadata__`.
 */
export async function writeSafetensorsFile(
  path: string,
  entries: readonly SafetensorsEntry[],
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(entries, metadata));
}
