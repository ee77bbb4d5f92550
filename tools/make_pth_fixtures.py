#!/usr/bin/python3
"""Write the `.pth`, pickle and zip fixtures under tests/fixtures/pth/ with real PyTorch.

Every expected value in the JSON sidecars is computed here by PyTorch, Python's `zipfile`
and Python's `pickle`, so the TypeScript tests compare against those implementations, never
against our own reader.

Usage (from the repository root):

    /usr/bin/python3 tools/make_pth_fixtures.py             # small fixtures (~250 KB)
    /usr/bin/python3 tools/make_pth_fixtures.py --big PATH  # also a > 4 GiB torch.save file
                                                             # (ZIP64) + PATH.json; not committed

Outputs (all small):
  dtypes.pth          bf16/f16/f32 tensors, a storage shared by several tensors, storage
                      offsets, a 0-dim tensor, size-1 dims, an empty tensor, an nn.Parameter
  noncontiguous.pth   a transposed tensor (strides (1, 3)): must be rejected
  zip64.pth           dtypes.pth re-packed by Python's zipfile with ZIP64 extra fields in every
                      header (torch writes those only past 4 GiB; its ZIP64 end records it
                      writes always), end-record fields deferred to ZIP64, 64-byte aligned
                      data and an archive comment
  misaligned.pth      dtypes.pth re-packed without alignment padding: must be rejected
  deflated.pth        dtypes.pth re-packed with compressed entries: must be rejected
  tiny_untied/        params.json + consolidated.00.pth (plain dict, output.weight, rope.freqs)
  tiny_tied/          params.json + consolidated.00.pth (OrderedDict with _metadata, no output)
  pickles/*.pkl       plain pickles of protocol 2 and 4
  expected.json       names, dtypes, shapes, strides, sample values, zip listings, pickle values
"""

import argparse
import collections
import json
import math
import os
import pickle
import struct
import sys
import zipfile

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "pth")

DTYPE_NAMES = {torch.bfloat16: "bf16", torch.float16: "f16", torch.float32: "f32"}
BITS_VIEW = {torch.bfloat16: torch.int16, torch.float16: torch.int16, torch.float32: torch.int32}
BITS_MASK = {torch.bfloat16: 0xFFFF, torch.float16: 0xFFFF, torch.float32: 0xFFFFFFFF}


