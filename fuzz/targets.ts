/**
 * What the fuzzer attacks: one target per reader of untrusted files, each with its seeds (the
 * committed fixtures, or for tokenizers a small vocabulary built here), its mutation and the
 * call that reads a mutated input. A target's `run` returns normally when the input was
 * accepted, throws a `LlamaError` for a clean refusal; anything else is a finding. For readers
 * that hand out views into the file, `run` also checks what it accepted (every tensor inside
 * the file, of the length its shape says) and throws a plain Error when that breaks: a
 * damaged file accepted with bad views is a finding too.
 *
 * @example
 * ```ts
 * import { TARGETS } from "./targets.ts";
 *
 * const zip = TARGETS.get("zip")!;
 * const seed = zip.seeds()[0];
 * zip.run(seed.bytes); // accepted
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CheckpointError } from "../lib/errors.ts";
import { loadPickle, type PickleCallable } from "../lib/formats/pickle.ts";
import { readPth } from "../lib/formats/pth.ts";
import { readGguf } from "../lib/formats/gguf.ts";
import { ggmlType } from "../lib/formats/gguf_types.ts";
import { gguf, layoutGguf } from "../lib/formats/gguf_writer.ts";
import { readSafetensors } from "../lib/formats/safetensors.ts";
import { parseSafetensorsIndex } from "../lib/formats/safetensors_index.ts";
import { readZipDirectory, storedEntryBytes } from "../lib/formats/zip.ts";
import { checkShapes, expectedTensorShapes, type WeightTensor } from "../lib/model/checkpoint.ts";
import { type ModelConfig, parseModelConfig } from "../lib/model/config.ts";
import { parseHuggingFaceConfig } from "../lib/model/hf_config.ts";
import { LLAMA3_SPLIT_PATTERN, parseTokenizerJson } from "../lib/tokenizer/hf_tokenizer.ts";
import { parseTokenizerModel, Tokenizer } from "../lib/tokenizer/tokenizer.ts";
import { mutateBytes, mutateJson, mutatePickle, Random } from "./mutate.ts";
import { packZip } from "./zip_pack.ts";

/** One seed input. */
export interface Seed {
  /** Where it came from (a fixture path relative to the repository, or a description). */
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** A reader under attack. */
export interface Target {
  readonly name: string;
  /** The inputs mutations start from. */
  seeds(): Seed[];
  /** A damaged copy of a seed. */
  mutate(seed: Uint8Array, random: Random): Uint8Array;
  /** Reads an input; throws a LlamaError to refuse it. */
  run(bytes: Uint8Array): void;
}

const REPO = fileURLToPath(new URL("../", import.meta.url));
const FIXTURES = "tests/fixtures";
const decoder = new TextDecoder();
const encoder = new TextEncoder();

function fixtures(paths: string[]): Seed[] {
  return paths.map((name) => ({ name, bytes: Deno.readFileSync(join(REPO, FIXTURES, name)) }));
}

const PTH_SEEDS = [
  "pth/dtypes.pth",
  "pth/zip64.pth",
  "pth/misaligned.pth",
  "pth/noncontiguous.pth",
  "pth/tiny_tied/consolidated.00.pth",
  "pth/deflated.pth",
];

/** The entries of a stored zip, for re-packing after a mutation of one of them. */
function entriesOf(bytes: Uint8Array): Array<[string, Uint8Array]> | undefined {
  try {
    return readZipDirectory(bytes, "seed").map((e) => [e.name, storedEntryBytes(bytes, e, "seed")]);
  } catch {
    return undefined; // e.g. a deflated seed: byte mutations only
  }
}

/** A pickle from the fixtures or the `data.pkl` of a pth fixture. */
function pickleSeeds(): Seed[] {
  const seeds = fixtures([1, 2, 3, 4, 5].slice(1).map((p) => `pth/pickles/protocol${p}.pkl`));
  for (const name of PTH_SEEDS.slice(0, 5)) {
    const entry = entriesOf(fixtures([name])[0].bytes)?.find(([n]) => n.endsWith("data.pkl"));
    if (entry) seeds.push({ name: `${name} data.pkl`, bytes: entry[1].slice() });
  }
  return seeds;
}

/** A list argument of a hook, or none (a hook must not fail on what a pickle passes it). */
const list = (items: unknown): unknown[] => Array.isArray(items) ? items : [];

/** Classes a torch pickle names, with objects shaped roughly as Python builds them. */
const PICKLE_CLASSES: ReadonlyMap<string, PickleCallable> = new Map<string, PickleCallable>([
  ["collections.OrderedDict", () => new Map()],
  ["builtins.set", (items) => new Set(list(items))],
  ["builtins.frozenset", (items) => new Set(list(items))],
  ["__builtin__.set", (items) => new Set(list(items))],
  ["__builtin__.frozenset", (items) => new Set(list(items))],
  ["builtins.bytes", () => new Uint8Array()],
  ["__builtin__.bytes", () => new Uint8Array()],
  ["__main__.Point", () => ({})],
  ["copyreg._reconstructor", () => ({})],
  ["_codecs.encode", (text) => encoder.encode(String(text))],
  ["torch._utils._rebuild_tensor_v2", (...args) => ({ tensor: args.length })],
  ["torch._utils._rebuild_parameter", (data) => data],
  ["torch.FloatStorage", () => ({})],
  ["torch.BFloat16Storage", () => ({})],
  ["torch.HalfStorage", () => ({})],
]);

function runPickle(bytes: Uint8Array): void {
  loadPickle(bytes, {
    findClass(module, name) {
      const found = PICKLE_CLASSES.get(`${module}.${name}`);
      if (found === undefined) throw new CheckpointError(`fuzz: class not allowed`);
      return found;
    },
    persistentLoad: (pid) => ({ pid }),
  }, "fuzz.pkl");
}

function runPth(bytes: Uint8Array): void {
  const tensors = readPth(bytes, "fuzz.pth");
  for (const t of tensors.values()) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const end = t.data.byteOffset + t.data.byteLength;
    if (t.data.length !== numel || t.data.buffer !== bytes.buffer) {
      throw new Error(`accepted tensor with ${t.data.length} elements for shape [${t.shape}]`);
    }
    if (t.data.byteOffset < bytes.byteOffset || end > bytes.byteOffset + bytes.length) {
      throw new Error("accepted a tensor outside the file");
    }
  }
}

