#!/usr/bin/python3
"""Regenerate tinkerc's wire-layer reference fixtures (committed; CI never runs this).

    /usr/bin/python3 tests/data/wire/gen_fixtures.py      # needs python3-protobuf, protoc, numpy, torch

Everything here is produced by independent implementations, never by tinkerc:
  proto/*.pb      python3-protobuf (C++ backend) serialising tinker_public.proto (written from
                  reference/tinker-protocol.md §5) with deterministic=True
  proto/*.json    the same objects in the protocol's JSON form, written by Python's json module
  numbers.txt     Python's repr() of doubles and numpy's shortest repr of float32 values
  metrics.json    §6.5 chunk merging computed with numpy (np.sum, np.average, np.max, np.min) and
                  CPython's hash(), following the rules as the protocol reference states them
  datum_mean.json the cookbook's reduction="mean" weights computed with torch float32 ops
"""
import json
import math
import os
import random
import struct
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def load_pb2():
    tmp = tempfile.mkdtemp()
    subprocess.check_call(["protoc", "-I" + HERE, "--python_out=" + tmp, os.path.join(HERE, "tinker_public.proto")])
    sys.path.insert(0, tmp)
    import tinker_public_pb2  # noqa: E402
    return tinker_public_pb2


def f32(x):
    """A Python float holding the nearest float32 (what numpy's .tolist() gives)."""
    return float(np.float32(x))


