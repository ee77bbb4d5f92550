/**
 * Chapter 1's worked example: every tensor of Llama 3.1 8B with its shape, and the parameter
 * count, computed from the 8B's `params.json` alone (no weights needed).
 *
 * ```sh
 * deno run --allow-read --allow-env --allow-ffi docs/examples/01_shapes_8b.ts
 * ```
 *
 * @module
 */

import { expectedTensorShapes } from "../../lib/model/checkpoint.ts";
import { parseModelConfig } from "../../lib/model/config.ts";
import { PRESETS } from "../../lib/model/synthetic.ts";

const config = parseModelConfig(JSON.stringify(PRESETS["8b"].params), "8b params.json");
const shapes = expectedTensorShapes(config, PRESETS["8b"].tied);
const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

console.log(
  `dim ${config.dim}, ${config.nLayers} layers, ${config.nHeads} query heads, ` +
    `${config.nKvHeads} key/value heads, head ${config.headDim}, ` +
    `kvDim ${config.kvDim}, hidden ${config.hiddenDim}, vocab ${config.vocabSize}`,
);
console.log("\ntensors (layers 1 to 31 repeat the shapes of layer 0):");
let layer = 0;
for (const [name, shape] of shapes) {
  if (!name.startsWith("layers.") || name.startsWith("layers.0.")) {
    console.log(
      `  ${name.padEnd(33)} [${shape.join(", ")}]`.padEnd(58) + count(shape).toLocaleString("en"),
    );
  }
  if (name.startsWith("layers.0.")) layer += count(shape);
}
const total = shapes.reduce((sum, [, shape]) => sum + count(shape), 0);
console.log(`\nparameters per layer  ${layer.toLocaleString("en")}`);
console.log(`parameters in total   ${total.toLocaleString("en")} (${(total / 1e9).toFixed(2)} B)`);
console.log(
  `bytes in bf16         ${(2 * total).toLocaleString("en")} (${
    (2 * total / 2 ** 30).toFixed(2)
  } GiB)`,
);
