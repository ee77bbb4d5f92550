/**
 * Writes GGUF files (version 3, little-endian), streaming: the header (metadata and tensor
 * infos) is laid out in memory, then each tensor's bytes are pulled from its source chunk by
 * chunk and written as they come, so a 16 GB model needs only a few megabytes of memory. The
 * file is written under a temporary name in the same folder and renamed into place when
 * complete, so a failed or interrupted write never leaves half a file.
 *
 * Metadata values carry their GGUF type ({@linkcode GgufValue}): JavaScript numbers do not say
 * whether llama.cpp expects a u32 or a float32. Tensors are given outermost dimension first, as
 * everywhere in this project; the writer stores them innermost first, as GGUF does.
 *
 * @example
 * ```ts
 * import { gguf, writeGgufFile } from "./gguf_writer.ts";
 * import { ggmlType } from "./gguf_types.ts";
 *
 * const norm = new Float32Array([1, 1, 1, 1]);
 * await writeGgufFile("/tmp/tiny.gguf", [["general.architecture", gguf.string("llama")]], [
 *   { name: "output_norm.weight", type: ggmlType("F32"), shape: [4],
 *     chunks: () => [new Uint8Array(norm.buffer)] },
 * ]);
 * ```
 *
 * @module
 */

import { forgetTemporary, temporaryPath, trackTemporary } from "./atomic_file.ts";
import {
  GGML_TYPES,
  ggmlBytes,
  type GgmlTypeInfo,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VALUE_TYPES,
  GGUF_VERSION,
  type GgufScalarType,
  type GgufValue,
} from "./gguf_types.ts";

export type { GgufValue } from "./gguf_types.ts";

/** Typed metadata values, named after GGUF's types. */
export const gguf = {
  /** An unsigned 32-bit integer (counts, lengths, token ids). */
  uint32: (value: number): GgufValue => ({ type: "uint32", value }),
  /** A signed 32-bit integer. */
  int32: (value: number): GgufValue => ({ type: "int32", value }),
  /** An unsigned 64-bit integer. */
  uint64: (value: number | bigint): GgufValue => ({ type: "uint64", value }),
  /** A float32. */
  float32: (value: number): GgufValue => ({ type: "float32", value }),
  /** A boolean. */
  bool: (value: boolean): GgufValue => ({ type: "bool", value }),
  /** A UTF-8 string. */
  string: (value: string): GgufValue => ({ type: "string", value }),
  /** An array of one item type. */
  array: (
    itemType: GgufScalarType,
    value: ArrayLike<number | bigint | boolean | string>,
  ): GgufValue => ({ type: "array", itemType, value }),
};

/** One tensor to write, with a source of its bytes. */
export interface GgufTensorSource {
  /** Its name in the file, e.g. `blk.0.attn_q.weight`. */
  readonly name: string;
  /** Its ggml type. */
  readonly type: GgmlTypeInfo;
  /** Dimensions, outermost first (`[rows, cols]`); the row length is a whole number of blocks. */
  readonly shape: readonly number[];
  /** Yields the tensor's bytes in order, `ggmlBytes(type, elements)` in all. */
  chunks(): Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
}

/** The layout of a header: its bytes and where each tensor starts in the data section. */
export interface GgufLayout {
  /** Header and padding up to the data section. */
  readonly header: Uint8Array;
  /** Each tensor's offset from the start of the data section (aligned). */
  readonly offsets: readonly number[];
  /** Each tensor's byte length. */
  readonly byteLengths: readonly number[];
  /** The whole file's size. */
  readonly fileBytes: number;
}

