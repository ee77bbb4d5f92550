#!/usr/bin/python3
"""Write golden outputs for llama-bolts' forward pass.

Dev-only. Run from anywhere with Debian's PyTorch:

    /usr/bin/python3 tools/make_golden.py            # every case
    /usr/bin/python3 tools/make_golden.py tied       # only the named case(s)

For each case below it writes, under tests/fixtures/golden/<case>/:

  params.json          Meta's params.json for the tiny random model
  consolidated.00.pth  torch.save(state_dict), Meta's tensor names, bf16 (or f16) tensors
  golden.json          metadata: config, prompt ids, greedy ids, margins, logits std, ...
  logits.f32           [steps, vocab] little-endian float32; row k is the distribution that
                       greedy id k was picked from (row 0 = last prompt position after prefill)
  prefill_logits.f32   [len(prefillPositions), vocab] logits of the prefill pass at a few
                       prompt positions (checks the causal mask of a batched prefill)
  hidden.f32           [n_layers + 1, dim] residual stream at the last prompt position:
                       row 0 = embedding row, row i = after layer i (before the final norm)

The reference below is a plain float32 PyTorch transcription of Meta's Llama 3 reference model
(llama-models, reference_impl/model.py), written for this project. Weights are stored in a
16-bit type and widened to float32, so the reference sees exactly the stored values. Only the
RoPE angles are computed in float64 (then cos/sin are rounded to float32).

Everything is deterministic: fixed seeds; a seed is bumped (and the bump recorded) when a greedy
step's top-2 logit margin is below MIN_MARGIN, so that float32 rounding-order differences in
another implementation cannot flip a greedy id.
"""

import collections
import json
import math
import pathlib
import sys

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "tests" / "fixtures" / "golden"

# A greedy step whose best two logits are closer than this is considered ambiguous.
MIN_MARGIN = 0.05
# A greedy run stuck repeating one or two ids tests little; ask for at least this many distinct.
MIN_DISTINCT_IDS = 8
# How many seeds to try per case before giving up.
MAX_SEED_TRIES = 50

CASES = [
    {
        # Llama 3.1-style: grouped-query attention 4:1, scaled RoPE, bf16, separate output.
        "name": "gqa_scaled",
        "params": {
            "dim": 128,
            "n_layers": 2,
            "n_heads": 8,
            "n_kv_heads": 2,
            "vocab_size": 384,
            "multiple_of": 32,
            "ffn_dim_multiplier": 1.3,
            "norm_eps": 1e-5,
            "rope_theta": 500000.0,
            "use_scaled_rope": True,
        },
        "dtype": "bf16",
        "tied": False,
        "prompt_len": 320,
        "steps": 32,
        "seed": 1001,
    },
    {
        # Llama 3.2-style: tied embeddings (no output.weight), scaled RoPE, bf16, GQA 2:1.
        "name": "tied",
        "params": {
            "dim": 64,
            "n_layers": 2,
            "n_heads": 4,
            "n_kv_heads": 2,
            "vocab_size": 256,
            "multiple_of": 16,
            "ffn_dim_multiplier": 1.5,
            "norm_eps": 1e-5,
            "rope_theta": 500000.0,
            "use_scaled_rope": True,
        },
        "dtype": "bf16",
        "tied": True,
        # Stronger layer outputs: with tied weights the last token's own embedding in the
        # residual stream otherwise wins every argmax and greedy decoding repeats one id.
        "residual_gain": 3.0,
        # Pickle the weights as an OrderedDict (what nn.Module.state_dict() returns) instead of
        # a plain dict, so the checkpoint reader sees both shapes across the cases.
        "ordered_dict": True,
        "prompt_len": 300,
        "steps": 32,
        "seed": 2001,
    },
    {
        # Llama 3.0-style: unscaled RoPE, float16 weights (covers the f16 path), GQA 4:1.
        "name": "llama3_unscaled",
        "params": {
            "dim": 64,
            "n_layers": 3,
            "n_heads": 4,
            "n_kv_heads": 1,
            "vocab_size": 320,
            "multiple_of": 32,
            "ffn_dim_multiplier": None,
            "norm_eps": 1e-5,
            "rope_theta": 500000.0,
            "use_scaled_rope": False,
        },
        "dtype": "f16",
        "tied": False,
        "prompt_len": 305,
        "steps": 32,
        "seed": 3001,
    },
]

TORCH_DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}


# ----------------------------------------------------------------------------------------------
# Configuration


