/**
 * The `--help` text of every command, with examples.
 *
 * @module
 */

import { CONVERT_HELP } from "./convert.ts";
import { KERNELS_HELP } from "./kernels.ts";
import { PERPLEXITY_HELP } from "./perplexity.ts";
import { MAKE_MODEL_HELP } from "./make_model.ts";

const MODEL_HELP = `  --model DIR        Meta checkpoint folder (consolidated.00.pth, params.json,
                     tokenizer.model), Hugging Face folder (config.json,
                     model*.safetensors, tokenizer.json) or a .gguf file (llama.cpp's
                     format: F32, F16, BF16 tensors). Default: $LLAMA_MODEL, then
                     ~/.llama/checkpoints/Llama3.1-8B-Instruct/, then
                     ./models-original/Meta-Llama-3.1-8B-Instruct/`;

const GENERATION_HELP = `  --temperature T    0 = greedy (default); higher is more random. T >= 0
  --top-k K          sample only from the K most likely tokens (0 = off)
  --top-p P          nucleus sampling: smallest set with probability >= P, P in (0, 1]
  --seed N           random seed; the same seed gives the same output
  --max-tokens N     stop after N new tokens (default 256)
  --context N        context window in tokens, sizes the KV cache (default 8192)
  --threads N        threads sharing the work (default: one per core)
  --kernels K        wasm (WebAssembly SIMD, default) or ts (plain TypeScript)
  --no-emoji-names   do not annotate emoji with their names and code points
  --no-color         plain output (also when NO_COLOR is set)
  --json             print one JSON object with the result and stats`;

/** Help per command name; "" is the program overview. */
export const HELP: Readonly<Record<string, string>> = {
  "": `llama-bolts: Llama 3.x inference in TypeScript, on the CPU, from Meta's checkpoint.

Usage: llama [COMMAND] [OPTIONS]

Commands:
  (none)      interactive menu: the demo prompts of Llama Nuts and Bolts
  chat        multi-turn chat with the Instruct model
  complete    text completion of a prompt
  info        model metadata: tensors, hyperparameters, sizes
  tokenize    show the token ids of a text
  serve       OpenAI-compatible HTTP server with a chat page
  make-model  write a random-weight checkpoint of a real model's shape
  convert     write the model as a GGUF file for llama.cpp and ollama
  kernels     list the WebAssembly kernels, or print them as text (--wat)
  perplexity  how well the model predicts a text file (lower is better)
  help        this text; 'llama help COMMAND' for a command

Examples:
  deno task llama --model ~/.llama/checkpoints/Llama3.1-8B-Instruct
  deno task llama chat --system "You are a pirate"
  deno task llama complete --max-tokens 32 "Hello, my name is"
  deno task llama tokenize --show "Hello 👋"
`,
  menu: `Usage: llama [--model DIR] [OPTIONS]

Loads the model and shows the menu of Llama Nuts and Bolts: predefined text
completion and chat prompts, or your own. Ctrl+C stops a generation; end of
input (Ctrl+D) exits.

Options:
${MODEL_HELP}
${GENERATION_HELP}

Examples:
  deno task llama --model ~/.llama/checkpoints/Llama3.1-8B-Instruct
  printf '1\\n' | deno task llama --max-tokens 32 --no-color
`,
  chat: `Usage: llama chat [--model DIR] [--system TEXT] [OPTIONS]

A multi-turn chat. Earlier turns stay in the KV cache, so each answer only
processes the new message. Commands at the prompt:
  /reset          start a new conversation (keeps the system prompt)
  /system TEXT    set the system prompt and start a new conversation
  /stats          speed and context use so far
  /exit           leave (also Ctrl+D)
Ctrl+C stops the current answer.

Options:
${MODEL_HELP}
  --system TEXT      system prompt
${GENERATION_HELP}

Examples:
  deno task llama chat --system "Answer in 20 words"
  deno task llama chat --temperature 0.7 --top-p 0.9 --seed 42
`,
  complete: `Usage: llama complete [--model DIR] [OPTIONS] PROMPT
       llama complete [OPTIONS] -        (reads the prompt from stdin)

Continues PROMPT (with <|begin_of_text|> first). The text streams to stdout,
the stats go to stderr.

Options:
${MODEL_HELP}
${GENERATION_HELP}
  --logits-out FILE  write every generated step's logits (float32 LE, steps x vocab)

Examples:
  deno task llama complete --max-tokens 32 "Hello, my name is"
  echo "Once upon a time" | deno task llama complete --json -
`,
  info: `Usage: llama info [--model DIR] [--json]

Prints every tensor with dtype and shape, the hyperparameters from params.json
(or config.json), the derived values, the parameter count and size. For a .gguf
file: its metadata, each tensor's ggml type, shape and bits per weight.

Options:
${MODEL_HELP}
  --json             one JSON object: {tensors, params, derived}

Example:
  deno task llama info --model ~/.llama/checkpoints/Llama3.1-8B-Instruct --json
`,
  tokenize: `Usage: llama tokenize [--model DIR] [--allow-special] [--no-bos] [--json] [--show] TEXT

Prints the token ids of TEXT, <|begin_of_text|> (128000) first.

Options:
${MODEL_HELP}
  --allow-special    read special-token text such as <|eot_id|> as the special token
  --no-bos           do not add <|begin_of_text|>
  --json             a JSON array of ids
  --show             each token's id and text

Example:
  deno task llama tokenize --show "Hello, world! 👋"
`,
  "make-model": MAKE_MODEL_HELP,
  convert: CONVERT_HELP,
  kernels: KERNELS_HELP,
  perplexity: PERPLEXITY_HELP,
  serve: `Usage: llama serve [--model DIR] [--host H] [--port P] [--api-key KEY] [OPTIONS]

An OpenAI-compatible HTTP server: POST /v1/chat/completions and /v1/completions
(streaming or not), GET /v1/models, /health (503 while loading), /metrics
(Prometheus text) and a chat page at /. Requests run one at a time; others wait
in a bounded queue (past it: 503 with Retry-After). A prompt that starts with
a kept session's tokens (a chat resending its history) prefills only its new
tokens. Ctrl+C or SIGTERM stops it gracefully.

Options:
${MODEL_HELP}
  --host H           address to listen on (default 127.0.0.1: this machine only)
  --port P           port (default 8080; 0 = any free port)
  --api-key KEY      require 'Authorization: Bearer KEY' on the API and /metrics
  --context N        context window of each session in tokens (default 8192)
  --threads N        threads sharing the work (default: one per core)
  --parallel N       sessions whose KV caches are kept for the prompt cache (default 2)
  --queue N          requests that may wait while one runs (default 8)
  --kernels K        wasm (WebAssembly SIMD, default) or ts (plain TypeScript)
  --on-stop M        on Ctrl+C: finish (default) or abort the requests in flight

'deno task serve' may listen on 127.0.0.1 only; for another address run
deno run --allow-read --allow-ffi --allow-env --allow-net=HOST:PORT main.ts serve ...

Examples:
  deno task serve --model ~/.llama/checkpoints/Llama3.2-1B-Instruct
  deno task serve --port 9000 --api-key sk-local --context 4096
`,
};
