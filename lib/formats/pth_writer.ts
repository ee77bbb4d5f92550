/**
 * Writes `.pth` checkpoints the way `torch.save(state_dict, path)` does: a zip
 * archive (see {@link ZipWriter}) holding
 *
 * - `<archive>/data.pkl`: the state dict, pickled with protocol 2: a
 *   `collections.OrderedDict` (or a plain dict, as Meta's consolidated
 *   checkpoints have) mapping each name to
 *   `torch._utils._rebuild_tensor_v2(persistent_load(('storage',
 *   torch.BFloat16Storage, '<key>', 'cpu', numel)), 0, shape, stride, False,
 *   OrderedDict())`;
 * - `<archive>/byteorder`: `little` (torch 2.1 and later);
 * - `<archive>/data/<key>`: each tensor's raw little-endian elements, one
 *   storage per tensor, keys `0, 1, 2, …` in insertion order;
 * - `<archive>/version`: `3\n`, and `<archive>/.data/serialization_id`
 *   (torch 2.1 and later).
 *
 * Tensors are streamed: {@link PthWriter.addTensor} asks a callback to fill
 * one chunk (8 MiB by default) at a time, so an 8B-parameter checkpoint never
 * has to fit in memory. When the tensors are declared up front (the `plan`
 * option; {@link writePth} always does), the file has torch's exact entry
 * order: data.pkl, byteorder, data/0…N, version, .data/serialization_id.
 * Without a plan, data.pkl can only be written once every tensor is known, so
 * it comes after the storages; zip readers, torch.load included, find entries
 * through the central directory, so either order loads the same.
 *
 * @example
 * ```ts
 * import { writePth } from "./pth_writer.ts";
 * await writePth("/tmp/tiny.pth", [
 *   { name: "norm.weight", dtype: "f32", shape: [2], data: new Float32Array([1, 1]) },
 * ]);
 * ```
 *
 * @module
 */

import { checkDestination, forgetTemporary, temporaryPath, trackTemporary } from "./atomic_file.ts";
import { CheckpointError } from "../errors.ts";
import { type FloatStorageType, storageBytes } from "../tensor/storage.ts";
import {
  dumpPickle,
  type PickleValue,
  PyDict,
  PyGlobal,
  PyPersistentId,
  PyReduce,
  PyStr,
} from "./pickle_writer.ts";
import { type ZipEntrySink, ZipWriter } from "./zip_writer.ts";

/**
 * Fills `chunk` with the tensor's next elements, little-endian, starting at
 * element `elementOffset` (row-major). `chunk.byteOffset` is 8-byte aligned and
 * `chunk.length` is a whole number of elements, so it can be viewed as a
 * `Uint16Array` or `Float32Array` directly. The chunk buffer is reused.
 */
export type TensorFill = (chunk: Uint8Array, elementOffset: number) => void | Promise<void>;

/** Options for {@link PthWriter.create} and {@link writePth}. */
export interface PthWriterOptions {
  /**
   * The folder name all entries live in. Default: the file name without its
   * last extension, as torch names it (`model.pth` → `model`). Meta's
   * checkpoints use `consolidated`.
   */
  archiveName?: string;
  /** The pickled mapping: `"OrderedDict"` (a `state_dict()`, default) or `"dict"` (Meta's). */
  container?: "OrderedDict" | "dict";
  /** Write ZIP64 fields for every entry, even small ones (to test readers). */
  forceZip64?: boolean;
  /** Bytes per fill callback; rounded down to a multiple of 8. Default 8 MiB. */
  chunkBytes?: number;
  /**
   * Every tensor that will be added, in order. With a plan, data.pkl is
   * written first, as torch does, and each {@link PthWriter.addTensor} call
   * must match the next planned tensor.
   */
  plan?: readonly TensorSpec[];
  /**
   * Also write `byteorder` and `.data/serialization_id`, as torch 2.1 and later
   * do (default true). With `false` the archive holds only what torch 1.13
   * writes (data.pkl, data/…, version): given a plan, the file is then byte for
   * byte what torch 1.13's `torch.save` writes for the same contiguous tensors.
   */
  extraRecords?: boolean;
  /**
   * Write the storages in the order of their keys sorted as strings (`0, 1,
   * 10, 11, …, 2, …`), as torch before 2.5 does (Meta's checkpoints). Needs a
   * plan; then call {@link PthWriter.addTensor} in {@link PthWriter.writeOrder}.
   * Default false: insertion order, as torch 2.5 and later.
   */
  sortStorageKeys?: boolean;
}

/** A tensor's name, element type and shape. */
export interface TensorSpec {
  /** State-dict name, e.g. `"layers.0.attention.wq.weight"`. */
  readonly name: string;
  /** Element type. */
  readonly dtype: FloatStorageType;
  /** Shape, row-major. */
  readonly shape: readonly number[];
}

