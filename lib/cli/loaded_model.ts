/**
 * Loading everything a generating command needs — checkpoint mapping,
 * tokenizer, transformer with its workers — and closing it in the right order
 * (workers before the mapping they read).
 *
 * @module
 */

import type { BackendName } from "../kernels/backend.ts";
import type { Checkpoint } from "../model/checkpoint.ts";
import { Transformer } from "../model/transformer.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { ChatTemplateKind } from "../tokenizer/gguf_tokenizer.ts";
import { modelDir, openCheckpoint, openModelTokenizer } from "./model_files.ts";
import { writeErr } from "./terminal.ts";
import { UsageError } from "../errors.ts";

/** A model ready to generate. */
export class LoadedModel implements Disposable {
  readonly dir: string;
  readonly checkpoint: Checkpoint;
  readonly tokenizer: Tokenizer;
  readonly transformer: Transformer;
  /** Ids that end a generation (the folder's `generation_config.json`), or the defaults. */
  readonly stopTokens: readonly number[] | undefined;
  /** Whether the model's chat format is Llama 3's (a GGUF file may say otherwise). */
  readonly chatTemplate: ChatTemplateKind;
  /** Milliseconds from start of loading to ready. */
  readonly loadMs: number;

  private constructor(
    dir: string,
    checkpoint: Checkpoint,
    tokenizer: Tokenizer,
    transformer: Transformer,
    stopTokens: readonly number[] | undefined,
    chatTemplate: ChatTemplateKind,
    loadMs: number,
  ) {
    this.chatTemplate = chatTemplate;
    this.dir = dir;
    this.checkpoint = checkpoint;
    this.tokenizer = tokenizer;
    this.transformer = transformer;
    this.stopTokens = stopTokens;
    this.loadMs = loadMs;
  }

  /**
   * Finds and loads the model, telling the user on stderr what is happening.
   *
   * @param modelFlag the `--model` value, if given
   * @param options context length, threads, kernels and KV caches for the transformer
   * @param quiet print nothing (for `--json`)
   */
  static async load(
    modelFlag: string | undefined,
    options: { context?: number; threads?: number; kernels?: BackendName; kvCaches?: number },
    quiet = false,
  ): Promise<LoadedModel> {
    const started = performance.now();
    const dir = modelDir(modelFlag);
    if (!quiet) writeErr(`loading ${dir} …\n`);
    const checkpoint = openCheckpoint(dir);
    try {
      const { tokenizer, stopTokens, chatTemplate } = openModelTokenizer(dir, checkpoint);
      const transformer = await Transformer.create(checkpoint, {
        contextLength: options.context,
        threads: options.threads,
        kernels: options.kernels,
        kvCaches: options.kvCaches,
      });
      const loadMs = performance.now() - started;
      if (!quiet) {
        const c = checkpoint.config;
        writeErr(
          `loaded in ${(loadMs / 1000).toFixed(2)} s: ${c.nLayers} layer${
            c.nLayers === 1 ? "" : "s"
          }, dim ${c.dim}, ` +
            `context ${transformer.contextLength}, ${transformer.threads} thread(s)` +
            `, ${transformer.kernels} kernels` +
            `${checkpoint.weights.mapped ? "" : " (weights copied into memory)"}\n`,
        );
      }
      return new LoadedModel(
        dir,
        checkpoint,
        tokenizer,
        transformer,
        stopTokens,
        chatTemplate ?? "llama3",
        loadMs,
      );
    } catch (error) {
      checkpoint.close();
      throw error;
    }
  }

  /**
   * Refuses to chat with a model whose GGUF chat template is not Llama 3's header format (the
   * only one the engine speaks); completion still works.
   *
   * @throws {UsageError} When the template is another.
   */
  requireLlama3Chat(): void {
    if (this.chatTemplate !== "other") return;
    throw new UsageError(
      `${this.dir}: this file's chat template is not Llama 3's header format ` +
        "(<|start_header_id|>role<|end_header_id|> … <|eot_id|>), the only one llama-bolts " +
        "chats in; use 'llama complete' for plain text completion",
    );
  }

  /** Stops the workers, then unmaps the weights. */
  close(): void {
    this.transformer.close();
    this.checkpoint.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
