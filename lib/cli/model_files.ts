/**
 * Opening what a command needs from the model folder: the checkpoint and the
 * tokenizer, found with {@linkcode locateModelDir}. A folder is read as Meta's
 * format when it holds `consolidated.00.pth`, else as a Hugging Face folder
 * (`config.json`, safetensors, `tokenizer.json`) when it is one; a `.gguf` file
 * holds both the weights and the tokenizer.
 *
 * @module
 */

import { join } from "node:path";
import { isFile } from "../files.ts";
import { type Checkpoint, loadCheckpoint, WEIGHTS_FILE } from "../model/checkpoint.ts";
import { isHuggingFaceFolder, loadHuggingFaceCheckpoint } from "../model/hf_checkpoint.ts";
import { HF_CONFIG_FILE } from "../model/hf_config.ts";
import { HF_TOKENIZER_FILE, loadHuggingFaceTokenizer } from "../tokenizer/hf_tokenizer.ts";
import { locateModelDir } from "./locate.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { type GgufCheckpoint, isGgufPath, loadGgufCheckpoint } from "../model/gguf_checkpoint.ts";
import { type ChatTemplateKind, ggufTokenizer } from "../tokenizer/gguf_tokenizer.ts";
import { readGguf } from "../formats/gguf.ts";
import { WeightsMemory } from "../tensor/weights_memory.ts";

/** The tokenizer file name in Meta's checkpoint folder. */
export const TOKENIZER_FILE = "tokenizer.model";

/** A model folder's tokenizer and, when the folder says, the ids that end a generation. */
export interface ModelTokenizer {
  /** The tokenizer. */
  readonly tokenizer: Tokenizer;
  /** Stop ids from `generation_config.json`; `undefined`: Llama 3.1's defaults. */
  readonly stopTokens: readonly number[] | undefined;
  /** A GGUF file's chat template kind; absent for folders (always Llama 3's format). */
  readonly chatTemplate?: ChatTemplateKind;
}

/** Resolves the model folder from `--model` or the default places. */
export function modelDir(flag: string | boolean | undefined): string {
  return locateModelDir(typeof flag === "string" ? flag : undefined);
}

/** Loads the tokenizer of a model folder (`tokenizer.model`, or `tokenizer.json`) or GGUF file. */
export function openTokenizer(dir: string): Tokenizer {
  return openModelTokenizer(dir).tokenizer;
}

/**
 * Loads a model folder's tokenizer: `tokenizer.json` and its side files in a Hugging Face
 * folder that has one, else `tokenizer.model`.
 *
 * @param dir The model folder, or a `.gguf` file.
 * @param checkpoint The open checkpoint of `dir`, if there is one (a GGUF file's header is then
 *   not read twice).
 * @returns The tokenizer and its stop ids.
 */
export function openModelTokenizer(dir: string, checkpoint?: Checkpoint): ModelTokenizer {
  if (isGgufPath(dir)) {
    const gguf = checkpoint !== undefined && "gguf" in checkpoint
      ? (checkpoint as GgufCheckpoint).gguf
      : readGgufHeader(dir);
    const { tokenizer, stopIds, chatTemplate } = ggufTokenizer(gguf, dir);
    return { tokenizer, stopTokens: stopIds, chatTemplate };
  }
  if (isHuggingFaceModel(dir) && isFile(join(dir, HF_TOKENIZER_FILE))) {
    const { tokenizer, stopIds } = loadHuggingFaceTokenizer(dir, configEosTokenId(dir));
    return { tokenizer, stopTokens: stopIds };
  }
  return { tokenizer: Tokenizer.load(join(dir, TOKENIZER_FILE)), stopTokens: undefined };
}

/** Maps the checkpoint of a model folder, Meta's or Hugging Face's. */
export function openCheckpoint(dir: string): Checkpoint {
  if (isGgufPath(dir)) return loadGgufCheckpoint(dir);
  return isHuggingFaceModel(dir) ? loadHuggingFaceCheckpoint(dir) : loadCheckpoint(dir);
}

/** A GGUF file's header alone (mapped, parsed, unmapped: the parse copies what it keeps). */
function readGgufHeader(path: string) {
  using weights = WeightsMemory.open([path]);
  return readGguf(weights.files[0].bytes, path);
}

/** A Hugging Face folder without Meta's weights beside it (those win). */
function isHuggingFaceModel(dir: string): boolean {
  return !isFile(join(dir, WEIGHTS_FILE)) && isHuggingFaceFolder(dir);
}

/** `config.json`'s `eos_token_id`, if it can be read (the checkpoint loader checks the file). */
function configEosTokenId(dir: string): unknown {
  try {
    return JSON.parse(Deno.readTextFileSync(join(dir, HF_CONFIG_FILE)))?.eos_token_id;
  } catch {
    return undefined;
  }
}
