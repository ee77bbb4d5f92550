/**
 * Finds the model folder: the `--model` value, else the `LLAMA_MODEL` environment variable,
 * else the folders Meta's download tool and the seed project use. A folder counts when it
 * holds `consolidated.00.pth` (Meta's format) or `config.json` with `model.safetensors` or
 * `model.safetensors.index.json` (a Hugging Face folder).
 *
 * @example
 * ```ts
 * import { locateModelDir } from "./locate.ts";
 *
 * const dir = locateModelDir(); // e.g. "/home/me/.llama/checkpoints/Llama3.1-8B-Instruct"
 * ```
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { CheckpointError, UsageError } from "../errors.ts";
import { isFile, statOrUndefined } from "../files.ts";
import { isGgufPath } from "../model/gguf_checkpoint.ts";
import { isHuggingFaceFolder } from "../model/hf_checkpoint.ts";

/** Where `llama model download --source meta --model-id Llama3.1-8B-Instruct` puts the files. */
export const META_CHECKPOINT_DIR = join(".llama", "checkpoints", "Llama3.1-8B-Instruct");
/** Where the seed project (llama-nuts-and-bolts) keeps them, relative to the working folder. */
export const SEED_CHECKPOINT_DIR = join("models-original", "Meta-Llama-3.1-8B-Instruct");

/** Overrides of the process environment, for tests. */
export interface LocateOptions {
  /** Reads an environment variable (default `Deno.env.get`). */
  env?: (name: string) => string | undefined;
  /** The home folder (default `$HOME`, or `%USERPROFILE%` on Windows). */
  home?: string;
  /** The working folder (default `Deno.cwd()`). */
  cwd?: string;
}

/**
 * Returns the model folder to load.
 *
 * An explicit choice (`explicit`, else `LLAMA_MODEL`) is the only place searched: a typo there
 * is an error, not a silent fall-back to another model. Without one, the first of
 * `~/.llama/checkpoints/Llama3.1-8B-Instruct/` and `./models-original/Meta-Llama-3.1-8B-Instruct/`
 * that holds `consolidated.00.pth` wins. A leading `~/` is expanded; a path to the
 * `consolidated.00.pth` file itself (or to a `.safetensors` file or the shard index) stands for
 * its folder.
 *
 * @param explicit The `--model` value, if given.
 * @param options Environment overrides (tests).
 * @returns The absolute path of the folder.
 * @throws {CheckpointError} Listing the places searched and how to download the weights.
 */
export function locateModelDir(explicit?: string, options: LocateOptions = {}): string {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const home = options.home ?? env("HOME") ?? env("USERPROFILE");
  const cwd = options.cwd ?? Deno.cwd();
  const expand = (path: string): string => {
    if (home !== undefined && (path === "~" || path.startsWith("~/"))) {
      path = join(home, path.slice(1));
    }
    path = resolve(cwd, path);
    const weightsFile = path.endsWith(".pth") || path.endsWith(".safetensors") ||
      path.endsWith(".safetensors.index.json");
    return weightsFile && isFile(path) ? dirname(path) : path; // a .gguf file is the model itself
  };

  const candidates: Array<{ dir: string; why: string }> = [];
  const fromEnv = env("LLAMA_MODEL");
  if (explicit === "") {
    // An empty --model is a mistake (an unset shell variable), not a wish for the defaults.
    throw new UsageError("--model: expected a model folder, found an empty value", {
      fix: "pass --model <folder>, or leave --model out to search the default folders",
    });
  }
  if (explicit !== undefined) {
    candidates.push({ dir: expand(explicit), why: "--model" });
  } else if (fromEnv !== undefined && fromEnv !== "") {
    candidates.push({ dir: expand(fromEnv), why: "LLAMA_MODEL" });
  } else {
    if (home !== undefined) {
      candidates.push({ dir: join(home, META_CHECKPOINT_DIR), why: "Meta's download folder" });
    }
    candidates.push({ dir: resolve(cwd, SEED_CHECKPOINT_DIR), why: "the seed project's folder" });
  }

  for (const { dir, why } of candidates) {
    if (isGgufPath(dir) && isFile(dir)) return dir;
    // Something that is not a folder (a file, /dev/null) is named as such; looking inside it
    // would fail with a confusing permission message.
    const info = statOrUndefined(dir);
    if (info !== undefined && !info.isDirectory && (why === "--model" || why === "LLAMA_MODEL")) {
      const kind = info.isFile ? "a file" : "a device or other special file";
      throw new CheckpointError(`${why}: expected a model folder, found ${kind}`, {
        path: dir,
        fix: "pass the folder holding params.json and consolidated.00.pth (or config.json " +
          "and model.safetensors)",
      });
    }
    if (isFile(join(dir, "consolidated.00.pth")) || isHuggingFaceFolder(dir)) return dir;
  }
  const searched = candidates.map(({ dir, why }) => `    ${dir} (${why})`).join("\n");
  throw new CheckpointError(
    "expected a model folder holding consolidated.00.pth (Meta's) or config.json and " +
      `model.safetensors (Hugging Face's), or a .gguf file, found none; searched:\n${searched}`,
    {
      fix: "download the weights with Meta's tool: `pip install llama-stack` then `llama " +
        "model download --source meta --model-id Llama3.1-8B-Instruct` (it puts them in " +
        "~/.llama/checkpoints/Llama3.1-8B-Instruct/), or pass --model <folder> / set " +
        "LLAMA_MODEL; a Hugging Face model folder (e.g. meta-llama/Llama-3.2-1B-Instruct) " +
        "works too",
    },
  );
}
