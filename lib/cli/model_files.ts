/**
 * Opening what a command needs from the model folder: the checkpoint and the
 * tokenizer, found with {@linkcode locateModelDir}.
 *
 * @module
 */

import { join } from "node:path";
import { type Checkpoint, loadCheckpoint } from "../model/checkpoint.ts";
import { locateModelDir } from "./locate.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";

/** The tokenizer file name in Meta's checkpoint folder. */
export const TOKENIZER_FILE = "tokenizer.model";

/** Resolves the model folder from `--model` or the default places. */
export function modelDir(flag: string | boolean | undefined): string {
  return locateModelDir(typeof flag === "string" ? flag : undefined);
}

/** Loads `tokenizer.model` from a model folder. */
export function openTokenizer(dir: string): Tokenizer {
  return Tokenizer.load(join(dir, TOKENIZER_FILE));
}

/** Maps the checkpoint of a model folder. */
export function openCheckpoint(dir: string): Checkpoint {
  return loadCheckpoint(dir);
}