def hidden_dim(p):
    """FFN size exactly as Meta's FeedForward computes it."""
    h = 4 * p["dim"]
    h = int(2 * h / 3)
    if p["ffn_dim_multiplier"] is not None:
        h = int(p["ffn_dim_multiplier"] * h)
    m = p["multiple_of"]
    return m * ((h + m - 1) // m)


# ----------------------------------------------------------------------------------------------
# Random weights in Meta's layout


def make_weights(p, dtype, tied, seed, residual_gain=1.0):
    """A state_dict with Meta's names and shapes, tensors in `dtype`.

    `residual_gain` scales wo and w2, i.e. how much each layer adds to the residual stream.
    """
    g = torch.Generator().manual_seed(seed)
    dim, n_heads, n_kv = p["dim"], p["n_heads"], p["n_kv_heads"]
    head_dim = dim // n_heads
    kv_dim = n_kv * head_dim
    hidden = hidden_dim(p)
    vocab = p["vocab_size"]

    def linear(out_features, in_features, gain):
        # nn.Linear layout [out, in]; std gain/sqrt(fan_in) keeps activations O(gain).
        std = gain / math.sqrt(in_features)
        return torch.randn(out_features, in_features, generator=g) * std

    def norm_weight():
        # Around 1 with visible noise, so a missing or misplaced norm weight shows.
        return 1.0 + 0.25 * torch.randn(dim, generator=g)

    sd = {}
    # With tied embeddings the embedding matrix is also the classifier: its scale sets the
    # logits' spread (std ~ emb_std * sqrt(dim)).
    emb_std = 0.5 if tied else 1.0
    sd["tok_embeddings.weight"] = torch.randn(vocab, dim, generator=g) * emb_std
    for i in range(p["n_layers"]):
        pre = f"layers.{i}."
        # q/k gain ~1.5 gives attention scores of a few units, so softmax is far from
        # uniform and RoPE angles change the result.
        sd[pre + "attention.wq.weight"] = linear(n_heads * head_dim, dim, 1.5)
        sd[pre + "attention.wk.weight"] = linear(kv_dim, dim, 1.5)
        sd[pre + "attention.wv.weight"] = linear(kv_dim, dim, 1.0)
        sd[pre + "attention.wo.weight"] = linear(dim, n_heads * head_dim, residual_gain)
        sd[pre + "feed_forward.w1.weight"] = linear(hidden, dim, 1.0)
        sd[pre + "feed_forward.w2.weight"] = linear(dim, hidden, residual_gain)
        sd[pre + "feed_forward.w3.weight"] = linear(hidden, dim, 1.0)
        sd[pre + "attention_norm.weight"] = norm_weight()
        sd[pre + "ffn_norm.weight"] = norm_weight()
    sd["norm.weight"] = norm_weight()
    if not tied:
        sd["output.weight"] = linear(vocab, dim, 4.0)
    # Round to the stored type (round-to-nearest-even) and make every tensor own its storage.
    return {k: v.to(TORCH_DTYPES[dtype]).contiguous().clone() for k, v in sd.items()}


# ----------------------------------------------------------------------------------------------
# Reference model (float32)


def apply_scaling(freqs):
    """Llama 3.1's RoPE frequency scaling (per frequency, as Meta's reference does it)."""
    scale_factor = 8.0
    low_freq_factor = 1.0
    high_freq_factor = 4.0
    old_context_len = 8192.0
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_freq_wavelen:
            out.append(freq)
        elif wavelen > low_freq_wavelen:
            out.append(freq / scale_factor)
        else:
            smooth = (old_context_len / wavelen - low_freq_factor) / (
                high_freq_factor - low_freq_factor
            )
            out.append((1 - smooth) * freq / scale_factor + smooth * freq)
    return out


def rope_frequencies(head_dim, theta, use_scaled):
    """theta^(-2i/head_dim) for i < head_dim/2, in float64 (Python floats)."""
    freqs = [1.0 / (theta ** (2 * i / head_dim)) for i in range(head_dim // 2)]
    return apply_scaling(freqs) if use_scaled else freqs


def rope_tables(
    head_dim, theta, use_scaled, n_positions, angle_dtype=torch.float64, out_dtype=torch.float32
):
    """cos/sin [n_positions, head_dim/2] (float32 by default) of angle = position * freq."""
    freqs = torch.tensor(rope_frequencies(head_dim, theta, use_scaled), dtype=angle_dtype)
    t = torch.arange(n_positions, dtype=angle_dtype)
    angles = torch.outer(t, freqs)
    return torch.cos(angles).to(out_dtype), torch.sin(angles).to(out_dtype)


def rms_norm(x, weight, eps):
    """x [T, dim] -> x * rsqrt(mean(x^2) + eps) * weight."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def apply_rope(x, cos, sin):
    """x [T, heads, head_dim]; rotate pairs (2i, 2i+1) by angle[t, i] as a complex product."""
    t, heads, head_dim = x.shape
    xc = torch.view_as_complex(x.reshape(t, heads, head_dim // 2, 2).contiguous())
    rot = torch.complex(cos, sin)[:, None, :]  # [T, 1, head_dim/2]
    return torch.view_as_real(xc * rot).reshape(t, heads, head_dim)


def forward(w, p, tokens, cos, sin):
    """Full causal forward pass over `tokens` (positions 0..T-1).

    Returns logits [T, vocab] and the residual stream at the last position after the embedding
    and after each layer ([n_layers + 1, dim]).
    """
    dim, n_heads, n_kv = p["dim"], p["n_heads"], p["n_kv_heads"]
    head_dim = dim // n_heads
    n_rep = n_heads // n_kv
    eps = p["norm_eps"]
    T = len(tokens)
    cos, sin = cos[:T], sin[:T]

    h = w["tok_embeddings.weight"][torch.tensor(tokens)]  # [T, dim]
    trace = [h[-1].clone()]
    mask = torch.triu(torch.full((T, T), float("-inf"), dtype=h.dtype), diagonal=1)  # [T, T]
    for i in range(p["n_layers"]):
        pre = f"layers.{i}."
        # attention
        x = rms_norm(h, w[pre + "attention_norm.weight"], eps)
        q = (x @ w[pre + "attention.wq.weight"].T).view(T, n_heads, head_dim)
        k = (x @ w[pre + "attention.wk.weight"].T).view(T, n_kv, head_dim)
        v = (x @ w[pre + "attention.wv.weight"].T).view(T, n_kv, head_dim)
        q = apply_rope(q, cos, sin)
        k = apply_rope(k, cos, sin)
        # Query head j reads kv head j // n_rep (Meta's repeat_kv).
        k = k.repeat_interleave(n_rep, dim=1)
        v = v.repeat_interleave(n_rep, dim=1)
        q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)  # [H, T, hd]
        scores = (q @ k.transpose(1, 2)) / math.sqrt(head_dim) + mask  # [H, T, T]
        scores = torch.softmax(scores, dim=-1)
        att = (scores @ v).transpose(0, 1).reshape(T, n_heads * head_dim)  # [T, dim]
        h = h + att @ w[pre + "attention.wo.weight"].T
        # feed-forward (SwiGLU)
        x = rms_norm(h, w[pre + "ffn_norm.weight"], eps)
        gate = torch.nn.functional.silu(x @ w[pre + "feed_forward.w1.weight"].T)
        up = x @ w[pre + "feed_forward.w3.weight"].T
        h = h + (gate * up) @ w[pre + "feed_forward.w2.weight"].T
        trace.append(h[-1].clone())
    x = rms_norm(h, w["norm.weight"], eps)
    out = w["output.weight"] if "output.weight" in w else w["tok_embeddings.weight"]
    return x @ out.T, torch.stack(trace)


def run_case(w16, p, prompt, steps, use_scaled=None, angle_dtype=torch.float64):
    """Prefill then greedy decoding; each step recomputes the whole sequence."""
    w = {k: v.float() for k, v in w16.items()}
    scaled = p["use_scaled_rope"] if use_scaled is None else use_scaled
    head_dim = p["dim"] // p["n_heads"]
    cos, sin = rope_tables(head_dim, p["rope_theta"], scaled, len(prompt) + steps, angle_dtype)
    tokens = list(prompt)
    rows, ids, margins = [], [], []
    prefill_logits = hidden = None
    with torch.no_grad():
        for step in range(steps):
            logits, trace = forward(w, p, tokens, cos, sin)
            if step == 0:
                prefill_logits, hidden = logits, trace
            row = logits[-1]
            top2 = torch.topk(row, 2).values
            next_id = int(torch.argmax(row))
            rows.append(row)
            ids.append(next_id)
            margins.append(float(top2[0] - top2[1]))
            tokens.append(next_id)
    return {
        "logits": torch.stack(rows),
        "ids": ids,
        "margins": margins,
        "prefill_logits": prefill_logits,
        "hidden": hidden,
    }


# ----------------------------------------------------------------------------------------------
# Output


def to_json(value, indent=""):
    """JSON with one key per line but lists of numbers on a single line (ids stay readable)."""
    inner = indent + "  "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {to_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return "[\n" + ",\n".join(inner + to_json(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value)


def write_f32(path, tensor):
    path.write_bytes(tensor.detach().numpy().astype("<f4").tobytes())


def prefill_positions(prompt_len):
    picks = [0, 1, 2, 7, 63, 128, 255, prompt_len - 2, prompt_len - 1]
    return sorted({q for q in picks if 0 <= q < prompt_len})


def make_case(case):
    p = case["params"]
    head_dim = p["dim"] // p["n_heads"]
    assert p["dim"] % p["n_heads"] == 0 and p["n_heads"] % p["n_kv_heads"] == 0
    name = case["name"]

    for attempt in range(MAX_SEED_TRIES):
        seed = case["seed"] + attempt
        w16 = make_weights(p, case["dtype"], case["tied"], seed, case.get("residual_gain", 1.0))
        g = torch.Generator().manual_seed(seed + 500_000)
        prompt = torch.randint(0, p["vocab_size"], (case["prompt_len"],), generator=g).tolist()
        result = run_case(w16, p, prompt, case["steps"])
        min_margin = min(result["margins"])
        distinct = len(set(result["ids"]))
        if min_margin >= MIN_MARGIN and distinct >= MIN_DISTINCT_IDS:
            break
        print(
            f"{name}: seed {seed} has min greedy margin {min_margin:.4f} (want >= {MIN_MARGIN})"
            f" and {distinct} distinct greedy ids (want >= {MIN_DISTINCT_IDS}), retrying"
        )
    else:
        sys.exit(f"{name}: no seed in {MAX_SEED_TRIES} tries passes the margin/distinct checks")

    logits = result["logits"]
    # Same weights with the other RoPE variant: proves the scaling matters at these positions.
    other = run_case(w16, p, prompt, case["steps"], use_scaled=not p["use_scaled_rope"])
    # Only the first row is comparable position by position (later rows follow other ids).
    diff0 = (other["logits"][0] - logits[0]).abs()
    pre_diff = (other["prefill_logits"] - result["prefill_logits"]).abs()
    first_divergence = next(
        (i for i, (a, b) in enumerate(zip(result["ids"], other["ids"])) if a != b), None
    )
    # Meta computes the angles in float32; show how far that is from our float64 angles.
    f32_angles = run_case(w16, p, prompt, case["steps"], angle_dtype=torch.float32)
    f32_diff = float((f32_angles["logits"] - logits).abs().max())
    if f32_angles["ids"] != result["ids"]:
        sys.exit(f"{name}: float32 RoPE angles change the greedy ids; increase MIN_MARGIN")

    # The same math in float64 over prompt + greedy ids in one pass: how far float32 rounding
    # puts the golden logits from exact, i.e. the smallest tolerance a float32 engine can use.
    w64 = {k: v.double() for k, v in w16.items()}
    n = len(prompt) + case["steps"]
    cos64, sin64 = rope_tables(
        head_dim, p["rope_theta"], p["use_scaled_rope"], n, out_dtype=torch.float64
    )
    with torch.no_grad():
        exact, _ = forward(w64, p, prompt + result["ids"][:-1], cos64, sin64)
    f64_diff = float((exact[len(prompt) - 1 :].float() - logits).abs().max())

    # Sanity: recomputing later steps must reproduce the prefill's own logits at the last
    # prompt position (row 0 came from the prefill pass itself).
    assert torch.equal(result["prefill_logits"][-1], logits[0])

    out = OUT_DIR / name
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.iterdir():
        stale.unlink()
    (out / "params.json").write_text(json.dumps(p, indent=2) + "\n")
    container = collections.OrderedDict if case.get("ordered_dict") else dict
    torch.save(container(w16), out / "consolidated.00.pth")
    write_f32(out / "logits.f32", logits)
    positions = prefill_positions(len(prompt))
    write_f32(out / "prefill_logits.f32", result["prefill_logits"][positions])
    write_f32(out / "hidden.f32", result["hidden"])

    std = float(logits.std())
    margins = result["margins"]
    meta = {
        "name": name,
        "description": case_description(case),
        "params": p,
        "derived": {
            "headDim": head_dim,
            "kvDim": p["n_kv_heads"] * head_dim,
            "hiddenDim": hidden_dim(p),
            "ropeFrequencies": rope_frequencies(head_dim, p["rope_theta"], p["use_scaled_rope"]),
        },
        "weightDtype": case["dtype"],
        "tiedEmbeddings": case["tied"],
        "seed": seed,
        "residualGain": case.get("residual_gain", 1.0),
        "pickledAs": "collections.OrderedDict" if case.get("ordered_dict") else "dict",
        "promptLength": len(prompt),
        "steps": case["steps"],
        "promptIds": prompt,
        "greedyIds": result["ids"],
        "logits": {
            "file": "logits.f32",
            "dtype": "float32",
            "endian": "little",
            "rows": logits.shape[0],
            "cols": logits.shape[1],
            "rowMeaning": "row k = logits at sequence position promptLength - 1 + k;"
            + " greedyIds[k] = argmax(row k)",
        },
        "prefillLogits": {
            "file": "prefill_logits.f32",
            "dtype": "float32",
            "endian": "little",
            "positions": positions,
            "cols": logits.shape[1],
        },
        "hidden": {
            "file": "hidden.f32",
            "dtype": "float32",
            "endian": "little",
            "rows": p["n_layers"] + 1,
            "cols": p["dim"],
            "rowMeaning": "residual stream at position promptLength - 1: row 0 = embedding,"
            + " row i = after layer i (before the final norm)",
        },
        "logitsStd": round(std, 6),
        "greedyMargins": [round(m, 6) for m in margins],
        "minGreedyMargin": round(min(margins), 6),
        "distinctGreedyIds": len(set(result["ids"])),
        "otherRope": {
            "useScaledRope": not p["use_scaled_rope"],
            "maxAbsDiffRow0": round(float(diff0.max()), 6),
            "meanAbsDiffRow0": round(float(diff0.mean()), 6),
            "maxAbsDiffPrefillRows": round(float(pre_diff.max()), 6),
            "firstDifferentGreedyStep": first_divergence,
        },
        "float32AnglesMaxAbsDiff": f32_diff,
        "float64MaxAbsDiff": f64_diff,
        "reference": "float32 PyTorch " + torch.__version__ + "; RoPE angles in float64",
    }
    (out / "golden.json").write_text(to_json(meta) + "\n")

    rope_label = "scaled" if p["use_scaled_rope"] else "unscaled"
    print(
        f"{name}: seed {seed}, {case['dtype']}, tied={case['tied']}, dim {p['dim']},"
        f" layers {p['n_layers']}, heads {p['n_heads']}/{p['n_kv_heads']}, head_dim {head_dim},"
        f" hidden {hidden_dim(p)}, vocab {p['vocab_size']}, {rope_label} rope"
    )
    print(
        f"  logits std {std:.3f}, min greedy margin {min(margins):.4f},"
        f" distinct greedy ids {len(set(result['ids']))}/{len(result['ids'])}"
    )
    print(
        f"  other rope ({'unscaled' if p['use_scaled_rope'] else 'scaled'}): row-0 max |diff|"
        f" {float(diff0.max()):.4f} (mean {float(diff0.mean()):.4f}), prefill rows max |diff|"
        f" {float(pre_diff.max()):.4f}, greedy ids first differ at step {first_divergence}"
    )
    print(f"  float32 angles vs float64 angles: max |logit diff| {f32_diff:.2e}")
    print(f"  float32 reference vs float64 math: max |logit diff| {f64_diff:.2e}")
    if float(diff0.max()) < 0.1:
        sys.exit(f"{name}: RoPE scaling barely changes the logits; pick other sizes")
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"  wrote {out.relative_to(ROOT)} ({size / 1024:.1f} KiB)")
    return size


def case_description(case):
    p = case["params"]
    parts = [
        "scaled RoPE (Llama 3.1)" if p["use_scaled_rope"] else "unscaled RoPE (Llama 3.0)",
        f"GQA {p['n_heads']}:{p['n_kv_heads']}",
        "tied embeddings (no output.weight)" if case["tied"] else "separate output.weight",
        f"{case['dtype']} weights",
    ]
    return ", ".join(parts)


def main():
    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(1)  # one summation order on every run
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    wanted = sys.argv[1:] or [case["name"] for case in CASES]
    unknown = set(wanted) - {case["name"] for case in CASES}
    if unknown:
        sys.exit(f"unknown case(s) {sorted(unknown)}; known: {[c['name'] for c in CASES]}")
    total = sum(make_case(case) for case in CASES if case["name"] in wanted)
    print(f"total {total / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
