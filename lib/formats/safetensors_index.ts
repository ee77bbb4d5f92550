/**
 * The index of a sharded safetensors model, `model.safetensors.index.json`: which shard file
 * holds each tensor.
 *
 * ```json
 * { "metadata": { "total_size": 16060522496 },
 *   "weight_map": { "lm_head.weight": "model-00004-of-00004.safetensors",
 *                   "model.embed_tokens.weight": "model-00001-of-00004.safetensors", ... } }
 * ```
 *
 * {@linkcode parseSafetensorsIndex} checks the JSON; {@linkcode shardPaths} checks that every
 * listed shard is in the folder; {@linkcode checkShardContents} checks, once the shards'
 * headers are read, that each tensor is where the index says.
 *
 * @example
 * ```ts
 * import { parseSafetensorsIndex, shardPaths } from "./safetensors_index.ts";
 *
 * const path = "/models/Llama-3.1-8B-Instruct/model.safetensors.index.json";
 * const index = parseSafetensorsIndex(Deno.readTextFileSync(path), path);
 * shardPaths("/models/Llama-3.1-8B-Instruct", index); // four absolute paths, in index order
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { CheckpointError } from "../errors.ts";
import { briefValue, excerpt } from "./excerpt.ts";
import { parseJsonWithLimits } from "./json_limits.ts";
import type { SafetensorsHeader } from "./safetensors.ts";

/** The index's file name in a Hugging Face model folder. */
export const SAFETENSORS_INDEX_FILE = "model.safetensors.index.json";

/** A parsed `model.safetensors.index.json`. */
export interface SafetensorsIndex {
  /** The index file, for messages. */
  readonly path: string;
  /** Its `metadata` object (e.g. `total_size`), or an empty object. */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Tensor name → shard file name. */
  readonly weightMap: ReadonlyMap<string, string>;
  /** The distinct shard file names, in order of first appearance in `weight_map`. */
  readonly shards: readonly string[];
}

const FIX = "download the model folder again: its model.safetensors.index.json is damaged";

/**
 * Parses an index file.
 *
 * @param json The file's text.
 * @param path The file's path, for messages.
 * @returns The index.
 * @throws {CheckpointError} When the text is not JSON, `weight_map` is missing or not an object
 * of file names, or a shard name is not a plain `.safetensors` file name in the same folder.
 */
export function parseSafetensorsIndex(json: string, path: string): SafetensorsIndex {
  const fail = (message: string): never => {
    throw new CheckpointError(message, { path, fix: FIX });
  };
  const result = parseJsonWithLimits(json);
  if ("error" in result) fail(result.error);
  const parsed = (result as { value: unknown }).value;
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    fail("expected a JSON object with a weight_map");
  }
  const { metadata, weight_map: weightMap } = parsed as Record<string, unknown>;
  if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
    fail(
      `expected "weight_map" to be an object of tensor name to shard file, found ${
        weightMap === undefined ? "no such key" : briefValue(weightMap)
      }`,
    );
  }
  const map = new Map<string, string>();
  const shards: string[] = [];
  const seenShards = new Set<string>();
  for (const [name, file] of Object.entries(weightMap as Record<string, unknown>)) {
    if (
      typeof file !== "string" || !file.endsWith(".safetensors") || file.includes("/") ||
      file.includes("\\") || file.startsWith(".")
    ) {
      fail(
        `expected "weight_map".${excerpt(name)} to be a .safetensors file name in the same ` +
          `folder, found ${briefValue(file)}`,
      );
    }
    map.set(name, file as string);
    if (!seenShards.has(file as string)) {
      seenShards.add(file as string);
      shards.push(file as string);
    }
  }
  if (shards.length === 0) fail(`expected "weight_map" to list tensors, found it empty`);
  const meta = typeof metadata === "object" && metadata !== null && !Array.isArray(metadata)
    ? { ...(metadata as Record<string, unknown>) }
    : {};
  return Object.freeze({ path, metadata: Object.freeze(meta), weightMap: map, shards });
}

/**
 * The absolute path of every shard the index lists, checking that each is there.
 *
 * @param dir The model folder.
 * @param index Its parsed index.
 * @returns One path per shard, in `index.shards` order.
 * @throws {CheckpointError} Naming the first listed shard that is not a file in `dir`.
 */
export function shardPaths(dir: string, index: SafetensorsIndex): string[] {
  return index.shards.map((shard) => {
    const path = join(dir, shard);
    let isFile = false;
    try {
      isFile = Deno.statSync(path).isFile;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (!isFile) {
      const count = index.shards.length;
      throw new CheckpointError(
        `expected shard ${shard} (listed in ${SAFETENSORS_INDEX_FILE}, one of ${count}), ` +
          "found no such file",
        {
          path,
          fix: `download all ${count} shards of the model into ${dir} ` +
            "(an interrupted download leaves some out)",
        },
      );
    }
    return path;
  });
}

/**
 * Checks the shards' tensors against the index: each listed tensor is in its shard, and no
 * tensor is in two shards.
 *
 * @param index The parsed index.
 * @param headers Each shard's header, by shard file name.
 * @throws {CheckpointError} Naming the tensor and the shards.
 */
export function checkShardContents(
  index: SafetensorsIndex,
  headers: ReadonlyMap<string, SafetensorsHeader>,
): void {
  const seen = new Map<string, string>();
  for (const [shard, header] of headers) {
    for (const name of header.tensors.keys()) {
      const first = seen.get(name);
      if (first !== undefined) {
        throw new CheckpointError(
          `tensor ${excerpt(name)} is in two shards, ${first} and ${shard}`,
          {
            path: header.path,
            fix: FIX,
          },
        );
      }
      seen.set(name, shard);
    }
  }
  for (const [name, shard] of index.weightMap) {
    if (!headers.get(shard)?.tensors.has(name)) {
      const found = seen.get(name);
      throw new CheckpointError(
        `expected tensor ${excerpt(name)} in ${shard}, as ${SAFETENSORS_INDEX_FILE} says, found ${
          found === undefined ? "it in no shard" : `it in ${found}`
        }`,
        { path: index.path, fix: FIX },
      );
    }
  }
}