/** The tensors a config describes, as a checkpoint would hold them (shapes only). */
function tensorsFor(config: ModelConfig): Map<string, WeightTensor> {
  const tensors = new Map<string, WeightTensor>();
  for (const [name, shape] of expectedTensorShapes(config, false)) {
    tensors.set(name, { name, sourceName: name, type: "f32", shape, byteOffset: 0, byteLength: 0 });
  }
  return tensors;
}

/** The seed configs' tensors: a mutated config is checked against an unmutated model's. */
let seedTensors: Map<string, WeightTensor>[] | undefined;

function runParams(bytes: Uint8Array): void {
  const text = decoder.decode(bytes);
  const config = text.includes("hidden_size")
    ? parseHuggingFaceConfig(text, "config.json")
    : parseModelConfig(text, "params.json");
  JSON.stringify(config.params); // what info --json prints
  seedTensors ??= TARGETS.get("params")!.seeds().map((seed) => {
    const t = decoder.decode(seed.bytes);
    return tensorsFor(
      t.includes("hidden_size") ? parseHuggingFaceConfig(t, "c") : parseModelConfig(t, "p"),
    );
  });
  for (const tensors of seedTensors) {
    try {
      checkShapes(tensors, config, "fuzz.pth");
    } catch (error) {
      if (!(error instanceof Error && "fix" in error)) throw error;
    }
  }
}

