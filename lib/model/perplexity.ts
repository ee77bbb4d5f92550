/**
 * Perplexity of a model on a text: how surprised it is by each next token, `exp(mean NLL)`.
 *
 * The token stream is cut into chunks of `chunk` tokens; each chunk is read on its own after
 * `<|begin_of_text|>` (positions 0..chunk), and every token of it is scored from the
 * positions before it, the first one from `<|begin_of_text|>` alone. The last chunk may be
 * shorter. `tools/train_demo_model.py` computes the same figure with the PyTorch reference.
 *
 * @example
 * ```ts
 * import { perplexity } from "./perplexity.ts";
 * import type { Transformer } from "./transformer.ts";
 *
 * declare const model: Transformer;
 * const { perplexity: ppl, tokens } = await perplexity(model, [791, 13093, 1071], { chunk: 128 });
 * ```
 *
 * @module
 */

import type { Transformer } from "./transformer.ts";

/** Llama 3's `<|begin_of_text|>`. */
const BEGIN_OF_TEXT = 128000;

/** Options of {@linkcode perplexity}. */
export interface PerplexityOptions {
  /** Tokens per chunk (each chunk is one forward pass of `chunk` positions). */
  chunk: number;
  /** The token every chunk is read after. Default `<|begin_of_text|>` (128000). */
  bos?: number;
  /** Called after each chunk with the tokens scored so far and in total. */
  onProgress?: (done: number, total: number) => void;
}

/** What {@linkcode perplexity} measured. */
export interface PerplexityResult {
  /** `exp(nll / tokens)`. */
  readonly perplexity: number;
  /** Sum of `-ln p(token)` over every scored token (natural log, float64). */
  readonly nll: number;
  /** Tokens scored. */
  readonly tokens: number;
  /** Chunks read. */
  readonly chunks: number;
}

/**
 * Computes the perplexity of `ids` under `model`.
 *
 * @param model The transformer (its context must hold `chunk` positions).
 * @param ids The text's token ids, without `<|begin_of_text|>`.
 * @param options Chunk length, first token, progress callback.
 * @returns Perplexity, summed NLL and counts.
 */
export async function perplexity(
  model: Transformer,
  ids: readonly number[],
  options: PerplexityOptions,
): Promise<PerplexityResult> {
  const vocab = model.config.vocabSize;
  const bos = options.bos ?? BEGIN_OF_TEXT;
  let nll = 0;
  let chunks = 0;
  for (let start = 0; start < ids.length; start += options.chunk) {
    const targets = ids.slice(start, start + options.chunk);
    const logits = await model.forwardAll([bos, ...targets.slice(0, -1)], 0);
    for (let t = 0; t < targets.length; t++) {
      nll -= logSoftmaxAt(logits.subarray(t * vocab, (t + 1) * vocab), targets[t]);
    }
    chunks++;
    options.onProgress?.(start + targets.length, ids.length);
  }
  return { perplexity: Math.exp(nll / ids.length), nll, tokens: ids.length, chunks };
}

/** `ln softmax(logits)[index]`, in float64 with the maximum subtracted first. */
export function logSoftmaxAt(logits: Float32Array, index: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return logits[index] - max - Math.log(sum);
}