/** Options of {@linkcode writeGgufFile}. */
export interface GgufWriteOptions {
  /** Alignment of the data section and tensors (default 32); written as `general.alignment`
   * when not 32. */
  readonly alignment?: number;
  /** Called as bytes are written: done and total bytes of the file. */
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Lays out a GGUF header: magic, version, counts, metadata, tensor infos and the padding that
 * aligns the data section.
 *
 * @param metadata Key/value pairs, in the order to write them (keys unique).
 * @param tensors The tensors' names, types and shapes.
 * @param alignment Data alignment.
 * @returns The header bytes and the tensors' offsets.
 * @throws {RangeError} When a key or tensor name repeats, a row is not a whole number of blocks,
 * or a value does not fit its type.
 */
export function layoutGguf(
  metadata: ReadonlyArray<readonly [string, GgufValue]>,
  tensors: ReadonlyArray<Pick<GgufTensorSource, "name" | "type" | "shape">>,
  alignment: number = GGUF_DEFAULT_ALIGNMENT,
): GgufLayout {
  if (!Number.isInteger(alignment) || alignment < 1 || (alignment & (alignment - 1)) !== 0) {
    throw new RangeError(`expected a power of two alignment, found ${alignment}`);
  }
  const out = new ByteBuilder();
  out.u32(GGUF_MAGIC);
  out.u32(GGUF_VERSION);
  out.u64(tensors.length);
  const entries = [...metadata];
  if (alignment !== GGUF_DEFAULT_ALIGNMENT && !entries.some(([k]) => k === "general.alignment")) {
    entries.push(["general.alignment", gguf.uint32(alignment)]);
  }
  out.u64(entries.length);
  const keys = new Set<string>();
  for (const [key, value] of entries) {
    if (keys.has(key)) throw new RangeError(`metadata key "${key}" appears twice`);
    keys.add(key);
    out.string(key);
    out.u32(GGUF_VALUE_TYPES[value.type]);
    if (value.type === "array") {
      out.u32(GGUF_VALUE_TYPES[value.itemType]);
      out.u64(value.value.length);
      for (let i = 0; i < value.value.length; i++) {
        out.scalar(value.itemType, value.value[i], key);
      }
    } else {
      out.scalar(value.type, value.value, key);
    }
  }

  const names = new Set<string>();
  const offsets: number[] = [];
  const byteLengths: number[] = [];
  let dataBytes = 0;
  for (const { name, type, shape } of tensors) {
    if (names.has(name)) throw new RangeError(`tensor "${name}" appears twice`);
    names.add(name);
    if (!GGML_TYPES.includes(type)) throw new RangeError(`tensor "${name}": unknown ggml type`);
    const elements = shape.reduce((a, b) => a * b, 1);
    if (shape.length === 0 || shape[shape.length - 1] % type.blockElements !== 0) {
      throw new RangeError(
        `tensor "${name}": rows of ${shape[shape.length - 1]} elements are not whole ` +
          `${type.name} blocks of ${type.blockElements}`,
      );
    }
    out.string(name);
    out.u32(shape.length);
    for (let d = shape.length - 1; d >= 0; d--) out.u64(shape[d]); // innermost first
    out.u32(type.id);
    dataBytes = alignUp(dataBytes, alignment);
    out.u64(dataBytes);
    offsets.push(dataBytes);
    const bytes = ggmlBytes(type, elements);
    byteLengths.push(bytes);
    dataBytes += bytes;
  }
  const headerBytes = alignUp(out.length, alignment);
  out.pad(headerBytes - out.length);
  return { header: out.bytes(), offsets, byteLengths, fileBytes: headerBytes + dataBytes };
}

/**
 * Writes a GGUF file whole or not at all: a temporary file in the same folder, renamed into
 * place once every tensor is written.
 *
 * @param path Where to write it.
 * @param metadata Key/value pairs in order.
 * @param tensors The tensors, in the order of the data section.
 * @param options Alignment and a progress callback.
 * @returns The file's size in bytes.
 * @throws {RangeError} When the header is invalid ({@linkcode layoutGguf}) or a tensor's source
 * yields more or fewer bytes than its type and shape take.
 */
export async function writeGgufFile(
  path: string,
  metadata: ReadonlyArray<readonly [string, GgufValue]>,
  tensors: readonly GgufTensorSource[],
  options: GgufWriteOptions = {},
): Promise<number> {
  const layout = layoutGguf(metadata, tensors, options.alignment);
  // The temporary is tracked so that Ctrl+C removes it (lib/formats/atomic_file.ts).
  const temp = temporaryPath(path);
  const file = await Deno.open(temp, { write: true, createNew: true });
  trackTemporary(temp);
  try {
    const sink = new ChunkedSink(file, layout.fileBytes, options.onProgress);
    await sink.write(layout.header);
    const dataStart = layout.header.length;
    for (let i = 0; i < tensors.length; i++) {
      await sink.zeros(dataStart + layout.offsets[i] - sink.position);
      const start = sink.position;
      for await (const chunk of tensors[i].chunks()) await sink.write(chunk);
      const written = sink.position - start;
      if (written !== layout.byteLengths[i]) {
        throw new RangeError(
          `tensor "${tensors[i].name}": expected ${layout.byteLengths[i]} bytes of data, ` +
            `its source gave ${written}`,
        );
      }
    }
    await sink.flush();
    file.close();
    await Deno.rename(temp, path);
    forgetTemporary(temp);
  } catch (error) {
    try {
      file.close();
    } catch { /* already closed */ }
    await Deno.remove(temp).catch(() => {});
    forgetTemporary(temp);
    throw error;
  }
  return layout.fileBytes;
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** How each fixed-size number type is stored; integer types carry their range. */
const NUMBER_TYPES: Readonly<
  Record<
    Exclude<GgufScalarType, "string" | "bool" | "uint64" | "int64">,
    { size: number; min?: number; max?: number; set(v: DataView, at: number, n: number): void }
  >
> = {
  uint8: { size: 1, min: 0, max: 0xff, set: (v, at, n) => v.setUint8(at, n) },
  int8: { size: 1, min: -0x80, max: 0x7f, set: (v, at, n) => v.setInt8(at, n) },
  uint16: { size: 2, min: 0, max: 0xffff, set: (v, at, n) => v.setUint16(at, n, true) },
  int16: { size: 2, min: -0x8000, max: 0x7fff, set: (v, at, n) => v.setInt16(at, n, true) },
  uint32: { size: 4, min: 0, max: 0xffffffff, set: (v, at, n) => v.setUint32(at, n, true) },
  int32: {
    size: 4,
    min: -0x80000000,
    max: 0x7fffffff,
    set: (v, at, n) => v.setInt32(at, n, true),
  },
  float32: { size: 4, set: (v, at, n) => v.setFloat32(at, n, true) },
  float64: { size: 8, set: (v, at, n) => v.setFloat64(at, n, true) },
};

/** A growable little-endian byte buffer for the header. */
class ByteBuilder {
  #buffer = new Uint8Array(1 << 16);
  #view = new DataView(this.#buffer.buffer);
  #length = 0;
  #encoder = new TextEncoder();

  get length(): number {
    return this.#length;
  }

  #reserve(n: number): void {
    if (this.#length + n <= this.#buffer.length) return;
    let size = this.#buffer.length * 2;
    while (size < this.#length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = next;
    this.#view = new DataView(next.buffer);
  }

  u32(n: number): void {
    this.#reserve(4);
    this.#view.setUint32(this.#length, n, true);
    this.#length += 4;
  }

  u64(n: number | bigint): void {
    this.#reserve(8);
    this.#view.setBigUint64(this.#length, BigInt(n), true);
    this.#length += 8;
  }

  string(text: string): void {
    const bytes = this.#encoder.encode(text);
    this.u64(bytes.length);
    this.#reserve(bytes.length);
    this.#buffer.set(bytes, this.#length);
    this.#length += bytes.length;
  }

  pad(n: number): void {
    this.#reserve(n);
    this.#buffer.fill(0, this.#length, this.#length + n);
    this.#length += n;
  }

  scalar(type: GgufScalarType, value: number | bigint | boolean | string, key: string): void {
    const fail = () => {
      throw new RangeError(`metadata "${key}": ${String(value)} is not a GGUF ${type}`);
    };
    if (type === "string") {
      if (typeof value !== "string") fail();
      this.string(value as string);
      return;
    }
    if (type === "bool") {
      if (typeof value !== "boolean") fail();
      this.#reserve(1);
      this.#buffer[this.#length++] = value ? 1 : 0;
      return;
    }
    if (type === "uint64" || type === "int64") {
      if (typeof value !== "bigint" && !Number.isSafeInteger(value)) fail();
      this.#reserve(8);
      if (type === "uint64") this.#view.setBigUint64(this.#length, BigInt(value), true);
      else this.#view.setBigInt64(this.#length, BigInt(value), true);
      this.#length += 8;
      return;
    }
    if (typeof value !== "number") fail();
    const { size, min, max, set } = NUMBER_TYPES[type];
    const n = value as number;
    if (min !== undefined && (!Number.isInteger(n) || n < min || n > max!)) fail();
    this.#reserve(size);
    set(this.#view, this.#length, n);
    this.#length += size;
  }

  bytes(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }
}

/** Collects small writes into large ones and reports progress. */
class ChunkedSink {
  static readonly CHUNK = 8 << 20;
  readonly #file: Deno.FsFile;
  readonly #total: number;
  readonly #onProgress?: (done: number, total: number) => void;
  readonly #buffer = new Uint8Array(ChunkedSink.CHUNK);
  #filled = 0;
  #position = 0;

  constructor(
    file: Deno.FsFile,
    total: number,
    onProgress?: (done: number, total: number) => void,
  ) {
    this.#file = file;
    this.#total = total;
    this.#onProgress = onProgress;
  }

  /** Bytes accepted so far. */
  get position(): number {
    return this.#position;
  }

  async write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) {
      const n = Math.min(bytes.length - at, this.#buffer.length - this.#filled);
      this.#buffer.set(bytes.subarray(at, at + n), this.#filled);
      this.#filled += n;
      this.#position += n;
      at += n;
      if (this.#filled === this.#buffer.length) await this.flush();
    }
  }

  async zeros(n: number): Promise<void> {
    if (n > 0) await this.write(new Uint8Array(n));
  }

  async flush(): Promise<void> {
    let at = 0;
    while (at < this.#filled) at += await this.#file.write(this.#buffer.subarray(at, this.#filled));
    this.#filled = 0;
    this.#onProgress?.(this.#position, this.#total);
  }
}
