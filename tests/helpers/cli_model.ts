/**
 * Fixtures for tests that run the `llama` program as a subprocess: two small model folders
 * with Meta's real tokenizer, and a runner that starts `main.ts` with the permissions of the
 * `llama` task in deno.json.
 *
 * - {@linkcode randomModelDir}: the `tiny` preset (2 layers, dim 64, real 128256-token
 *   vocabulary) with random weights. Its text is meaningless but it exercises every step.
 * - {@linkcode scriptedModelDir}: a one-layer model whose weights are chosen by hand so that
 *   greedy decoding follows {@linkcode SCRIPT}: every attention and feed-forward weight is
 *   zero, so the last hidden state is the current token's embedding; the embedding of the
 *   i-th scripted token is the i-th unit vector and `output.weight` maps that unit vector to
 *   the next token. Any other token has a zero embedding, so all logits are 0. This lets the
 *   tests predict the output exactly (an emoji, a stop token) without trusting the engine.
 *
 * Both folders are built once per test process in one temporary folder, removed at exit.
 *
 * @example
 * ```ts
 * import { randomModelDir, runLlama } from "./helpers/cli_model.ts";
 *
 * const result = await runLlama(["complete", "--model", await randomModelDir(), "Hi"]);
 * console.log(result.code, result.stdout, result.stderr);
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writePth } from "../../lib/formats/pth_writer.ts";
import { expectedTensorShapes } from "../../lib/model/checkpoint.ts";
import { parseModelConfig } from "../../lib/model/config.ts";
import { type ParamsJson, PRESETS, writeSyntheticModel } from "../../lib/model/synthetic.ts";
import { tokenizerPath } from "./llama3_tokenizer.ts";

/** The repository root (where deno.json and main.ts are). */
export const REPO_DIR: string = fileURLToPath(new URL("../../", import.meta.url));

/**
 * The scripted model's greedy path: current token id → next token id. Written from the
 * tokenizer's ids (tiktoken's Rust core agrees): 271 is "\n\n" (the end of an assistant
 * header), 13347 "Hi", 62904 " \xF0\x9F\x91" and 233 "\x8B" (together " 👋"), 128009
 * `<|eot_id|>`. So a chat answers "Hi 👋", and "Hi" completes to " 👋"; both then stop.
 */
export const SCRIPT: ReadonlyMap<number, number> = new Map([
  [271, 13347],
  [13347, 62904],
  [62904, 233],
  [233, 128009],
]);

const SCRIPTED_PARAMS: ParamsJson = {
  dim: 64,
  n_layers: 1,
  n_heads: 4,
  n_kv_heads: 2,
  vocab_size: 128256,
  multiple_of: 32,
  ffn_dim_multiplier: 1.5,
  norm_eps: 1e-5,
  rope_theta: 500000,
  use_scaled_rope: true,
};

const BF16_ONE = 0x3f80;
const BF16_FOUR = 0x4080;

let root: Promise<string> | undefined;
function tempRoot(): Promise<string> {
  return root ??= Deno.makeTempDir({ prefix: "llama-bolts-cli-" }).then((dir) => {
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // Already gone.
      }
    });
    return dir;
  });
}

let random: Promise<string> | undefined;
/** A `tiny`-preset model folder with random weights (seed 1) and the real tokenizer. */
export function randomModelDir(): Promise<string> {
  return random ??= (async () => {
    const dir = join(await tempRoot(), "random");
    const { params, tied } = PRESETS.tiny;
    await writeSyntheticModel(dir, params, {
      seed: 1,
      dtype: "bf16",
      tied,
      tokenizerPath: await tokenizerPath(),
    });
    return dir;
  })();
}

