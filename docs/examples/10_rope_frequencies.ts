/**
 * Chapter 10's worked example: the RoPE frequency table of Llama 3.1 8B, with and without
 * Llama 3.1's frequency scaling, and a check that rotated queries and keys only "see" the
 * distance between their positions.
 *
 * ```sh
 * deno run docs/examples/10_rope_frequencies.ts            # the table and the check
 * deno run --allow-read --allow-write docs/examples/10_rope_frequencies.ts --svg docs/images/10-rope-frequencies.svg
 * ```
 *
 * @module
 */

import { LLAMA31_ROPE_SCALING, rope, ropeFrequencies, ropeTable } from "../../lib/kernels/rope.ts";

const HEAD_DIM = 128; // 8B: dim 4096 / 32 heads
const THETA = 500000;

const plain = ropeFrequencies(HEAD_DIM, THETA, false);
const scaled = ropeFrequencies(HEAD_DIM, THETA, true);
const { originalContext, lowFreqFactor, highFreqFactor } = LLAMA31_ROPE_SCALING;

/** Rows of the table: the first few, then the three zones' edges, then the last. */
const SHOWN = [0, 1, 2, 3, 16, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 48, 63];

/** Which of the three zones of `apply_scaling` a wavelength falls in. */
function zone(wavelength: number): string {
  if (wavelength < originalContext / highFreqFactor) return "kept";
  if (wavelength > originalContext / lowFreqFactor) return "÷ 8";
  return "blended";
}

function table(): string {
  const lines = ["pair i   freq (rad/token)   wavelength (tokens)   zone      scaled freq"];
  let last = -1;
  for (let i = 0; i < plain.length; i++) {
    if (!SHOWN.includes(i)) continue;
    if (i !== last + 1) lines.push("   ...");
    last = i;
    const wavelength = (2 * Math.PI) / plain[i];
    lines.push(
      `${String(i).padStart(6)}   ${plain[i].toExponential(4).padStart(16)}   ` +
        `${wavelength.toFixed(1).padStart(19)}   ${zone(wavelength).padEnd(8)}  ` +
        `${scaled[i].toExponential(4).padStart(11)}`,
    );
  }
  const counts = { kept: 0, blended: 0, "÷ 8": 0 } as Record<string, number>;
  for (const f of plain) counts[zone((2 * Math.PI) / f)]++;
  lines.push(
    `zones: ${counts.kept} pairs kept, ${counts.blended} blended, ${counts["÷ 8"]} divided by 8`,
  );
  return lines.join("\n");
}

/** q·k after rotating q to position `pq` and k to `pk`. */
function rotatedDot(q: Float32Array, k: Float32Array, pq: number, pk: number): number {
  const t = ropeTable(HEAD_DIM, THETA, true, 64);
  const a = q.slice(), b = k.slice();
  rope(a, 0, 1, t, pq);
  rope(b, 0, 1, t, pk);
  let dot = 0;
  for (let d = 0; d < HEAD_DIM; d++) dot += a[d] * b[d];
  return dot;
}

/** A log-log plot of both frequency curves against the pair index, as SVG text. */
function svg(): string {
  const w = 640, h = 360, left = 70, right = 20, top = 30, bottom = 50;
  const pw = w - left - right, ph = h - top - bottom;
  const logMin = Math.floor(Math.log10(scaled[scaled.length - 1])), logMax = 0;
  const x = (i: number) => left + (i / (plain.length - 1)) * pw;
  const y = (f: number) => top + ((logMax - Math.log10(f)) / (logMax - logMin)) * ph;
  const path = (fs: Float64Array) =>
    Array.from(fs, (f, i) => `${i === 0 ? "M" : "L"}${x(i).toFixed(1)},${y(f).toFixed(1)}`)
      .join(" ");
  // Where the zones start: the first pair whose wavelength passes each threshold.
  const firstPast = (limit: number) => plain.findIndex((f) => (2 * Math.PI) / f > limit);
  const blendStart = firstPast(originalContext / highFreqFactor);
  const fullStart = firstPast(originalContext / lowFreqFactor);
  const parts = [
    // Kept as written, so that regenerating the plot gives the committed file byte for byte.
    "<!-- deno-fmt-ignore-file -->",
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" ` +
    `viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="12">`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<text x="${w / 2}" y="18" text-anchor="middle" font-size="14">` +
    `RoPE frequencies of Llama 3.1 8B (head dim 128, theta 500000)</text>`,
    `<rect x="${x(blendStart - 0.5)}" y="${top}" width="${
      x(fullStart - 0.5) - x(blendStart - 0.5)
    }" ` +
    `height="${ph}" fill="#fff3cd"/>`,
    `<rect x="${x(fullStart - 0.5)}" y="${top}" width="${
      x(plain.length - 1) - x(fullStart - 0.5)
    }" ` +
    `height="${ph}" fill="#f8d7da"/>`,
  ];
  for (let e = logMin; e <= logMax; e++) {
    parts.push(
      `<line x1="${left}" x2="${left + pw}" y1="${y(10 ** e)}" y2="${y(10 ** e)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y(10 ** e) + 4}" text-anchor="end">1e${e}</text>`,
    );
  }
  for (let i = 0; i < plain.length; i += 8) {
    parts.push(`<text x="${x(i)}" y="${top + ph + 16}" text-anchor="middle">${i}</text>`);
  }
  parts.push(
    `<text x="${left + pw / 2}" y="${h - 12}" text-anchor="middle">pair index i (0..63)</text>`,
    `<text x="16" y="${top + ph / 2}" text-anchor="middle" ` +
      `transform="rotate(-90 16 ${top + ph / 2})">radians per position</text>`,
    `<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
    `<path d="${path(plain)}" fill="none" stroke="#1f77b4" stroke-width="2"/>`,
    `<path d="${path(scaled)}" fill="none" stroke="#d62728" stroke-width="2" ` +
      `stroke-dasharray="6 3"/>`,
    `<text x="${left + 10}" y="${top + ph - 40}" fill="#1f77b4">— theta^(-2i/128) (Llama 3)</text>`,
    `<text x="${left + 10}" y="${top + ph - 24}" fill="#d62728">-- scaled (Llama 3.1)</text>`,
    `<text x="${x(blendStart)}" y="${top + 14}" font-size="11">blended</text>`,
    `<text x="${x(fullStart) + 4}" y="${top + 14}" font-size="11">÷ 8</text>`,
    `</svg>`,
  );
  return parts.join("\n") + "\n";
}

const svgAt = Deno.args.indexOf("--svg");
if (svgAt >= 0) {
  const path = Deno.args[svgAt + 1];
  const temp = `${path}.tmp`;
  Deno.writeTextFileSync(temp, svg());
  Deno.renameSync(temp, path);
  console.log(`wrote ${path}`);
} else {
  console.log(table());
  const q = new Float32Array(HEAD_DIM).map((_, d) => Math.sin(d + 1));
  const k = new Float32Array(HEAD_DIM).map((_, d) => Math.cos(3 * d));
  console.log(`q at 5,  k at 3:  q·k = ${rotatedDot(q, k, 5, 3).toFixed(5)}`);
  console.log(`q at 12, k at 10: q·k = ${rotatedDot(q, k, 12, 10).toFixed(5)}  (same distance)`);
  console.log(`q at 12, k at 3:  q·k = ${rotatedDot(q, k, 12, 3).toFixed(5)}`);
}