/** A tensor held in memory, for {@link writePth}. */
export interface InMemoryTensor extends TensorSpec {
  /** Exactly `product(shape)` elements: raw little-endian bytes or a typed array. */
  readonly data: Uint8Array | Uint16Array | Float32Array;
}

/** The storage class (in module `torch`) torch pickles for each dtype. */
const STORAGE_CLASS: Readonly<Record<FloatStorageType, string>> = {
  bf16: "BFloat16Storage",
  f16: "HalfStorage",
  f32: "FloatStorage",
};

const DEFAULT_CHUNK_BYTES = 8 << 20;
const encoder = new TextEncoder();

/** torch's archive name for a path: the base name without its last extension. */
function defaultArchiveName(path: string): string {
  const base = path.split(/[\\/]/).pop() ?? "";
  const dot = base.lastIndexOf(".");
  const name = dot > 0 ? base.slice(0, dot) : base;
  return name || "archive";
}

/** Orders strings by UTF-16 code units, as Python's `sorted` does for ASCII keys. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Row-major strides of a contiguous tensor. */
function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let step = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = step;
    step *= shape[i];
  }
  return strides;
}

/**
 * Builds data.pkl for the tensors: what CPython's pickler emits for torch's
 * `state_dict`, down to the memo (the strings `'storage'` and `'cpu'` and the
 * globals are shared objects in torch, so they are written once and then
 * referenced).
 */
function stateDictPickle(
  tensors: readonly TensorSpec[],
  container: "OrderedDict" | "dict",
): Uint8Array {
  const rebuild = new PyGlobal("torch._utils", "_rebuild_tensor_v2");
  const orderedDict = new PyGlobal("collections", "OrderedDict");
  const storageTag = new PyStr("storage");
  const cpu = new PyStr("cpu");
  const storageClass = new Map<FloatStorageType, PyGlobal>();
  const items = tensors.map((t, index): [PickleValue, PickleValue] => {
    // One global object per class: pickled once, then memo-referenced.
    let cls = storageClass.get(t.dtype);
    if (!cls) {
      cls = new PyGlobal("torch", STORAGE_CLASS[t.dtype]);
      storageClass.set(t.dtype, cls);
    }
    // torch numbers storages in the order the pickler meets them: 0, 1, 2, ...
    const key = String(index);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const storage = new PyPersistentId([storageTag, cls, key, cpu, numel]);
    const args: PickleValue[] = [
      storage,
      0, // storage offset
      [...t.shape],
      contiguousStrides(t.shape),
      false, // requires_grad
      new PyReduce(orderedDict, []), // backward hooks: an empty OrderedDict
    ];
    return [t.name, new PyReduce(rebuild, args)];
  });
  const root = container === "dict" ? new PyDict(items) : new PyReduce(orderedDict, [], items);
  return dumpPickle(root);
}

/** A 40-digit id of the same form as torch's `.data/serialization_id`. */
function serializationId(names: readonly string[], crcs: readonly number[]): string {
  // FNV-1a over the record names, then a rolling mix of the CRCs. torch's own
  // id uses c10::hash, which is not specified; readers only log this value.
  const mask = (1n << 64n) - 1n;
  let nameHash = 0xcbf29ce484222325n;
  for (const byte of encoder.encode(names.join("\n"))) {
    nameHash = ((nameHash ^ BigInt(byte)) * 0x100000001b3n) & mask;
  }
  let crcHash = 0n;
  for (const crc of crcs) {
    crcHash = (crcHash ^ (BigInt(crc) + 0x9e3779b97f4a7c15n + (crcHash << 6n) + (crcHash >> 2n))) &
      mask;
  }
  return nameHash.toString().padStart(20, "0") + crcHash.toString().padStart(20, "0");
}

/**
 * A `.pth` checkpoint being written; see the module documentation.
 *
 * @example
 * ```ts
 * import { PthWriter } from "./pth_writer.ts";
 * const pth = await PthWriter.create("/tmp/model.pth");
 * await pth.addTensor("norm.weight", "f32", [4], (chunk) => {
 *   new Float32Array(chunk.buffer, chunk.byteOffset, chunk.length / 4).fill(1);
 * });
 * await pth.close();
 * ```
 */
export class PthWriter {
  /** The file being written. */
  readonly path: string;
  readonly #tempPath: string;
  readonly #zip: ZipWriter;
  readonly #prefix: string;
  readonly #container: "OrderedDict" | "dict";
  readonly #chunkBytes: number;
  readonly #plan: readonly TensorSpec[] | null;
  /** Plan indices in the order the storages are written. */
  readonly #order: readonly number[];
  readonly #extraRecords: boolean;
  readonly #tensors: TensorSpec[] = [];
  readonly #names = new Set<string>();
  #busy = false;
  #done = false;

