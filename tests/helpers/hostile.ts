/**
 * Small hand-built inputs for the hostile-input tests: a pickle assembler that writes opcodes
 * byte by byte (so a test can build what no honest writer would), and a `.pth` archive around
 * such a pickle, made with our zip writer.
 *
 * @example
 * ```ts
 * import { Pickle, pthArchive } from "./hostile.ts";
 *
 * const pickle = new Pickle().proto().emptyDict().stop().bytes();
 * const pth = await pthArchive(pickle, {});
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { ZipWriter } from "../../lib/formats/zip_writer.ts";

const encoder = new TextEncoder();

/** Writes pickle opcodes one by one. */
export class Pickle {
  #parts: number[] = [];

  /** Raw bytes. */
  raw(...bytes: number[]): this {
    for (const b of bytes) this.#parts.push(b);
    return this;
  }
  /** Raw bytes from an array (for long runs, which a spread would not pass). */
  rawBytes(bytes: Uint8Array): this {
    for (const b of bytes) this.#parts.push(b);
    return this;
  }
  /** PROTO 2. */
  proto(): this {
    return this.raw(0x80, 2);
  }
  /** One-byte opcode by its character, e.g. `op("(")` for MARK. */
  op(char: string): this {
    return this.raw(char.charCodeAt(0));
  }
  /** SHORT_BINUNICODE. */
  str(text: string): this {
    const bytes = encoder.encode(text);
    if (bytes.length > 255) return this.raw(0x58, ...u32(bytes.length), ...bytes); // BINUNICODE
    return this.raw(0x8c, bytes.length, ...bytes);
  }
  /** BININT1 or BININT. */
  int(n: number): this {
    return n >= 0 && n < 256 ? this.raw(0x4b, n) : this.raw(0x4a, ...u32(n >>> 0));
  }
  /** GLOBAL module\nname\n. */
  global(module: string, name: string): this {
    return this.raw(0x63, ...encoder.encode(`${module}\n${name}\n`));
  }
  emptyDict(): this {
    return this.op("}");
  }
  mark(): this {
    return this.op("(");
  }
  tuple(): this {
    return this.op("t");
  }
  /** A torch persistent id for storage `key` of `numel` elements, then BINPERSID. */
  storage(key: string, numel: number, cls = "FloatStorage"): this {
    return this.mark().str("storage").global("torch", cls).str(key).str("cpu").int(numel)
      .tuple().op("Q");
  }
  /** `_rebuild_tensor_v2(<storage on the stack>, 0, (n,), (1,), False, OrderedDict())`. */
  rebuildTensor(
    key: string,
    n: number,
    afterStorage?: (p: Pickle) => void,
    cls = "FloatStorage",
  ): this {
    this.global("torch._utils", "_rebuild_tensor_v2").mark().storage(key, n, cls);
    afterStorage?.(this);
    return this.int(0).mark().int(n).tuple().mark().int(1).tuple().op("\x89")
      .global("collections", "OrderedDict").op(")").op("R").tuple().op("R");
  }
  stop(): this {
    return this.op(".");
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.#parts);
  }
}

function u32(n: number): number[] {
  return [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24];
}

/**
 * A torch.save-style archive: `archive/data.pkl` and `archive/data/<key>` entries.
 *
 * @param pickle The data.pkl bytes.
 * @param storages Storage bytes by key.
 * @returns The archive's bytes.
 */
export async function pthArchive(
  pickle: Uint8Array,
  storages: Record<string, Uint8Array>,
): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "llama-bolts-hostile-" });
  try {
    const path = join(dir, "x.pth");
    const zip = await ZipWriter.create(path);
    await zip.addEntry("archive/data.pkl", pickle);
    for (const [key, data] of Object.entries(storages)) {
      await zip.addEntry(`archive/data/${key}`, data);
    }
    await zip.close();
    return await Deno.readFile(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