def write(name, data, mode="w"):
    path = os.path.join(HERE, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(data)


# ---------------------------------------------------------------------------------------------
# protobuf fixtures
# ---------------------------------------------------------------------------------------------

def tensor_json(values, dtype, shape):
    return {"data": values, "dtype": dtype, "shape": shape}


def fill_tensor(pb, t, values, dtype, shape):
    if dtype == "int64":
        t.dense = np.asarray(values, dtype=np.int64).tobytes()
        t.dtype = pb.DTYPE_INT64
    else:
        t.dense = np.asarray(values, dtype=np.float32).tobytes()
        t.dtype = pb.DTYPE_FLOAT32
    t.shape.extend(shape)


def fb_request(pb, name, model_id, seq_id, loss_fn, config, datums, forward_only=False, encode=True):
    """datums: list of (chunks, {name: (values, dtype, shape)}); a chunk is ("text", [ids]) or
    ("image", bytes, format, expected_tokens|None)."""
    msg = pb.ForwardBackwardRequest()
    msg.model_id = model_id
    msg.seq_id = seq_id
    msg.loss_fn = loss_fn
    for k, v in (config or {}).items():
        msg.loss_fn_config[k] = v
    msg.forward_only = forward_only
    jdata = []
    for chunks, inputs in datums:
        d = msg.data.add()
        jchunks = []
        for c in chunks:
            ch = d.model_input.add()
            if c[0] == "text":
                ch.encoded_text.tokens = np.asarray(c[1], dtype=np.int32).tobytes()
                jchunks.append({"tokens": c[1], "type": "encoded_text"})
            else:
                import base64
                ch.image.data = c[1]
                ch.image.format = c[2]
                jc = {"data": base64.b64encode(c[1]).decode(), "format": c[2]}
                if c[3] is not None:
                    ch.image.expected_tokens = c[3]
                    jc["expected_tokens"] = c[3]
                jc["type"] = "image"
                jchunks.append(jc)
        jin = {}
        for key, (values, dtype, shape) in inputs.items():
            fill_tensor(pb, d.loss_fn_inputs[key], values, dtype, shape)
            jin[key] = tensor_json(values, dtype, shape)
        jdata.append({"model_input": {"chunks": jchunks}, "loss_fn_inputs": jin})
    body = {"data": jdata, "loss_fn": loss_fn}
    if config:
        body["loss_fn_config"] = config
    j = {"model_id": model_id, "seq_id": seq_id, ("forward_input" if forward_only else "forward_backward_input"): body}
    write("proto/%s.pb" % name, msg.SerializeToString(deterministic=True), "wb")
    write("proto/%s.json" % name, json.dumps(j))
    return "%s forward_backward_request %d" % (name, int(encode))


def fb_request_sparse(pb):
    """A CSR target_tokens / weights pair (decode only: tinkerc always sends dense)."""
    msg = pb.ForwardBackwardRequest()
    msg.model_id = "m"
    msg.seq_id = 3
    msg.loss_fn = "cross_entropy"
    d = msg.data.add()
    d.model_input.add().encoded_text.tokens = np.asarray([5, 6, 7, 8, 9, 10], dtype=np.int32).tobytes()
    dense_t = np.array([[0, 7, 0], [0, 0, 0]], dtype=np.int64)
    dense_w = np.array([[0, 1.5, 0], [0.25, 0, 0]], dtype=np.float32)
    jin = {}
    for key, arr, dt, pbdt in (("target_tokens", dense_t, "int64", pb.DTYPE_INT64),
                               ("weights", dense_w, "float32", pb.DTYPE_FLOAT32)):
        rows, cols = arr.shape
        crow, col, vals = [0], [], []
        for r in range(rows):
            for c in range(cols):
                if arr[r, c] != 0:
                    col.append(c)
                    vals.append(arr[r, c].item())
            crow.append(len(col))
        t = d.loss_fn_inputs[key]
        t.sparse_csr.values = np.asarray(vals, dtype=arr.dtype).tobytes()
        t.sparse_csr.crow_indices = np.asarray(crow, dtype=np.int64).tobytes()
        t.sparse_csr.col_indices = np.asarray(col, dtype=np.int64).tobytes()
        t.dtype = pbdt
        t.shape.extend([rows, cols])
        # the JSON side states the DENSE tensor: the decoders must expand CSR to exactly this
        jin[key] = tensor_json(arr.flatten().tolist(), dt, [rows, cols])
    j = {"model_id": "m", "seq_id": 3, "forward_backward_input": {
        "data": [{"model_input": {"chunks": [{"tokens": [5, 6, 7, 8, 9, 10], "type": "encoded_text"}]},
                  "loss_fn_inputs": jin}], "loss_fn": "cross_entropy"}}
    write("proto/fwdbwd_request_sparse.pb", msg.SerializeToString(deterministic=True), "wb")
    write("proto/fwdbwd_request_sparse.json", json.dumps(j))
    return "fwdbwd_request_sparse forward_backward_request 0"


def fb_output(pb, name, type_str, records, metrics, public_type, encode):
    """records: list of {field: (np_dtype_name, [per-datum flat lists], trailing_shape)}."""
    msg = pb.ForwardBackwardOutput()
    msg.loss_fn_output_type = type_str
    outputs = []
    for rec in records:
        r = msg.loss_fn_outputs.add()
        r.type_tag = type_str
        n = None
        for field, (dt, per_datum, trailing) in rec.items():
            bt = r.fields[field]
            np_dt = {"float32": np.float32, "int64": np.int64, "int32": np.int32, "bfloat16": np.uint16}[dt]
            pb_dt = {"float32": pb.DTYPE_FLOAT32, "int64": pb.DTYPE_INT64, "int32": pb.DTYPE_INT32,
                     "bfloat16": pb.DTYPE_BFLOAT16}[dt]
            arrays = [np.asarray(v, dtype=np_dt) for v in per_datum]
            bt.data = b"".join(a.tobytes() for a in arrays)
            offs = [0]
            for a in arrays:
                offs.append(offs[-1] + a.nbytes)
            bt.offsets = np.asarray(offs, dtype=np.int64).tobytes()
            bt.dtype = pb_dt
            bt.trailing_shape.extend(trailing)
            n = len(arrays)
        r.num_datums = n
        for i in range(n):
            datum = {}
            for field, (dt, per_datum, trailing) in rec.items():
                a = np.asarray(per_datum[i], dtype={"float32": np.float32, "int64": np.int64, "int32": np.int32,
                                                    "bfloat16": np.uint16}[dt])
                if dt == "bfloat16":
                    a = (a.astype(np.uint32) << 16).view(np.float32)
                pub = "float32" if dt in ("float32", "bfloat16") else "int64"
                prod = int(np.prod(trailing)) if trailing else 1
                lead = a.size // prod if prod else 0
                datum[field] = tensor_json(a.tolist(), pub, [lead] + list(trailing))
            outputs.append(datum)
    for k, v in metrics.items():
        msg.metrics[k] = v
    j = {"loss_fn_output_type": public_type, "loss_fn_outputs": outputs, "metrics": metrics}
    write("proto/%s.pb" % name, msg.SerializeToString(deterministic=True), "wb")
    write("proto/%s.json" % name, json.dumps(j))
    return "%s forward_backward_output %d" % (name, int(encode))


def sample_response(pb, name, seqs, prompt_lp, topk, cache_hits, encode=True):
    msg = pb.SampleResponse()
    jseqs = []
    for stop, tokens, lps in seqs:
        s = msg.sequences.add()
        s.stop_reason = pb.STOP_REASON_STOP if stop == "stop" else pb.STOP_REASON_LENGTH
        s.tokens = np.asarray(tokens, dtype=np.int32).tobytes()
        js = {"stop_reason": stop, "tokens": tokens}
        if lps is not None:
            s.logprobs = np.asarray(lps, dtype=np.float32).tobytes()
            js["logprobs"] = [f32(x) for x in lps]
        jseqs.append(js)
    j = {"type": "sample", "sequences": jseqs}
    if prompt_lp is not None:
        arr = np.asarray([math.nan if x is None else x for x in prompt_lp], dtype=np.float32)
        msg.prompt_logprobs = arr.tobytes()
        j["prompt_logprobs"] = [None if x is None else f32(x) for x in prompt_lp]
    if topk is not None:
        rows, k = topk
        ids = np.zeros((len(rows), k), dtype=np.int32)
        lps = np.full((len(rows), k), -99999.0, dtype=np.float32)
        jrows = []
        for i, row in enumerate(rows):
            if row is None:
                jrows.append(None)
                continue
            for c, (tid, lp) in enumerate(row):
                ids[i, c] = tid
                lps[i, c] = lp
            jrows.append([[tid, f32(lp)] for tid, lp in row])
        t = msg.topk_prompt_logprobs
        t.token_ids = ids.tobytes()
        t.logprobs = lps.tobytes()
        t.k = k
        t.prompt_length = len(rows)
        j["topk_prompt_logprobs"] = jrows
    msg.prompt_cache_hit_tokens = cache_hits
    j["prompt_cache_hit_tokens"] = cache_hits
    write("proto/%s.pb" % name, msg.SerializeToString(deterministic=True), "wb")
    write("proto/%s.json" % name, json.dumps(j))
    return "%s sample_response %d" % (name, int(encode))


def gen_proto():
    pb = load_pb2()
    rng = random.Random(2)
    manifest = []
    manifest.append(fb_request(pb, "fwdbwd_request_basic", "sess-1:train:0", 7, "cross_entropy", None, [
        ([("text", [1, 2, 3])], {"target_tokens": ([2, 3, 4], "int64", [3]),
                                 "weights": ([0.0, 1.0, 1.0], "float32", [3])}),
        ([("text", [100, 200]), ("text", [300, 151935])],
         {"target_tokens": ([200, 300, 151935, 7], "int64", [4]),
          "weights": ([f32(0.25), f32(1 / 3), f32(-2.5e-7), f32(3.0e9)], "float32", [4])}),
    ]))
    manifest.append(fb_request(pb, "fwdbwd_request_ppo_image", "m-2", -5, "ppo",
                               {"clip_low_threshold": 0.8, "clip_high_threshold": 1.2}, [
        ([("text", [9, 8]), ("image", bytes(range(40)), "png", 3), ("text", [7])],
         {"target_tokens": ([8, 0, 0, 0, 7, 1], "int64", [6]),
          "logprobs": ([f32(rng.uniform(-9, 0)) for _ in range(6)], "float32", [6]),
          "advantages": ([f32(rng.gauss(0, 1)) for _ in range(6)], "float32", [6])}),
        ([("image", b"\xff\xd8jpegbytes", "jpeg", None), ("text", [4, 5, 6])],
         {"target_tokens": ([1, 2, 3, 4, 5, 6], "int64", [2, 3]),
          "logprobs": ([f32(-x / 7) for x in range(6)], "float32", [3, 2]),
          "advantages": ([0.0] * 6, "float32", [6])}),
    ], forward_only=True))
    manifest.append(fb_request(pb, "fwdbwd_request_empty", "", 0, "dro", {"beta": 0.05}, []))
    big = []
    for i in range(3):
        n = 300 + 77 * i
        toks = [rng.randrange(0, 151936) for _ in range(n)]
        big.append(([("text", toks)], {
            "target_tokens": (toks[1:] + [rng.randrange(0, 151936)], "int64", [n]),
            "weights": ([f32(rng.random()) if rng.random() < 0.5 else 1.0 for _ in range(n)], "float32", [n])}))
    manifest.append(fb_request(pb, "fwdbwd_request_large", "sess:train:12", 2**31 - 1, "importance_sampling", None, [
        ([c for c in d[0]], {"target_tokens": d[1]["target_tokens"], "logprobs": d[1]["weights"],
                             "advantages": d[1]["weights"]}) for d in big]))
    manifest.append(fb_request_sparse(pb))

    manifest.append(fb_output(pb, "fwdbwd_output_basic", "TorchLossReturn", [
        {"logprobs": ("float32", [[f32(-0.5), f32(-1.25), f32(-3.1)], [f32(-0.01)] * 5, []], []),
         "elementwise_loss": ("float32", [[0.5, 1.25, 3.0], [0.0] * 5, []], [])}],
        {"loss:sum": 12.5, "clock_cycle:unique": 77.0}, "TorchLossReturn", True))
    manifest.append(fb_output(pb, "fwdbwd_output_records", "tinker.losses:TorchLossReturn", [
        {"logprobs": ("float32", [[f32(-x / 3) for x in range(4)], [f32(-2.0)] * 6], [2]),
         "ids": ("int64", [[1, 2, 3, 4], [2**40, -7, 0, 1, 2, 3]], [2])},
        {"logprobs": ("bfloat16", [[0x3F80, 0xC000, 0x4049]], []),
         "ids": ("int32", [[-1, 2**31 - 1, 5]], [])},
    ], {"loss:sum": -1.5}, "TorchLossReturn", False))
    manifest.append(fb_output(pb, "fwdbwd_output_multi", "ArrayRecord", [
        {"logprobs": ("float32", [[f32(-1.0)] * 3, [f32(-2.0)] * 2], [])},
        {"logprobs": ("float32", [[f32(-x) for x in range(6)]], [3])},
        {"logprobs": ("float32", [[f32(-0.5)] * 4, []], [2])},
    ], {"loss:sum": 3.0, "a:mean": 0.1, "b:max": -0.0}, "ArrayRecord", True))
    manifest.append(fb_output(pb, "fwdbwd_output_empty", "", [], {}, "ArrayRecord", False))

    manifest.append(sample_response(pb, "sample_response_full", [
        ("length", [11, 12, 13], [-0.1, -2.3, -0.01]),
        ("stop", [14924, 755], None),
        ("stop", [], None)],
        [None, -9.5, -1.6, -0.25],
        ([None, [(14924, -1.17), (755, -2.23)], [(25, -1.64)], [(3137, -2.39), (1, -3.5)]], 2), 17))
    manifest.append(sample_response(pb, "sample_response_plain", [("stop", [5, 6, 7, 2**31 - 1], [-1.0, -0.5, -0.25, 0.0])],
                                    None, None, 0))
    write("proto/manifest.txt", "\n".join(manifest) + "\n")


# ---------------------------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------------------------

def gen_numbers():
    rng = random.Random(7)
    lines = []
    specials = [0.1, 0.2, 0.3, 1e-5, 1e-4, 1e16, 1e15, 123456789012345678.0, 5e-324, 2.2250738585072014e-308,
                1.7976931348623157e308, 0.5, 1.0, 100.0, 1e22, 1e23, 3.141592653589793, -2.5, float(2**53), float(2**53 + 2)]
    vals = specials + [rng.uniform(-1, 1) for _ in range(500)] + \
        [rng.uniform(-1, 1) * 10 ** rng.randint(-30, 30) for _ in range(1000)] + \
        [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0] for _ in range(1000)] + \
        [float(rng.randint(-10**6, 10**6)) / 8 for _ in range(200)]
    for v in vals:
        if not math.isfinite(v):
            continue
        lines.append("d %016x %s" % (struct.unpack("<Q", struct.pack("<d", v))[0], repr(v)))
    fvals = [0.1, 1e-5, 3.4028235e38, 1.17549435e-38, 1e-45, 0.333333343, 16777216.0, 16777217.0, 1e10, 1e16, 7e-7]
    fvals += [rng.uniform(-1, 1) for _ in range(500)]
    fvals += [rng.uniform(-1, 1) * 10 ** rng.randint(-40, 38) for _ in range(1500)]
    fvals += [struct.unpack("<f", struct.pack("<I", rng.getrandbits(32)))[0] for _ in range(1000)]
    for v in fvals:
        x = np.float32(v)
        if not np.isfinite(x):
            continue
        bits = struct.unpack("<I", struct.pack("<f", x))[0]
        # numpy's Dragon4 with unique=True: the shortest digits that read back as this float32
        lines.append("f %08x %s" % (bits, np.format_float_scientific(x, unique=True)))
    write("numbers.txt", "\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------------------
# metric merging (§6.5), computed with numpy and CPython
# ---------------------------------------------------------------------------------------------

def merge_reference(chunks, counts):
    """The §6.5 rules: keys of chunk 0 in order, exactly one ':' each, unknown reductions and keys
    missing from a chunk dropped; mean/slack weighted by datum counts."""
    out = []
    for key in chunks[0]:
        parts = key.split(":")
        if len(parts) != 2:
            return "error"
        red = parts[1]
        if red not in ("mean", "sum", "min", "max", "slack", "hash_unordered", "unique"):
            continue
        if not all(key in c for c in chunks):
            continue
        vals = [c[key] for c in chunks]
        if red == "sum":
            out.append((key, np.sum(np.array(vals, dtype=np.float64)).item()))
        elif red == "min":
            out.append((key, np.min(vals).item()))
        elif red == "max":
            out.append((key, np.max(vals).item()))
        elif red in ("mean", "slack"):
            avg = np.average(np.array(vals), weights=np.array(counts)).item()
            out.append((key, avg if red == "mean" else (np.max(vals) - np.average(vals, weights=counts)).item()))
        elif red == "hash_unordered":
            out.append((key, float(hash(tuple(sorted(int(v) for v in vals))))))
        else:
            out.append((key, vals[0]))
            out.extend(("%s_%d" % (key, i + 1), v) for i, v in enumerate(vals[1:]))
    return out


def hexf(v):
    return "%016x" % struct.unpack("<Q", struct.pack("<d", v))[0]


def gen_metrics():
    rng = random.Random(11)
    cases = []
    keys = ["loss:sum", "tokens:sum", "acc:mean", "lr:max", "lo:min", "gap:slack", "h:hash_unordered",
            "clock_cycle:unique", "odd:median", "e_frac_with_tokens:mean"]
    for n_chunks in [1, 2, 3, 7, 8, 9, 16, 17, 100, 129, 300]:
        for rep in range(2):
            counts = [rng.randint(1, 64) for _ in range(n_chunks)]
            chunks = []
            for c in range(n_chunks):
                m = {}
                for k in keys:
                    if k.startswith("h:"):
                        m[k] = float(rng.randint(-2**62, 2**62)) if rep else rng.uniform(-1e6, 1e6)
                    else:
                        m[k] = rng.uniform(-10, 10) * 10 ** rng.randint(-3, 3)
                if rep == 1 and c == n_chunks - 1 and n_chunks > 1:
                    del m["lo:min"]          # missing from one chunk: dropped
                    m["extra:sum"] = 1.0     # not in chunk 0: ignored
                chunks.append(m)
            cases.append({"counts": counts, "chunks": [[[k, hexf(v)] for k, v in c.items()] for c in chunks],
                          "expected": [[k, hexf(v)] for k, v in merge_reference(chunks, counts)]})
    bad = [{"a:sum": 1.0, "nocolon": 2.0}]
    cases.append({"counts": [1], "chunks": [[[k, hexf(v)] for k, v in c.items()] for c in bad],
                  "expected": merge_reference(bad, [1])})
    bad2 = [{"a:b:sum": 1.0}]
    cases.append({"counts": [1], "chunks": [[[k, hexf(v)] for k, v in c.items()] for c in bad2],
                  "expected": merge_reference(bad2, [1])})
    write("metrics.json", json.dumps(cases))


# ---------------------------------------------------------------------------------------------
# datum construction, reduction="mean" with torch float32
# ---------------------------------------------------------------------------------------------

def gen_datum_mean():
    import torch
    rng = random.Random(5)
    cases = []
    for n in [2, 3, 5, 9, 33, 100]:
        w = [rng.choice([0.0, 0.5, 1.0, 0.25, 2.0, 1.5]) for _ in range(n)]
        wt = torch.tensor(w, dtype=torch.float32)
        sl = wt[1:n]
        total = float(sl.sum())
        out = sl / total if total > 0 else sl
        cases.append({"weights": w, "expected": [struct.unpack("<I", struct.pack("<f", x))[0] for x in out.tolist()]})
    write("datum_mean.json", json.dumps(cases))


if __name__ == "__main__":
    gen_proto()
    gen_numbers()
    gen_metrics()
    gen_datum_mean()
    print("fixtures written to", HERE)
