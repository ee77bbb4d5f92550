/**
 * `llama make-model`: writes a random-weight model folder with the exact shape
 * of Llama 3.2 1B, Llama 3.1 8B or a tiny test model, for benchmarks and demos
 * without Meta's weights. Progress (percent, MB/s, time left) goes to stderr,
 * redrawn in place on a terminal.
 *
 * Runs on its own too:
 * `deno run -A lib/cli/make_model.ts --preset 1b --out /tmp/model-1b`.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { statfs } from "node:fs/promises";
import { LlamaError, UsageError } from "../errors.ts";
import { PARAMS_FILE, WEIGHTS_FILE } from "../model/checkpoint.ts";
import { isFile, pathExists } from "../files.ts";
import {
  type PresetName,
  PRESETS,
  syntheticTensors,
  writeSyntheticModel,
} from "../model/synthetic.ts";
import { type FloatStorageType, storageBytes } from "../tensor/storage.ts";
import { numberFlag, parseCommandArgs } from "./options.ts";
import { gigabytes, megabytesPerSecond, Progress } from "./progress.ts";
import { writeErr } from "./terminal.ts";

/** The `--help` text of `make-model`. */
export const MAKE_MODEL_HELP: string =
  `Usage: llama make-model --preset 1b|8b|tiny --out DIR [--seed N] [--dtype bf16|f16|f32]
                        [--tokenizer PATH] [--force]

Writes a model folder in Meta's format (params.json, consolidated.00.pth) with
random weights and the exact shape of a real model, streaming, so even the
16 GB 8B model needs little memory. Random weights write meaningless text, but
every step of inference costs what it costs on the real model: use it to
benchmark, or to try the program before downloading Meta's weights.

Options:
  --preset NAME      1b    ${PRESETS["1b"].description}
                     8b    ${PRESETS["8b"].description}
                     tiny  ${PRESETS.tiny.description}
  --out DIR          folder to write (created if missing)
  --seed N           random seed (default 0); the same seed writes the same bytes
  --dtype T          weight type: bf16 (default, as Meta ships), f16 or f32
  --tokenizer PATH   hard-link (or copy) this tokenizer.model into the folder
  --force            replace an existing consolidated.00.pth
  -h, --help         this text

Examples:
  llama make-model --preset 1b --out /tmp/model-1b
  llama make-model --preset tiny --out /tmp/llama-tiny \\
    --tokenizer ~/.llama/checkpoints/Llama3.1-8B-Instruct/tokenizer.model
  deno run -A lib/cli/make_model.ts --preset 8b --out /tmp/model-8b --seed 7
`;

const DTYPES: readonly FloatStorageType[] = ["bf16", "f16", "f32"];

/**
 * Runs `make-model` with its arguments (without the command name).
 *
 * @param args Command-line arguments, e.g. `["--preset", "1b", "--out", "/tmp/m"]`.
 * @returns The process exit code: 0 done, 2 bad usage, 1 other errors.
 */
export async function runMakeModel(args: string[]): Promise<number> {
  try {
    const { values, positionals } = parseCommandArgs("make-model", args, {
      preset: { type: "string" },
      out: { type: "string" },
      seed: { type: "string" },
      dtype: { type: "string" },
      tokenizer: { type: "string" },
      force: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) {
      writeErr(MAKE_MODEL_HELP);
      return 0;
    }
    if (positionals.length > 0) {
      throw new UsageError(`make-model: unexpected argument '${positionals[0]}'`);
    }
    const presetName = String(values.preset ?? "");
    if (!Object.hasOwn(PRESETS, presetName)) {
      throw new UsageError(
        `--preset: expected 1b, 8b or tiny, got '${presetName}' (see 'llama make-model --help')`,
      );
    }
    const preset = PRESETS[presetName as PresetName];
    if (typeof values.out !== "string" || values.out === "") {
      throw new UsageError("make-model: --out DIR is required (see 'llama make-model --help')");
    }
    const dir = resolve(values.out);
    const seed = numberFlag("seed", values.seed, {
      min: 0,
      max: Number.MAX_SAFE_INTEGER,
      integer: true,
    }) ?? 0;
    const dtype = (values.dtype ?? "bf16") as FloatStorageType;
    if (!DTYPES.includes(dtype)) {
      throw new UsageError(`--dtype: expected bf16, f16 or f32, got '${values.dtype}'`);
    }
    const tokenizerPath = typeof values.tokenizer === "string" ? values.tokenizer : undefined;
    if (tokenizerPath !== undefined && !isFile(tokenizerPath)) {
      throw new UsageError(
        `--tokenizer: expected a tokenizer.model file, found none at ${tokenizerPath}`,
      );
    }
    const weightsPath = join(dir, WEIGHTS_FILE);
    if (!values.force && pathExists(weightsPath)) {
      throw new UsageError(`${weightsPath} already exists; pass --force to replace it`);
    }

    const tensors = syntheticTensors(preset.params, preset.tied, dtype);
    const parameters = tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
    const bytes = storageBytes(dtype, parameters);
    await checkFreeSpace(dir, bytes);

    writeErr(
      `writing ${presetName} (${(parameters / 1e9).toFixed(2)}B parameters, ${dtype}, ` +
        `seed ${seed}) to ${dir}\n`,
    );
    const progress = new Progress(Deno.stderr.isTerminal());
    const result = await writeSyntheticModel(dir, preset.params, {
      seed,
      dtype,
      tied: preset.tied,
      tokenizerPath,
      overwrite: Boolean(values.force),
      onProgress: (done, total) => progress.update(done, total),
    });
    const seconds = progress.finish();
    const files = [PARAMS_FILE, `${WEIGHTS_FILE} (${gigabytes(result.fileBytes)})`];
    if (tokenizerPath !== undefined) files.push("tokenizer.model");
    writeErr(
      `wrote ${files.join(", ")} in ${seconds.toFixed(1)} s ` +
        `(${megabytesPerSecond(result.fileBytes, seconds)})\n`,
    );
    return 0;
  } catch (error) {
    if (error instanceof LlamaError) {
      writeErr(`${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotFound) {
      writeErr(`make-model: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

/**
 * Refuses to start a write that cannot fit. Skipped when free space cannot be
 * read, e.g. without `--allow-sys` (then a full disk fails the write instead).
 */
async function checkFreeSpace(dir: string, bytes: number): Promise<void> {
  let probe = dir;
  while (!pathExists(probe) && dirname(probe) !== probe) probe = dirname(probe);
  // Only ask when allowed (--allow-sys): never make Deno prompt for it.
  if (Deno.permissions.querySync({ name: "sys", kind: "statfs" }).state !== "granted") return;
  let free: number;
  try {
    const fs = await statfs(probe);
    free = Number(fs.bavail) * Number(fs.bsize);
  } catch {
    return; // unknown: let the write tell
  }
  const needed = bytes + (1 << 20);
  if (free < needed) {
    throw new UsageError(
      `make-model: not enough free space in ${probe}: need ${gigabytes(needed)}, ` +
        `${gigabytes(free)} free`,
    );
  }
}

if (import.meta.main) {
  Deno.exit(await runMakeModel(Deno.args));
}
