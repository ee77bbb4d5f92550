"""Writes tests/fixtures/quant/*: ggml block-type fixtures decoded by an independent reference.

For every block type (Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K) this script makes random blocks
(random bytes, with the float16 scale fields set to finite values of a realistic range) and
decodes them with the decoder below, written from ggml's definitions (ggml-common.h for the
layouts, dequantize_row_* in ggml-quants.c for the formulas), in numpy float32 arithmetic:

    <type>.blocks  the blocks, row after row
    <type>.f32     what they decode to (little-endian float32)

For the round-to-nearest types (Q8_0, Q4_0, Q5_0) it also quantizes random floats as ggml's
quantize_row_*_ref does (float32 arithmetic, roundf / truncation as in C):

    <type>_quantize.f32     the input floats
    <type>_quantize.blocks  the blocks ggml's reference quantizer writes for them

Run with Debian's Python: /usr/bin/python3 tools/make_quant_fixtures.py
"""

import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "quant")
F = np.float32

LAYOUT = {  # elements per block, bytes per block
    "q8_0": (32, 34),
    "q4_0": (32, 18),
    "q5_0": (32, 22),
    "q4_k": (256, 144),
    "q5_k": (256, 176),
    "q6_k": (256, 210),
}


def half(b, at):
    return F(np.frombuffer(bytes(b[at : at + 2]), dtype="<f2")[0])


def i8(v):
    return v - 256 if v >= 128 else v


def decode_q8_0(b):
    d = half(b, 0)
    return [F(d * F(i8(b[2 + j]))) for j in range(32)]


def decode_q4_0(b):
    d = half(b, 0)
    y = [F(0)] * 32
    for j in range(16):
        y[j] = F(d * F((b[2 + j] & 0x0F) - 8))
        y[j + 16] = F(d * F((b[2 + j] >> 4) - 8))
    return y


def decode_q5_0(b):
    d = half(b, 0)
    qh = int.from_bytes(bytes(b[2:6]), "little")
    y = [F(0)] * 32
    for j in range(16):
        low = (b[6 + j] & 0x0F) | (((qh >> j) & 1) << 4)
        high = (b[6 + j] >> 4) | (((qh >> (j + 16)) & 1) << 4)
        y[j] = F(d * F(low - 16))
        y[j + 16] = F(d * F(high - 16))
    return y


def k_scale_min(s, j):
    """Sub-block j's 6-bit scale and min from the 12 bytes s (ggml's get_scale_min_k4)."""
    if j < 4:
        return s[j] & 63, s[j + 4] & 63
    return (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4)


def decode_q4_k(b):
    d, dmin = half(b, 0), half(b, 2)
    s, qs = b[4:16], b[16:144]
    y = []
    for c in range(4):
        sc0, m0 = k_scale_min(s, 2 * c)
        sc1, m1 = k_scale_min(s, 2 * c + 1)
        d0, o0, d1, o1 = F(d * F(sc0)), F(dmin * F(m0)), F(d * F(sc1)), F(dmin * F(m1))
        q = qs[32 * c : 32 * c + 32]
        y += [F(F(d0 * F(v & 0xF)) - o0) for v in q]
        y += [F(F(d1 * F(v >> 4)) - o1) for v in q]
    return y


def decode_q5_k(b):
    d, dmin = half(b, 0), half(b, 2)
    s, qh, qs = b[4:16], b[16:48], b[48:176]
    y = []
    for c in range(4):
        sc0, m0 = k_scale_min(s, 2 * c)
        sc1, m1 = k_scale_min(s, 2 * c + 1)
        d0, o0, d1, o1 = F(d * F(sc0)), F(dmin * F(m0)), F(d * F(sc1)), F(dmin * F(m1))
        q = qs[32 * c : 32 * c + 32]
        y += [F(F(d0 * F((v & 0xF) + (16 if qh[l] & (1 << (2 * c)) else 0))) - o0) for l, v in enumerate(q)]
        y += [F(F(d1 * F((v >> 4) + (16 if qh[l] & (2 << (2 * c)) else 0))) - o1) for l, v in enumerate(q)]
    return y