/** A small Llama-3-shaped vocabulary: the 256 bytes, a few merges, special tokens. */
function tokenizerSeeds(): Seed[] {
  const byteToChar = new Map<number, string>();
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
    byteToChar.set(b, String.fromCharCode(printable ? b : 0x100 + shifted++));
  }
  const merged = ["he", "ll", "hell", "hello", " t", " th", " the"];
  const ranks: Uint8Array[] = [];
  for (let b = 0; b < 256; b++) ranks.push(Uint8Array.of(b));
  for (const word of merged) ranks.push(encoder.encode(word));
  const gpt2 = (bytes: Uint8Array) => [...bytes].map((b) => byteToChar.get(b)!).join("");
  const vocab: Record<string, number> = {};
  ranks.forEach((bytes, id) => (vocab[gpt2(bytes)] = id));
  const merges = merged.map((word) => {
    const bytes = encoder.encode(word);
    return [
      gpt2(bytes.subarray(0, bytes.length - (word.length > 2 ? word.length - 2 : 1))),
      gpt2(bytes.subarray(word.length > 2 ? 2 : 1)),
    ].join(" ");
  });
  const specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"];
  const json = {
    version: "1.0",
    added_tokens: specials.map((content, i) => ({ id: ranks.length + i, content, special: true })),
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: LLAMA3_SPLIT_PATTERN }, behavior: "Isolated" },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    model: { type: "BPE", vocab, merges, ignore_merges: true },
  };
  const model = ranks.map((bytes, id) => `${btoa(String.fromCharCode(...bytes))} ${id}\n`).join("");
  return [
    { name: "small tokenizer.json", bytes: encoder.encode(JSON.stringify(json)) },
    { name: "small tokenizer.model", bytes: encoder.encode(model) },
  ];
}

function runTokenizer(bytes: Uint8Array): void {
  const json = bytes[0] === 0x7b; // "{"
  const tokenizer = json
    ? (() => {
      const { ranks, specials } = parseTokenizerJson(decoder.decode(bytes), "tokenizer.json");
      return Tokenizer.fromVocabulary(ranks, { texts: specials }, "tokenizer.json");
    })()
    : Tokenizer.fromRanks(parseTokenizerModel(bytes, "tokenizer.model"), "tokenizer.model");
  const ids = tokenizer.encode("hello the world <|eot_id|>", { bos: true, allowSpecial: true });
  tokenizer.decode(ids);
}

