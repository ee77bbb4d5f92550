/**
 * The table of commands: name → function taking the arguments after the
 * command name and resolving to the exit code.
 *
 * @module
 */

import { runInfo } from "./info.ts";
import { runGgufInfo } from "./gguf_info.ts";
import { isGgufPath } from "../model/gguf_checkpoint.ts";
import { runTokenize } from "./tokenize.ts";
import { runMakeModel } from "./make_model.ts";
import { runConvert } from "./convert.ts";
import { runMenu } from "./menu.ts";
import { runChat } from "./chat.ts";
import { runComplete } from "./complete.ts";
import { runKernels } from "./kernels.ts";
import { runPerplexity } from "./perplexity.ts";
import { runServe } from "./serve.ts";
import { modelDir, openCheckpoint, openTokenizer } from "./model_files.ts";
import { parseCommandArgs } from "./options.ts";
import { writeOut } from "./terminal.ts";
import { UsageError } from "../errors.ts";

/** A command: arguments in, exit code out. */
export type Command = (args: string[]) => Promise<number>;

async function info(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("info", args, {
    model: { type: "string" },
    json: { type: "boolean" },
  });
  if (positionals.length > 0) {
    throw new UsageError(`info: unexpected argument '${positionals[0]}' (see 'llama info --help')`);
  }
  const dir = modelDir(values.model);
  if (isGgufPath(dir)) {
    writeOut(runGgufInfo(dir, { json: values.json === true }) + "\n");
    return 0;
  }
  using checkpoint = openCheckpoint(dir);
  writeOut(runInfo(checkpoint, { json: values.json === true }) + "\n");
  return await Promise.resolve(0);
}

async function tokenize(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("tokenize", args, {
    model: { type: "string" },
    "allow-special": { type: "boolean" },
    "no-bos": { type: "boolean" },
    json: { type: "boolean" },
    show: { type: "boolean" },
  });
  if (positionals.length !== 1) {
    throw new UsageError(
      `tokenize: expected one TEXT argument, got ${positionals.length} (quote the text; see 'llama tokenize --help')`,
    );
  }
  const tokenizer = openTokenizer(modelDir(values.model));
  const out = runTokenize(tokenizer, positionals[0], {
    allowSpecial: values["allow-special"] === true,
    bos: values["no-bos"] !== true,
    json: values.json === true,
    show: values.show === true,
  });
  writeOut(out.endsWith("\n") ? out : out + "\n");
  return await Promise.resolve(0);
}

/** Every command by name. */
export const COMMANDS: Readonly<Record<string, Command>> = {
  menu: runMenu,
  chat: runChat,
  complete: runComplete,
  info,
  tokenize,
  "make-model": runMakeModel,
  convert: runConvert,
  kernels: runKernels,
  perplexity: runPerplexity,
  serve: runServe,
};