  private constructor(path: string, tempPath: string, zip: ZipWriter, options: PthWriterOptions) {
    this.path = path;
    this.#tempPath = tempPath;
    this.#zip = zip;
    this.#prefix = `${options.archiveName ?? defaultArchiveName(path)}/`;
    this.#container = options.container ?? "OrderedDict";
    const chunk = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.#chunkBytes = Math.max(8, Math.floor(chunk / 8) * 8);
    this.#plan = options.plan
      ? options.plan.map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape] }))
      : null;
    this.#extraRecords = options.extraRecords ?? true;
    const indices = (this.#plan ?? []).map((_, i) => i);
    this.#order = options.sortStorageKeys
      ? indices.sort((a, b) => cmp(String(a), String(b)))
      : indices;
  }

  /**
   * Starts writing a checkpoint. The data goes to a temporary beside `path`
   * ({@linkcode temporaryPath}), renamed to `path` by {@link PthWriter.close}, so
   * an interrupted run never leaves a file that looks complete (Ctrl+C removes
   * the temporary: it is tracked until renamed or removed).
   *
   * @param path Where the checkpoint will be.
   * @param options Archive name, container, plan, ZIP64 and chunk options.
   * @returns The writer.
   */
  static async create(path: string, options: PthWriterOptions = {}): Promise<PthWriter> {
    checkDestination(path, "the checkpoint");
    const tempPath = temporaryPath(path);
    trackTemporary(tempPath);
    let zip: ZipWriter;
    try {
      zip = await ZipWriter.create(tempPath, { forceZip64: options.forceZip64 });
    } catch (error) {
      forgetTemporary(tempPath);
      throw error;
    }
    const writer = new PthWriter(path, tempPath, zip, options);
    try {
      if (options.sortStorageKeys && !writer.#plan) {
        throw writer.#error("sortStorageKeys needs a plan of the tensors");
      }
      if (writer.#plan) {
        writer.#plan.forEach((t) => writer.#validate(t.name, t.dtype, t.shape));
        const names = new Set(writer.#plan.map((t) => t.name));
        if (names.size !== writer.#plan.length) throw writer.#error("the plan repeats a name");
        const pickle = stateDictPickle(writer.#plan, writer.#container);
        await zip.addEntry(`${writer.#prefix}data.pkl`, pickle);
      }
      if (writer.#extraRecords) {
        await zip.addEntry(`${writer.#prefix}byteorder`, encoder.encode("little"));
      }
    } catch (error) {
      await writer.abort();
      throw error;
    }
    return writer;
  }

  /** The planned tensors in the order {@link PthWriter.addTensor} must receive them. */
  get writeOrder(): TensorSpec[] {
    return this.#order.map((i) => this.#plan![i]);
  }

  /** Bytes written to the file so far. */
  get bytesWritten(): number {
    return this.#zip.position;
  }

  /**
   * Streams one tensor into the archive as its own storage. A name, dtype or
   * shape that breaks the plan is refused before anything is written (the
   * writer stays usable); a failure while writing, including a throwing `fill`,
   * aborts the writer and removes the partial file.
   *
   * @param name State-dict name; must be unique (and match the plan, if any).
   * @param dtype Element type.
   * @param shape Shape (non-negative integers), row-major contiguous.
   * @param fill Called once per chunk, in order, to produce the elements.
   * @returns The absolute file offset of the tensor's first element.
   */
  async addTensor(
    name: string,
    dtype: FloatStorageType,
    shape: readonly number[],
    fill: TensorFill,
  ): Promise<number> {
    if (this.#done) throw this.#error(`cannot add tensor ${name}: the writer is closed`);
    if (this.#busy) throw this.#error(`cannot add tensor ${name}: another tensor is being written`);
    this.#validate(name, dtype, shape);
    if (this.#names.has(name)) throw this.#error(`tensor ${name} was already written`);
    let key = String(this.#tensors.length);
    if (this.#plan) {
      const index = this.#order[this.#tensors.length];
      const next = this.#plan[index];
      key = String(index);
      const found = `${name} ${dtype} [${shape}]`;
      if (index === undefined) {
        throw this.#error(`expected no more tensors (the plan is done), found ${found}`);
      }
      const expected = `${next.name} ${next.dtype} [${next.shape}]`;
      if (expected !== found) throw this.#error(`expected tensor ${expected}, found ${found}`);
    }
    const elementBytes = storageBytes(dtype, 1);
    const byteLength = shape.reduce((a, b) => a * b, 1) * elementBytes;

    this.#busy = true;
    try {
      const sink = await this.#zip.beginEntry(`${this.#prefix}data/${key}`, byteLength);
      await this.#stream(sink, byteLength, elementBytes, fill);
      await sink.end();
      this.#names.add(name);
      this.#tensors.push({ name, dtype, shape: [...shape] });
      return sink.dataOffset;
    } catch (error) {
      // A half-written entry cannot be finished: give up on the whole file.
      await this.abort();
      throw error;
    } finally {
      this.#busy = false;
    }
  }

  /** Fills and writes chunks, two buffers in turn so filling overlaps writing. */
  async #stream(
    sink: ZipEntrySink,
    byteLength: number,
    elementBytes: number,
    fill: TensorFill,
  ): Promise<void> {
    const chunkBytes = Math.min(this.#chunkBytes, byteLength);
    if (chunkBytes === 0) return;
    const buffers = [new Uint8Array(chunkBytes), new Uint8Array(chunkBytes)];
    const pending: (Promise<void> | null)[] = [null, null];
    let turn = 0;
    try {
      for (let done = 0; done < byteLength; done += chunkBytes) {
        const n = Math.min(chunkBytes, byteLength - done);
        await pending[turn]; // this buffer's previous write must be finished
        const chunk = buffers[turn].subarray(0, n);
        await fill(chunk, done / elementBytes);
        const written = sink.write(chunk);
        written.catch(() => {}); // a failure is seen when awaited, never as "unhandled"
        pending[turn] = written;
        turn ^= 1;
      }
    } finally {
      // Never leave a write in flight, even when fill throws.
      await Promise.allSettled(pending);
    }
    await Promise.all(pending);
  }

  /**
   * Finishes the archive (data.pkl if there was no plan, version, serialization
   * id, central directory) and renames the file into place.
   */
  async close(): Promise<void> {
    if (this.#done) return;
    if (this.#busy) throw this.#error("cannot close while a tensor is being written");
    this.#done = true;
    try {
      const p = this.#prefix;
      if (this.#plan) {
        if (this.#tensors.length !== this.#plan.length) {
          const missing = this.writeOrder.slice(this.#tensors.length).map((t) => t.name);
          throw this.#error(`planned tensors were not written: ${missing.join(", ")}`);
        }
      } else {
        await this.#zip.addEntry(`${p}data.pkl`, stateDictPickle(this.#tensors, this.#container));
      }
      await this.#zip.addEntry(`${p}version`, encoder.encode("3\n"));
      if (this.#extraRecords) {
        const records = this.#zip.entries;
        const id = serializationId(records.map((r) => r.name), records.map((r) => r.crc));
        await this.#zip.addEntry(`${p}.data/serialization_id`, encoder.encode(id));
      }
      await this.#zip.close();
      await Deno.rename(this.#tempPath, this.path);
      forgetTemporary(this.#tempPath);
    } catch (error) {
      await this.abort();
      throw error;
    }
  }

  /** Stops writing and deletes the partial file. */
  async abort(): Promise<void> {
    this.#done = true;
    this.#zip.abort();
    try {
      await Deno.remove(this.#tempPath);
    } catch {
      // already gone
    }
    forgetTemporary(this.#tempPath);
  }

  #validate(name: string, dtype: FloatStorageType, shape: readonly number[]): void {
    if (!(["bf16", "f16", "f32"] as string[]).includes(dtype)) {
      throw this.#error(`tensor ${name}: expected dtype bf16, f16 or f32, found ${dtype}`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw this.#error(
        `tensor ${name}: expected a shape of non-negative integers, found [${shape}]`,
      );
    }
  }

  #error(message: string): CheckpointError {
    return new CheckpointError(`pth writer: ${message}`, { path: this.path });
  }
}

/**
 * Writes a small checkpoint whose tensors are already in memory, in torch's
 * exact entry order.
 *
 * @param path Where to write the `.pth` file.
 * @param tensors The tensors, in state-dict order.
 * @param options Archive name, container and ZIP64 options.
 */
export async function writePth(
  path: string,
  tensors: readonly InMemoryTensor[],
  options: Omit<PthWriterOptions, "plan"> = {},
): Promise<void> {
  for (const t of tensors) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.byteLength !== storageBytes(t.dtype, numel)) {
      throw new CheckpointError(
        `pth writer: tensor ${t.name} has shape [${t.shape}] (${numel} ${t.dtype} elements), ` +
          `but its data holds ${t.data.byteLength} bytes`,
        { path, fix: "pass exactly product(shape) elements" },
      );
    }
  }
  const writer = await PthWriter.create(path, { ...options, plan: tensors });
  const byName = new Map(tensors.map((t) => [t.name, t]));
  for (const { name } of writer.writeOrder) {
    const t = byName.get(name)!;
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const elementBytes = storageBytes(t.dtype, 1);
    await writer.addTensor(t.name, t.dtype, t.shape, (chunk, elementOffset) => {
      const start = elementOffset * elementBytes;
      chunk.set(bytes.subarray(start, start + chunk.length));
    });
  }
  await writer.close();
}