let scripted: Promise<string> | undefined;
/** The hand-made model folder that follows {@linkcode SCRIPT} (see the module doc). */
export function scriptedModelDir(): Promise<string> {
  return scripted ??= (async () => {
    const dir = join(await tempRoot(), "scripted");
    await Deno.mkdir(dir);
    const config = parseModelConfig(JSON.stringify(SCRIPTED_PARAMS), "params.json");
    const { dim } = config;
    const tensors = expectedTensorShapes(config, false).map(([name, shape]) => {
      const data = new Uint16Array(shape.reduce((a, b) => a * b, 1));
      if (shape.length === 1) data.fill(BF16_ONE); // RMSNorm weights
      return { name, dtype: "bf16" as const, shape, data };
    });
    const byName = new Map(tensors.map((t) => [t.name, t.data]));
    const embedding = byName.get("tok_embeddings.weight")!; // [vocab, dim]
    const output = byName.get("output.weight")!; // [vocab, dim]
    [...SCRIPT].forEach(([from, to], i) => {
      // from's hidden state is unit vector i (8·e_i after RMSNorm); only row `to` reads it.
      embedding[from * dim + i] = BF16_ONE;
      output[to * dim + i] = BF16_FOUR;
    });
    await writePth(join(dir, "consolidated.00.pth"), tensors, {
      archiveName: "consolidated",
      container: "dict",
    });
    await Deno.writeTextFile(join(dir, "params.json"), JSON.stringify(SCRIPTED_PARAMS));
    await Deno.copyFile(await tokenizerPath(), join(dir, "tokenizer.model"));
    return dir;
  })();
}

/** The `--allow-*` flags of a task in deno.json (`llama`, `demo`, ...). */
export function taskPermissions(task: string): string[] {
  const config = JSON.parse(Deno.readTextFileSync(join(REPO_DIR, "deno.json")));
  const command: string | undefined = config.tasks?.[task];
  if (!command) throw new Error(`deno.json has no task '${task}'`);
  return command.split(/\s+/).filter((word) => word.startsWith("--allow-"));
}

/** What a finished subprocess left. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@linkcode runLlama}. */
export interface RunOptions {
  /** Text written to stdin, then closed (default: nothing, closed at once). */
  stdin?: string;
  /** Extra environment variables (LLAMA_MODEL and NO_COLOR are cleared unless given). */
  env?: Record<string, string>;
  /** Working folder (default: the repository). */
  cwd?: string;
  /**
   * Run inside a pseudo-terminal (util-linux `script`), so stdin and stdout are terminals.
   * Stdout and stderr then arrive together in `stdout`, with `\r\n` line ends.
   */
  tty?: boolean;
  /** Kill the process after this many milliseconds (default 30000). */
  timeoutMs?: number;
}

/**
 * Runs `deno run <llama task permissions> main.ts ...args`.
 *
 * @param args Arguments after `main.ts`.
 * @param options Stdin, environment, working folder, terminal.
 * @returns Exit code and decoded output.
 */
export async function runLlama(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const argv = ["run", ...taskPermissions("llama"), join(REPO_DIR, "main.ts"), ...args];
  return await runDeno(argv, options);
}

/**
 * Runs `deno` (this test's own executable) with `argv`.
 *
 * @param argv Arguments after `deno`.
 * @param options Stdin, environment, working folder, terminal.
 * @returns Exit code and decoded output.
 */
export async function runDeno(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  const env = { LLAMA_MODEL: "", NO_COLOR: "", ...options.env };
  let program = Deno.execPath();
  if (options.tty) {
    argv = ["-qefc", [program, ...argv].map(shellQuote).join(" "), "/dev/null"];
    program = "script";
  }
  const child = new Deno.Command(program, {
    args: argv,
    cwd: options.cwd ?? REPO_DIR,
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
  }).spawn();
  const writer = child.stdin.getWriter();
  try {
    if (options.stdin) await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  } catch {
    // The program exited without reading its input (e.g. a usage error): that is fine.
  }
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** Whether {@linkcode RunOptions.tty} works here (util-linux `script` on Linux). */
export async function ptyAvailable(): Promise<boolean> {
  if (Deno.build.os !== "linux") return false;
  try {
    const { success, stdout } = await new Deno.Command("script", { args: ["--version"] })
      .output();
    return success && new TextDecoder().decode(stdout).includes("util-linux");
  } catch {
    return false;
  }
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