def sample_indices(numel):
    """A few flat indices: first, last and two in between."""
    if numel == 0:
        return []
    return sorted({0, numel // 3, (2 * numel) // 3, numel - 1})


def describe_tensor(name, t):
    """What PyTorch says about one tensor: dtype, shape, stride, offset and sample values."""
    flat = t.contiguous().reshape(-1)
    bits = flat.view(BITS_VIEW[t.dtype])
    samples = []
    for i in sample_indices(flat.numel()):
        samples.append({
            "index": i,
            "value": float(flat[i].float().item()),
            "bits": int(bits[i].item()) & BITS_MASK[t.dtype],
        })
    return {
        "name": name,
        "dtype": DTYPE_NAMES[t.dtype],
        "shape": list(t.shape),
        "stride": list(t.stride()),
        "storage_offset": t.storage_offset(),
        "numel": t.numel(),
        "contiguous": t.is_contiguous(),
        "samples": samples,
    }


def zip_listing(path):
    """Python's zipfile view of an archive, with each entry's data offset from its local header."""
    out = []
    with zipfile.ZipFile(path) as zf, open(path, "rb") as f:
        for info in zf.infolist():
            f.seek(info.header_offset)
            header = f.read(30)
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            out.append({
                "name": info.filename,
                "method": info.compress_type,
                "size": info.file_size,
                "compressed_size": info.compress_size,
                "local_header_offset": info.header_offset,
                "data_offset": info.header_offset + 30 + name_len + extra_len,
                "crc32": info.CRC,
            })
    return out


def save_state_dict(path, state):
    torch.save(state, path)
    return {
        "tensors": [describe_tensor(k, v) for k, v in state.items()],
        "zip": zip_listing(path),
        "size": os.path.getsize(path),
    }


def make_dtypes(dirpath):
    g = torch.Generator().manual_seed(1)
    matrix = torch.randn(3, 5, generator=g).to(torch.bfloat16)
    state = {
        "bf16.matrix": matrix,
        "bf16.rows": matrix[1:],  # same storage, offset 5
        "bf16.row2": matrix[2],  # same storage, offset 10
        "f16.vector": torch.randn(7, generator=g).to(torch.float16),
        "f32.matrix": torch.randn(4, 3, generator=g),
        "f32.scalar": torch.tensor(3.25),
        "f32.unit_dims": torch.randn(1, 4, 1, generator=g),
        "f16.empty": torch.zeros(0, 3, dtype=torch.float16),
        "f32.parameter": torch.nn.Parameter(torch.randn(2, 2, generator=g)),
    }
    # A storage shared by two tensors: the tail of a bigger f32 buffer.
    big = torch.randn(10, generator=g)
    state["f32.buffer"] = big
    state["f32.tail"] = big[6:].view(2, 2)
    return save_state_dict(os.path.join(dirpath, "dtypes.pth"), state)


def make_noncontiguous(dirpath):
    g = torch.Generator().manual_seed(2)
    state = {
        "fine": torch.randn(2, 2, generator=g).to(torch.bfloat16),
        "transposed": torch.randn(4, 3, generator=g).to(torch.bfloat16).t(),
    }
    return save_state_dict(os.path.join(dirpath, "noncontiguous.pth"), state)


def repack(src, dst, *, zip64, align, method, comment=b""):
    """Copy a torch archive entry by entry with Python's zipfile.

    zip64: lower zipfile's ZIP64 threshold so every entry gets a ZIP64 extra field (sizes and
    header offset) and the archive gets ZIP64 end records, as a > 4 GiB torch file would.
    align: pad each local header with an extra field so the data starts on a 64-byte boundary.
    """
    saved_limit, saved_count = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
    if zip64:
        zipfile.ZIP64_LIMIT = 1
        zipfile.ZIP_FILECOUNT_LIMIT = 1
    try:
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", method) as zout:
            zout.comment = comment
            for info in zin.infolist():
                data = zin.read(info)
                zinfo = zipfile.ZipInfo(info.filename, date_time=(2024, 7, 23, 0, 0, 0))
                zinfo.compress_type = method
                zinfo.file_size = len(data)
                if align:
                    offset = zout.fp.tell()
                    fixed = 30 + len(info.filename.encode()) + (20 if zip64 else 0) + 4
                    pad = (-(offset + fixed)) % 64
                    zinfo.extra = struct.pack("<HH", 0x4642, pad) + b"Z" * pad
                with zout.open(zinfo, "w", force_zip64=zip64) as w:
                    w.write(data)
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = saved_limit, saved_count
    if zip64:
        # Mark the classic end record's fields as "see ZIP64 record", like an archive whose
        # central directory lies beyond 4 GiB: a reader must follow the ZIP64 locator.
        with open(dst, "r+b") as f:
            data = f.read()
            eocd = data.rfind(b"PK\x05\x06")
            f.seek(eocd + 8)
            f.write(struct.pack("<HHII", 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF))
    listing = zip_listing(dst)
    return listing


def check_alignment(listing, want_aligned):
    aligned = all(e["data_offset"] % 64 == 0 for e in listing if "/data/" in e["name"])
    if aligned != want_aligned:
        sys.exit(f"alignment of repacked archive is {aligned}, wanted {want_aligned}")


def meta_hidden_dim(dim, multiple_of, ffn_dim_multiplier):
    """FeedForward hidden size exactly as Meta's llama3 reference (model.py) computes it."""
    hidden_dim = 4 * dim
    hidden_dim = int(2 * hidden_dim / 3)
    if ffn_dim_multiplier is not None:
        hidden_dim = int(ffn_dim_multiplier * hidden_dim)
    hidden_dim = multiple_of * ((hidden_dim + multiple_of - 1) // multiple_of)
    return hidden_dim


def make_model(dirpath, *, tied, seed):
    os.makedirs(dirpath, exist_ok=True)
    params = {
        "dim": 32,
        "n_layers": 2,
        "n_heads": 4,
        "n_kv_heads": 2,
        "vocab_size": 64,
        "multiple_of": 16,
        "ffn_dim_multiplier": 1.3,
        "norm_eps": 1e-05,
        "rope_theta": 500000.0,
        "use_scaled_rope": True,
    }
    dim, n_heads, n_kv = params["dim"], params["n_heads"], params["n_kv_heads"]
    head_dim = dim // n_heads
    kv_dim = n_kv * head_dim
    hidden = meta_hidden_dim(dim, params["multiple_of"], params["ffn_dim_multiplier"])
    g = torch.Generator().manual_seed(seed)

    def w(*shape):
        return (torch.randn(*shape, generator=g) * 0.1).to(torch.bfloat16)

    state = collections.OrderedDict() if tied else {}
    state["tok_embeddings.weight"] = w(params["vocab_size"], dim)
    for i in range(params["n_layers"]):
        p = f"layers.{i}."
        state[p + "attention.wq.weight"] = w(n_heads * head_dim, dim)
        state[p + "attention.wk.weight"] = w(kv_dim, dim)
        state[p + "attention.wv.weight"] = w(kv_dim, dim)
        state[p + "attention.wo.weight"] = w(dim, n_heads * head_dim)
        state[p + "feed_forward.w1.weight"] = w(hidden, dim)
        state[p + "feed_forward.w2.weight"] = w(dim, hidden)
        state[p + "feed_forward.w3.weight"] = w(hidden, dim)
        state[p + "attention_norm.weight"] = (1 + w(dim).float()).to(torch.bfloat16)
        state[p + "ffn_norm.weight"] = (1 + w(dim).float()).to(torch.bfloat16)
    state["norm.weight"] = (1 + w(dim).float()).to(torch.bfloat16)
    if tied:
        # What nn.Module.state_dict() returns: an OrderedDict carrying _metadata (pickled
        # with BUILD).
        state._metadata = {"": {"version": 1}}
    else:
        state["output.weight"] = w(params["vocab_size"], dim)
        # An extra tensor Llama 2 checkpoints carry; the loader must keep but ignore it.
        state["rope.freqs"] = torch.arange(head_dim // 2, dtype=torch.float32) / head_dim

    with open(os.path.join(dirpath, "params.json"), "w") as f:
        json.dump(params, f)
    pth = os.path.join(dirpath, "consolidated.00.pth")
    torch.save(state, pth)
    tensors = [describe_tensor(k, v) for k, v in state.items()]
    return {
        "params": params,
        "derived": {
            "head_dim": head_dim,
            "kv_dim": kv_dim,
            "hidden_dim": hidden,
            "n_rep": n_heads // n_kv,
            "tied_embeddings": tied,
            "parameter_count": sum(v.numel() for v in state.values()),
            "size_bytes": sum(v.numel() * v.element_size() for v in state.values()),
        },
        "tensors": tensors,
        "zip": zip_listing(pth),
    }


class Point:
    """A plain class, pickled by reference (GLOBAL + NEWOBJ/REDUCE + BUILD)."""

    def __init__(self, x, y):
        self.x = x
        self.y = y


def tagged(v):
    """JSON form of a Python value that keeps what JSON loses (tuples, bytes, big ints...)."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v if abs(v) <= 2**53 - 1 else {"$int": str(v)}
    if isinstance(v, float):
        if math.isnan(v):
            return {"$float": "nan"}
        if math.isinf(v):
            return {"$float": "inf" if v > 0 else "-inf"}
        if v == 0 and math.copysign(1, v) < 0:
            return {"$float": "-0"}
        return v
    if isinstance(v, bytes):
        return {"$bytes": v.hex()}
    if isinstance(v, tuple):
        return {"$tuple": [tagged(x) for x in v]}
    if isinstance(v, list):
        return [tagged(x) for x in v]
    if isinstance(v, (set, frozenset)):
        return {"$set": sorted((tagged(x) for x in v), key=json.dumps)}
    if isinstance(v, dict):
        return {"$dict": [[tagged(k), tagged(x)] for k, x in v.items()]}
    if isinstance(v, Point):
        return {"$object": "Point", "state": tagged(vars(v))}
    raise TypeError(type(v))


def make_pickles(dirpath):
    os.makedirs(dirpath, exist_ok=True)
    shared = ["shared", 1]
    value = {
        "ints": [0, 1, -1, 255, 256, 65535, 65536, 2**31 - 1, -(2**31), 2**31, 2**40,
                 -(2**40), 2**53 - 1, 2**64 + 5, -(2**70)],
        "floats": [0.0, -0.0, 1.5, -2.25, 1e300, 5e-324, float("inf"), float("nan")],
        "strings": ["", "a", "héllo", "😀 emoji", "x" * 300],
        "bools": [True, False, None],
        "bytes": [b"", b"\x00\xff\x10", b"y" * 300],
        "tuples": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)],
        "nested": {"a": {"b": [1, (2, "c")]}, 7: "int key", (1, 2): "tuple key"},
        "ordered": collections.OrderedDict([("z", 1), ("y", 2)]),
        "set": {1, 2, 3},
        "frozenset": frozenset(["q"]),
        "memo": [shared, shared],
        "object": Point(1, "two"),
        "many": list(range(1000)),
    }
    # Enough distinct memoized objects that LONG_BINPUT / LONG_BINGET appear.
    value["strings_many"] = [f"s{i}" for i in range(300)]
    value["strings_many_again"] = value["strings_many"]
    value["late_refs"] = [value["strings_many"][-1], value["strings_many"][-2]]
    files = {}
    for protocol in (2, 3, 4, 5):
        name = f"protocol{protocol}.pkl"
        with open(os.path.join(dirpath, name), "wb") as f:
            pickle.dump(value, f, protocol=protocol)
        files[name] = protocol
    return {"files": files, "value": tagged(value)}


def make_big(path):
    """A > 4 GiB torch.save file: torch writes ZIP64 records. Not committed (4.3 GB)."""
    g = torch.Generator().manual_seed(3)
    n = (4 << 30) // 2 + 4096  # bf16 elements: a bit over 4 GiB of data
    state = {
        "small.before": torch.randn(8, generator=g).to(torch.bfloat16),
        "huge": torch.zeros(n, dtype=torch.bfloat16),
        "small.after": torch.randn(3, 4, generator=g),
    }
    state["huge"][0] = 1.5
    state["huge"][n - 1] = -2.0
    expected = save_state_dict(path, state)
    with open(path + ".json", "w") as f:
        json.dump(expected, f, indent=1)
    print(f"wrote {path} ({os.path.getsize(path)} bytes) and {path}.json")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", help="also write a > 4 GiB .pth (ZIP64) at this path")
    args = parser.parse_args()
    os.makedirs(ROOT, exist_ok=True)
    expected = {"torch_version": torch.__version__, "files": {}}
    expected["files"]["dtypes.pth"] = make_dtypes(ROOT)
    expected["files"]["noncontiguous.pth"] = make_noncontiguous(ROOT)

    src = os.path.join(ROOT, "dtypes.pth")
    zip64 = repack(src, os.path.join(ROOT, "zip64.pth"), zip64=True, align=True,
                   method=zipfile.ZIP_STORED, comment=b"repacked by Python zipfile with ZIP64")
    check_alignment(zip64, True)
    expected["files"]["zip64.pth"] = {"zip": zip64}
    misaligned = repack(src, os.path.join(ROOT, "misaligned.pth"), zip64=False, align=False,
                        method=zipfile.ZIP_STORED)
    if all(e["data_offset"] % 2 == 0 for e in misaligned):
        sys.exit("misaligned.pth happens to be aligned; change entry names")
    expected["files"]["misaligned.pth"] = {"zip": misaligned}
    deflated = repack(src, os.path.join(ROOT, "deflated.pth"), zip64=False, align=False,
                      method=zipfile.ZIP_DEFLATED)
    expected["files"]["deflated.pth"] = {"zip": deflated}

    expected["models"] = {
        "tiny_untied": make_model(os.path.join(ROOT, "tiny_untied"), tied=False, seed=10),
        "tiny_tied": make_model(os.path.join(ROOT, "tiny_tied"), tied=True, seed=11),
    }
    expected["pickles"] = make_pickles(os.path.join(ROOT, "pickles"))
    with open(os.path.join(ROOT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print(f"wrote fixtures under {os.path.normpath(ROOT)}")
    if args.big:
        make_big(args.big)


if __name__ == "__main__":
    main()