/** A safetensors file with its header replaced (the data section kept). */
function withHeader(file: Uint8Array, header: Uint8Array): Uint8Array {
  const length = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  const data = file.subarray(8 + Math.min(length, file.length - 8));
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

function runSafetensors(bytes: Uint8Array): void {
  if (bytes[0] === 0x7b) {
    parseSafetensorsIndex(decoder.decode(bytes), "model.safetensors.index.json");
    return;
  }
  const header = readSafetensors(bytes, "model.safetensors");
  for (const t of header.tensors.values()) {
    if (t.byteOffset < header.dataOffset || t.byteOffset + t.byteLength > bytes.length) {
      throw new Error(`accepted tensor outside the file`);
    }
  }
}

/**
 * Small GGUF files built by our writer's layout (the tests write their GGUF files at run time,
 * so none is committed): llama metadata with arrays and strings, an f32 and a Q8_0 tensor, and
 * the same with another alignment.
 */
function ggufSeeds(): Seed[] {
  const metadata = [
    ["general.architecture", gguf.string("llama")],
    ["llama.block_count", gguf.uint32(1)],
    ["llama.embedding_length", gguf.uint32(32)],
    ["llama.rope.freq_base", gguf.float32(500000)],
    ["tokenizer.ggml.model", gguf.string("gpt2")],
    ["tokenizer.ggml.tokens", gguf.array("string", ["a", "b", "Ġc", "<|begin_of_text|>"])],
    ["tokenizer.ggml.token_type", gguf.array("int32", [1, 1, 1, 3])],
    ["tokenizer.ggml.merges", gguf.array("string", ["a b"])],
  ] as const;
  const tensors = [
    { name: "token_embd.weight", type: ggmlType("F32"), shape: [4, 8] },
    { name: "blk.0.attn_q.weight", type: ggmlType("Q8_0"), shape: [2, 32] },
  ];
  return [32, 64].map((alignment) => {
    const layout = layoutGguf(metadata, tensors, alignment);
    const bytes = new Uint8Array(layout.fileBytes);
    bytes.set(layout.header);
    for (let i = layout.header.length; i < bytes.length; i++) bytes[i] = (i * 37) & 0x7f;
    return { name: `gguf written by layoutGguf, alignment ${alignment}`, bytes };
  });
}

function runGguf(bytes: Uint8Array): void {
  const file = readGguf(bytes, "fuzz.gguf");
  for (const t of file.tensors.values()) {
    if (t.byteOffset < file.dataOffset || t.byteOffset + t.byteLength > bytes.length) {
      throw new Error(`accepted tensor outside the file`);
    }
  }
}

/** Every target by name. */
export const TARGETS: ReadonlyMap<string, Target> = new Map<string, Target>([
  ["zip", {
    name: "zip",
    seeds: () => fixtures(PTH_SEEDS),
    mutate: mutateBytes,
    run(bytes) {
      for (const entry of readZipDirectory(bytes, "fuzz.zip")) {
        if (entry.method === 0) storedEntryBytes(bytes, entry, "fuzz.zip");
      }
    },
  }],
  ["pickle", {
    name: "pickle",
    seeds: pickleSeeds,
    mutate: (seed, random) =>
      random.chance(0.7) ? mutatePickle(seed, random) : mutateBytes(seed, random),
    run: runPickle,
  }],
  ["pth", {
    name: "pth",
    seeds: () => fixtures(PTH_SEEDS),
    mutate(seed, random) {
      const entries = random.chance(0.7) ? entriesOf(seed) : undefined;
      if (entries === undefined) return mutateBytes(seed, random);
      const pickle = entries.findIndex(([n]) => n.endsWith("data.pkl"));
      const which = random.chance(0.8) && pickle >= 0 ? pickle : random.below(entries.length);
      const [name, data] = entries[which];
      entries[which] = [
        name,
        which === pickle ? mutatePickle(data, random) : mutateBytes(data, random),
      ];
      return packZip(entries);
    },
    run: runPth,
  }],
  ["params", {
    name: "params",
    seeds: () =>
      fixtures([
        "pth/tiny_tied/params.json",
        "golden/gqa_scaled/params.json",
        "golden/llama3_unscaled/params.json",
        "hf/tied/hf/config.json",
        "hf/scaling32_f32/hf/config.json",
      ]),
    mutate: (seed, random) =>
      random.chance(0.8) ? mutateJson(seed, random) : mutateBytes(seed, random),
    run: runParams,
  }],
  ["tokenizer", {
    name: "tokenizer",
    seeds: tokenizerSeeds,
    mutate: (seed, random) =>
      seed[0] === 0x7b && random.chance(0.7) ? mutateJson(seed, random) : mutateBytes(seed, random),
    run: runTokenizer,
  }],
  ["safetensors", {
    name: "safetensors",
    seeds: () =>
      fixtures([
        "hf/dtypes.safetensors",
        "hf/sharded_untied/hf/model-00003-of-00003.safetensors",
        "hf/tied/hf/model.safetensors",
        "hf/sharded_untied/hf/model.safetensors.index.json",
      ]),
    mutate(seed, random) {
      if (seed[0] === 0x7b) {
        return random.chance(0.8) ? mutateJson(seed, random) : mutateBytes(seed, random);
      }
      if (random.chance(0.4)) return mutateBytes(seed, random);
      const length = Number(new DataView(seed.buffer, seed.byteOffset).getBigUint64(0, true));
      return withHeader(seed, mutateJson(seed.subarray(8, 8 + length), random));
    },
    run: runSafetensors,
  }],
  ["gguf", {
    name: "gguf",
    seeds: ggufSeeds,
    mutate: mutateBytes,
    run: runGguf,
  }],
]);