def decode_q6_k(b):
    ql, qh, sc, d = b[0:128], b[128:192], b[192:208], half(b, 208)
    y = [F(0)] * 256
    for c in range(2):
        for l in range(32):
            h = qh[32 * c + l]
            a, e = ql[64 * c + l], ql[64 * c + 32 + l]
            qs = [
                (a & 0xF) | ((h & 3) << 4),
                (e & 0xF) | (((h >> 2) & 3) << 4),
                (a >> 4) | (((h >> 4) & 3) << 4),
                (e >> 4) | (((h >> 6) & 3) << 4),
            ]
            for k in range(4):
                idx = 128 * c + 32 * k + l
                y[idx] = F(F(d * F(i8(sc[idx // 16]))) * F(qs[k] - 32))
    return y


DECODERS = {
    "q8_0": decode_q8_0,
    "q4_0": decode_q4_0,
    "q5_0": decode_q5_0,
    "q4_k": decode_q4_k,
    "q5_k": decode_q5_k,
    "q6_k": decode_q6_k,
}

# Where each type keeps its float16 scales.
HALVES = {"q8_0": [0], "q4_0": [0], "q5_0": [0], "q4_k": [0, 2], "q5_k": [0, 2], "q6_k": [208]}


def random_half(rng):
    """A float16 of either sign with magnitude in [2^-14, 2^-2]: finite, as weights' scales."""
    v = np.float16(rng.choice([-1, 1]) * 2.0 ** rng.uniform(-14, -2))
    return bytearray(np.array([v], dtype="<f2").tobytes())


def make_blocks(rng, kind, count):
    _, size = LAYOUT[kind]
    blocks = bytearray(rng.integers(0, 256, size=count * size, dtype=np.uint8).tobytes())
    for i in range(count):
        for at in HALVES[kind]:
            blocks[i * size + at : i * size + at + 2] = random_half(rng)
    return blocks


def roundf(v):
    return int(np.sign(v) * np.floor(abs(float(v)) + 0.5))


def signed_max(x):
    amax, mx = F(0), F(0)
    for v in x:
        if amax < abs(v):
            amax, mx = abs(v), v
    return mx


def quantize_q8_0(x):
    amax = F(max(abs(v) for v in x))
    d = F(amax / F(127))
    idv = F(F(1) / d) if d != 0 else F(0)
    out = bytearray(np.array([np.float16(d)], dtype="<f2").tobytes())
    out += bytes((roundf(F(v * idv)) & 0xFF) for v in x)
    return out


def quantize_q4_0(x):
    d = F(signed_max(x) / F(-8))
    idv = F(F(1) / d) if d != 0 else F(0)
    out = bytearray(np.array([np.float16(d)], dtype="<f2").tobytes())
    for j in range(16):
        lo = min(15, int(np.trunc(F(F(x[j] * idv) + F(8.5)))))
        hi = min(15, int(np.trunc(F(F(x[j + 16] * idv) + F(8.5)))))
        out.append(lo | (hi << 4))
    return out


def quantize_q5_0(x):
    d = F(signed_max(x) / F(-16))
    idv = F(F(1) / d) if d != 0 else F(0)
    out = bytearray(np.array([np.float16(d)], dtype="<f2").tobytes())
    qs, qh = bytearray(), 0
    for j in range(16):
        lo = min(31, int(np.trunc(F(F(x[j] * idv) + F(16.5)))))
        hi = min(31, int(np.trunc(F(F(x[j + 16] * idv) + F(16.5)))))
        qs.append((lo & 0xF) | ((hi & 0xF) << 4))
        qh |= ((lo >> 4) << j) | ((hi >> 4) << (j + 16))
    return out + qh.to_bytes(4, "little") + qs


QUANTIZERS = {"q8_0": quantize_q8_0, "q4_0": quantize_q4_0, "q5_0": quantize_q5_0}


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20260214)
    manifest = {}
    for kind, decode in DECODERS.items():
        n, size = LAYOUT[kind]
        count = 48 if n == 32 else 8
        blocks = make_blocks(rng, kind, count)
        floats = []
        for i in range(count):
            floats += decode(blocks[i * size : (i + 1) * size])
        with open(os.path.join(OUT, f"{kind}.blocks"), "wb") as f:
            f.write(blocks)
        np.array(floats, dtype="<f4").tofile(os.path.join(OUT, f"{kind}.f32"))
        manifest[kind] = {"blocks": count, "elements": count * n}
    for kind, quantize in QUANTIZERS.items():
        x = rng.standard_normal(32 * 40).astype(F) * F(0.05)
        x[0:32] = 0  # an all-zero block: d = 0
        x[32:64] = np.abs(x[32:64])  # all positive: the signed maximum is positive
        x[64 + 5] = F(-1.5)  # one outlier of either sign
        x[96 + 17] = F(1.5)
        x[128:160] = np.round(x[128:160] * 127 / np.max(np.abs(x[128:160]))) / 127  # ties
        out = bytearray()
        for i in range(0, len(x), 32):
            out += quantize(list(x[i : i + 32]))
        x.astype("<f4").tofile(os.path.join(OUT, f"{kind}_quantize.f32"))
        with open(os.path.join(OUT, f"{kind}_quantize.blocks"), "wb") as f:
            f.write(out)
        manifest[f"{kind}_quantize"] = {"blocks": len(x) // 32, "elements": len(x)}
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
