/**
 * The demo model's compact file, and its expansion into Meta's model folder.
 *
 * The small model trained by `tools/train_demo_model.py` has the real 128,256-row vocabulary
 * matrices, but only the ~34k rows of tokens that occur in its corpus were trained. The
 * compact file (a safetensors file, bf16) keeps those rows (`tok_embeddings.rows`,
 * `output.rows`), one shared row for every other token (`tok_embeddings.unseen`,
 * `output.unseen`) and every other weight under Meta's name; its metadata holds `params.json`
 * (`params`), the ids of the kept rows in order (`row_ids`, a JSON array) and how it was
 * trained (`training`). {@linkcode expandCompactModel} scatters the rows back and writes
 * `consolidated.00.pth` and `params.json` exactly as Meta's folders have them, so the engine
 * runs it like any Llama 3 checkpoint.
 *
 * @example
 * ```ts
 * import { expandCompactModel, readCompactModel } from "./compact_model.ts";
 *
 * const compact = readCompactModel("assets/demo_model/weights.safetensors");
 * await expandCompactModel(compact, "/tmp/demo-model");
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { CheckpointError } from "../errors.ts";
import { readSafetensors, type SafetensorsTensor } from "../formats/safetensors.ts";
import { type InMemoryTensor, writePth } from "../formats/pth_writer.ts";
import { PARAMS_FILE, WEIGHTS_FILE } from "./checkpoint.ts";
import { parseModelConfig } from "./config.ts";
import type { ParamsJson } from "./synthetic.ts";

/** Names of the compact file's vocabulary tensors. */
const ROWS = { tok: "tok_embeddings.rows", out: "output.rows" } as const;
const UNSEEN = { tok: "tok_embeddings.unseen", out: "output.unseen" } as const;

/** A compact demo model, read into memory. */
export interface CompactModel {
  /** The file it was read from. */
  readonly path: string;
  /** Meta's `params.json`. */
  readonly params: ParamsJson;
  /** Token ids whose rows were trained, ascending. */
  readonly rowIds: readonly number[];
  /** How it was trained (the training script's summary), parsed. */
  readonly training: Readonly<Record<string, unknown>>;
  /** The file's bytes. */
  readonly bytes: Uint8Array;
  /** Its tensors. */
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
}

/**
 * Reads and checks a compact demo model file.
 *
 * @param path The `.safetensors` file.
 * @returns Its parameters, row ids and tensors.
 * @throws {CheckpointError} When the file is not a compact demo model.
 */
export function readCompactModel(path: string): CompactModel {
  const bytes = Deno.readFileSync(path);
  const header = readSafetensors(bytes, path);
  const fail = (what: string): never => {
    throw new CheckpointError(`not a compact demo model: ${what}`, {
      path,
      fix: "write it again with tools/train_demo_model.py",
    });
  };
  const meta = header.metadata;
  if (!meta.params || !meta.row_ids) fail("its metadata has no params or row_ids");
  const params = JSON.parse(meta.params) as ParamsJson;
  const config = parseModelConfig(meta.params, `${path} (metadata params)`);
  const rowIds = JSON.parse(meta.row_ids) as number[];
  for (let i = 0; i < rowIds.length; i++) {
    const id = rowIds[i];
    if (
      !Number.isInteger(id) || id < 0 || id >= config.vocabSize || (i > 0 && id <= rowIds[i - 1])
    ) {
      fail(`row_ids[${i}] = ${id} is not an ascending token id below ${config.vocabSize}`);
    }
  }
  for (const name of [...Object.values(ROWS), ...Object.values(UNSEEN)]) {
    const t = header.tensors.get(name);
    if (!t) fail(`it has no tensor ${name}`);
    const want = name.endsWith(".rows") ? [rowIds.length, config.dim] : [config.dim];
    if (t!.type !== "bf16" || t!.shape.join() !== want.join()) {
      fail(`${name} should be bf16 [${want}], found ${t!.type} [${t!.shape}]`);
    }
  }
  return {
    path,
    params,
    rowIds,
    training: meta.training ? JSON.parse(meta.training) : {},
    bytes,
    tensors: header.tensors,
  };
}

/**
 * Writes Meta's model folder for a compact model: `consolidated.00.pth` (bf16, Meta's tensor
 * names, the full 128,256-row `tok_embeddings.weight` and `output.weight`) and `params.json`.
 * Each file is written under a temporary name and renamed, so a folder never holds half a
 * file.
 *
 * @param compact The compact model.
 * @param dir The folder (created if missing; existing files are replaced).
 * @returns The path of `consolidated.00.pth`.
 */
export async function expandCompactModel(compact: CompactModel, dir: string): Promise<string> {
  const { dim, vocab_size: vocab } = compact.params;
  const slice = (name: string) => {
    const t = compact.tensors.get(name)!;
    return compact.bytes.subarray(t.byteOffset, t.byteOffset + t.byteLength);
  };
  const rowBytes = dim * 2;
  const full = (rows: string, unseen: string): Uint8Array => {
    const out = new Uint8Array(vocab * rowBytes);
    const unseenRow = slice(unseen);
    for (let id = 0; id < vocab; id++) out.set(unseenRow, id * rowBytes);
    const kept = slice(rows);
    compact.rowIds.forEach((id, i) => {
      out.set(kept.subarray(i * rowBytes, (i + 1) * rowBytes), id * rowBytes);
    });
    return out;
  };
  const tensors: InMemoryTensor[] = [];
  const vocabShape = [vocab, dim];
  tensors.push({
    name: "tok_embeddings.weight",
    dtype: "bf16",
    shape: vocabShape,
    data: full(ROWS.tok, UNSEEN.tok),
  });
  for (const [name, t] of compact.tensors) {
    if (name.endsWith(".rows") || name.endsWith(".unseen")) continue;
    tensors.push({ name, dtype: "bf16", shape: t.shape, data: copy(slice(name)) });
  }
  tensors.push({
    name: "output.weight",
    dtype: "bf16",
    shape: vocabShape,
    data: full(ROWS.out, UNSEEN.out),
  });

  await Deno.mkdir(dir, { recursive: true });
  const suffix = `.${Deno.pid}.${crypto.randomUUID()}.tmp`;
  const weights = join(dir, WEIGHTS_FILE);
  await writePth(weights + suffix, tensors, { archiveName: "consolidated", container: "dict" });
  await Deno.rename(weights + suffix, weights);
  const params = join(dir, PARAMS_FILE);
  await Deno.writeTextFile(params + suffix, JSON.stringify(compact.params, null, 2) + "\n");
  await Deno.rename(params + suffix, params);
  return weights;
}

/** A copy that owns its buffer (the writer reads `data.buffer` with its offset). */
function copy(bytes: Uint8Array): Uint8Array {
  return bytes.slice();
}
