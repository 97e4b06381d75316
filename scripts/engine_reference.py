#!/usr/bin/python3
"""PyTorch twin of the tinkerc engine (src/engine), written by hand for torch 1.13 (no nn.RMSNorm,
no scaled_dot_product_attention). It writes the committed fixtures under tests/data/engine/:

  llama3/  tiny LlamaForCausalLM: untied lm_head, Llama 3 rope_scaling, GQA, F32, one file
  qwen3/   tiny Qwen3ForCausalLM: tied embeddings, explicit head_dim != hidden/heads, QK-norm,
           BF16 weights in two shards with model.safetensors.index.json
  <model>/sample.safetensors  (all F32): a 6-token prompt; prompt logprobs and top-5 prompt
     logprobs without / with the LoRA; greedy, sampled (temperature, top-k, top-p, seeds, several
     samples), stop-token and stop-string continuations with every token's logprob and the stop
     reason (the sampling procedure and the RNG are rebuilt here: see "sampling" below); and
     peft.logits, the prompt's logits under <model>/peft/
  <model>/peft/                 a PEFT-layout adapter (llama3: r 2, alpha 16, q/v only, F16;
                                qwen3: r 4, alpha 8, rslora, all modules and lm_head, F32)
  <model>/expected.safetensors  (all F32):
     batch.tokens.D / batch.targets.D / batch.weights.D / batch.advantages.D / batch.logprobs.D
                                   the three datums (ids stored as floats; exact below 2^24)
     lora_init.<name>              LoRA A and B to load into the adapter (B non-zero)
     logits_base.D, logits_lora.D  [n, V] logits without / with the adapter
     <loss>.logprobs.D, <loss>.loss, <loss>.grad.<name>
                                   per-token learner logprobs, loss sum, every LoRA gradient
     adam.loss  [10]               loss before each of 10 AdamW steps (CE; wd + clipping on,
     adam.grad_norm [10]           learning rate changing every step)
     adam.final.<name>             LoRA weights after the 10 steps
  dtypes.safetensors               the same values stored as F32/F16/BF16 by torch, for the
                                   conversion tests

Run: /usr/bin/python3 scripts/engine_reference.py [--out tests/data/engine]
Also used by bench/engine (--bench) to time the same step in PyTorch, and by bench/sample
(--bench-decode) to time a PyTorch KV-cache decoder on the same shape.
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import torch

LORA_RANK = 4
LORA_ALPHA = 32.0
MODS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]
ADAM = dict(betas=(0.9, 0.95), eps=1e-12, weight_decay=0.1)
ADAM_LRS = [1e-2 * (1.0 - 0.05 * k) for k in range(10)]
CLIP = 1.0

CONFIGS = {
    "llama3": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": 128, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
        "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 256},
        "tie_word_embeddings": False, "hidden_act": "silu", "attention_bias": False,
        "bos_token_id": 1, "eos_token_id": 2,
    },
    "qwen3": {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
        "vocab_size": 128, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
        "max_position_embeddings": 512, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
        "rope_scaling": None, "tie_word_embeddings": True, "hidden_act": "silu",
        "attention_bias": False, "bos_token_id": 1, "eos_token_id": 2,
    },
}


# ---- safetensors (no python3-safetensors in Debian: the format is simple) ---------------------

DT = {torch.float32: ("F32", 4), torch.float16: ("F16", 2), torch.bfloat16: ("BF16", 2)}


def st_write(path, tensors):
    """tensors: list of (name, tensor) in file order."""
    header, blobs, off = {}, [], 0
    for name, t in tensors:
        t = t.contiguous()
        dname, size = DT[t.dtype]
        raw = t.view(torch.int16).numpy().tobytes() if size == 2 else t.numpy().tobytes()
        header[name] = {"dtype": dname, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---- the model -------------------------------------------------------------------------------

def rmsnorm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def inv_freq(cfg):
    hd = cfg["head_dim"]
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type") == "llama3":
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        lo_wl, hi_wl = old / lo, old / hi
        wl = 2 * math.pi / inv
        scaled = torch.where(wl > lo_wl, inv / factor, inv)
        smooth = (old / wl - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wl < hi_wl) * ~(wl > lo_wl)
        inv = torch.where(medium, smoothed, scaled)
    return inv


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope(x, cos, sin):  # x [n, heads, hd]
    return x * cos[:, None, :] + rotate_half(x) * sin[:, None, :]


class Model:
    def __init__(self, cfg, weights):
        self.cfg, self.w = cfg, weights

    def linear(self, x, name, lora):
        y = x @ self.w[name + ".weight"].T
        if lora is not None and name in lora:
            y = y + lora_term(x, lora[name])
        return y

    def forward(self, tokens, lora=None):
        """tokens: 1-D LongTensor of one datum. Returns [n, V] logits."""
        c, w = self.cfg, self.w
        n, H, nh, nkv, hd = len(tokens), c["hidden_size"], c["num_attention_heads"], \
            c["num_key_value_heads"], c["head_dim"]
        eps = c["rms_norm_eps"]
        pos = torch.arange(n).float()
        freqs = torch.outer(pos, inv_freq(c))
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        x = w["model.embed_tokens.weight"][tokens]
        mask = torch.full((n, n), float("-inf")).triu(1)
        for l in range(c["num_hidden_layers"]):
            p = f"model.layers.{l}."
            h = rmsnorm(x, w[p + "input_layernorm.weight"], eps)
            q = self.linear(h, p + "self_attn.q_proj", lora).view(n, nh, hd)
            k = self.linear(h, p + "self_attn.k_proj", lora).view(n, nkv, hd)
            v = self.linear(h, p + "self_attn.v_proj", lora).view(n, nkv, hd)
            if c["model_type"] == "qwen3":
                q = rmsnorm(q, w[p + "self_attn.q_norm.weight"], eps)
                k = rmsnorm(k, w[p + "self_attn.k_norm.weight"], eps)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            k = k.repeat_interleave(nh // nkv, dim=1)
            v = v.repeat_interleave(nh // nkv, dim=1)
            s = torch.einsum("ihd,jhd->hij", q, k) / math.sqrt(hd) + mask
            att = torch.einsum("hij,jhd->ihd", s.softmax(-1), v).reshape(n, nh * hd)
            x = x + self.linear(att, p + "self_attn.o_proj", lora)
            h = rmsnorm(x, w[p + "post_attention_layernorm.weight"], eps)
            g = self.linear(h, p + "mlp.gate_proj", lora)
            u = self.linear(h, p + "mlp.up_proj", lora)
            x = x + self.linear(torch.nn.functional.silu(g) * u, p + "mlp.down_proj", lora)
        x = rmsnorm(x, w["model.norm.weight"], eps)
        head = w["model.embed_tokens.weight"] if c["tie_word_embeddings"] else w["lm_head.weight"]
        y = x @ head.T
        if lora is not None and "lm_head" in lora:
            y = y + lora_term(x, lora["lm_head"])
        return y


def lora_term(x, ab):
    """(a, b) uses the fixtures' alpha/rank; (a, b, scale) an explicit scale (PEFT imports)."""
    a, b = ab[0], ab[1]
    scale = ab[2] if len(ab) > 2 else LORA_ALPHA / LORA_RANK
    return scale * ((x @ a.T) @ b.T)


def weight_shapes(c):
    H, I, V, hd = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["head_dim"]
    qd, kd = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    out = [("model.embed_tokens.weight", (V, H))]
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        out += [(p + "input_layernorm.weight", (H,)), (p + "self_attn.q_proj.weight", (qd, H)),
                (p + "self_attn.k_proj.weight", (kd, H)), (p + "self_attn.v_proj.weight", (kd, H)),
                (p + "self_attn.o_proj.weight", (H, qd))]
        if c["model_type"] == "qwen3":
            out += [(p + "self_attn.q_norm.weight", (hd,)), (p + "self_attn.k_norm.weight", (hd,))]
        out += [(p + "post_attention_layernorm.weight", (H,)), (p + "mlp.gate_proj.weight", (I, H)),
                (p + "mlp.up_proj.weight", (I, H)), (p + "mlp.down_proj.weight", (H, I))]
    out.append(("model.norm.weight", (H,)))
    if not c["tie_word_embeddings"]:
        out.append(("lm_head.weight", (V, H)))
    return out


def lora_shapes(c):
    H, I, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    qd, kd = c["num_attention_heads"] * c["head_dim"], c["num_key_value_heads"] * c["head_dim"]
    dims = {"self_attn.q_proj": (H, qd), "self_attn.k_proj": (H, kd), "self_attn.v_proj": (H, kd),
            "self_attn.o_proj": (qd, H), "mlp.gate_proj": (H, I), "mlp.up_proj": (H, I),
            "mlp.down_proj": (I, H)}
    out = []
    for l in range(c["num_hidden_layers"]):
        for m in MODS:
            out.append((f"model.layers.{l}.{m}", dims[m]))
    out.append(("lm_head", (H, V)))
    return out


# ---- losses ----------------------------------------------------------------------------------

def elementwise_loss(name, lp, d, cfg):
    if name == "cross_entropy":
        return -lp * d["weights"]
    r = torch.exp(lp - d["logprobs"])
    A = d["advantages"]
    if name == "importance_sampling":
        return -r * A
    lo, hi = cfg.get("clip_low_threshold", 0.8), cfg.get("clip_high_threshold", 1.2)
    if name == "ppo":
        return -torch.minimum(r * A, torch.clamp(r, lo, hi) * A)
    if name == "cispo":
        return -torch.clamp(r, lo, hi).detach() * lp * A
    if name == "dro":
        beta = cfg.get("beta", 0.05)
        return -(lp * A - 0.5 * beta * (lp - d["logprobs"]) ** 2)
    raise ValueError(name)


# The configs the C test passes for each loss (keep in sync with tests/engine/test_engine_parity.c).
LOSS_CONFIGS = {"cross_entropy": {}, "importance_sampling": {},
                "ppo": {"clip_low_threshold": 0.9, "clip_high_threshold": 1.1},
                "cispo": {}, "dro": {"beta": 0.1}}


def batch_loss(model, lora, batch, name):
    total, lps = 0.0, []
    for d in batch:
        logits = model.forward(d["tokens"], lora)
        lp = torch.log_softmax(logits, -1).gather(1, d["targets"][:, None])[:, 0]
        total = total + elementwise_loss(name, lp, d, LOSS_CONFIGS[name]).sum()
        lps.append(lp)
    return total, lps


def make_fixture(name, out_dir, seed):
    cfg = CONFIGS[name]
    g = torch.Generator().manual_seed(seed)
    weights = {}
    for wn, shape in weight_shapes(cfg):
        if len(shape) == 1:
            weights[wn] = 1.0 + 0.1 * torch.randn(shape, generator=g)   # non-trivial norm weights
        else:
            weights[wn] = 0.15 * torch.randn(shape, generator=g)
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    items = [(wn, weights[wn]) for wn, _ in weight_shapes(cfg)]
    if name == "qwen3":
        # BF16 on disk in two shards; the reference computes with the rounded values
        items = [(wn, t.to(torch.bfloat16)) for wn, t in items]
        weights = {wn: t.float() for wn, t in items}
        half = len(items) // 2
        shards = [("model-00001-of-00002.safetensors", items[:half]),
                  ("model-00002-of-00002.safetensors", items[half:])]
        wmap = {}
        for fn, part in shards:
            st_write(os.path.join(d, fn), part)
            for wn, _ in part:
                wmap[wn] = fn
        total = sum(t.numel() * 2 for _, t in items)
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": wmap}, f, indent=2)
    else:
        st_write(os.path.join(d, "model.safetensors"), items)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    model = Model(cfg, weights)

    # LoRA weights: A as PEFT would draw it, B non-zero so every gradient is non-trivial
    lora = {}
    for mn, (fin, fout) in lora_shapes(cfg):
        a = (torch.rand((LORA_RANK, fin), generator=g) * 2 - 1) / math.sqrt(fin)
        b = 0.02 * torch.randn((fout, LORA_RANK), generator=g)
        lora[mn] = (a, b)

    V = cfg["vocab_size"]
    batch = []
    for n in (7, 5, 9):
        seq = torch.randint(0, V, (n + 1,), generator=g)
        d_ = {"tokens": seq[:-1], "targets": seq[1:],
              "weights": (torch.rand(n, generator=g) > 0.3).float(),
              "advantages": torch.randn(n, generator=g)}
        d_["advantages"][:2] = 0.0   # "prompt" positions
        batch.append(d_)
    # sampler logprobs: the learner's plus noise, so ratios spread across the clip range
    with torch.no_grad():
        for d_ in batch:
            lp = torch.log_softmax(model.forward(d_["tokens"], lora), -1).gather(1, d_["targets"][:, None])[:, 0]
            d_["logprobs"] = lp + 0.3 * torch.randn(len(lp), generator=g)

    exp = []
    for i, d_ in enumerate(batch):
        for k in ("tokens", "targets", "weights", "advantages", "logprobs"):
            exp.append((f"batch.{k}.{i}", d_[k].float()))
    for mn, (a, b) in lora.items():
        exp.append((f"lora_init.{mn}.lora_A.weight", a))
        exp.append((f"lora_init.{mn}.lora_B.weight", b))
    with torch.no_grad():
        for i, d_ in enumerate(batch):
            exp.append((f"logits_base.{i}", model.forward(d_["tokens"], None)))
            exp.append((f"logits_lora.{i}", model.forward(d_["tokens"], lora)))
    for loss_name in LOSS_CONFIGS:
        leaves = {mn: (a.clone().requires_grad_(), b.clone().requires_grad_()) for mn, (a, b) in lora.items()}
        total, lps = batch_loss(model, leaves, batch, loss_name)
        total.backward()
        exp.append((f"{loss_name}.loss", total.detach().reshape(1)))
        for i, lp in enumerate(lps):
            exp.append((f"{loss_name}.logprobs.{i}", lp.detach()))
        for mn, (a, b) in leaves.items():
            exp.append((f"{loss_name}.grad.{mn}.lora_A.weight", a.grad))
            exp.append((f"{loss_name}.grad.{mn}.lora_B.weight", b.grad))

    # AdamW trajectory: 10 steps of CE, weight decay and clipping on, lr changing every step
    leaves = {mn: (a.clone().requires_grad_(), b.clone().requires_grad_()) for mn, (a, b) in lora.items()}
    params = [t for ab in leaves.values() for t in ab]
    opt = torch.optim.AdamW(params, lr=ADAM_LRS[0], **ADAM)
    losses, norms = [], []
    for k in range(10):
        for grp in opt.param_groups:
            grp["lr"] = ADAM_LRS[k]
        opt.zero_grad()
        total, _ = batch_loss(model, leaves, batch, "cross_entropy")
        total.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, CLIP)))
        opt.step()
        losses.append(float(total))
    exp.append(("adam.loss", torch.tensor(losses)))
    exp.append(("adam.grad_norm", torch.tensor(norms)))
    for mn, (a, b) in leaves.items():
        exp.append((f"adam.final.{mn}.lora_A.weight", a.detach()))
        exp.append((f"adam.final.{mn}.lora_B.weight", b.detach()))
    st_write(os.path.join(d, "expected.safetensors"), [(k, v.float().contiguous()) for k, v in exp])
    print(f"{name}: losses " + " ".join(f"{x:.4f}" for x in losses) + f"; clipped grad norms {norms[:3]}")

    # sampling and PEFT fixtures (their own generators: the ones above stay unchanged)
    prompt, sexp = make_sampling(name, out_dir, model, lora, seed + 1)
    make_peft(name, out_dir, model, seed + 2, prompt, sexp)
    st_write(os.path.join(d, "sample.safetensors"), [(k, v.float().contiguous()) for k, v in sexp])


def make_dtypes(out_dir):
    vals = torch.tensor([0.0, -0.0, 1.0, -2.5, 3.14159265, 1e-3, 6.1e-5, 5.96e-8, 1e-8, 65504.0, 7e4,
                         1e30, -1e-30, 0.1, 1.0 / 3.0, 255.5, 1.00048828125, 1.001953125, float("inf"),
                         -float("inf")])
    st_write(os.path.join(out_dir, "dtypes.safetensors"),
             [("f32", vals), ("f16", vals.to(torch.float16)), ("bf16", vals.to(torch.bfloat16)),
              ("f16_as_f32", vals.to(torch.float16).float()), ("bf16_as_f32", vals.to(torch.bfloat16).float())])


# ---- sampling: the engine's procedure, reimplemented -------------------------------------------
#
# tinkerc's RNG is xoshiro256** seeded by SplitMix64 (include/tinkerc/base.h tk_rng); here it is
# rebuilt with Python integers. A request's seed seeds a master generator; sample i's generator is
# seeded with the master's i-th 64-bit output. Each non-greedy token consumes exactly one
# f64 draw = (u64 >> 11) * 2^-53. The choice itself (docs/ENGINE.md "Sampling procedure"):
#   greedy when T < 1e-5: argmax, lowest id on ties, no draw
#   w_j = exp((z_j - z_max) / T) in float64 from the float32 logits
#   order by (w desc, id asc); K = first top_k (all when top_k <= 0 or >= V)
#   top_p < 1: keep the shortest prefix of K whose running sum reaches top_p * sum_{K} w (the
#   total summed in ascending id order, the running sum in the order)
#   draw u, target = u * (sum of kept w, ascending ids); the first kept id (ascending) whose
#   running sum exceeds target.
# Generated tokens' logprobs are log_softmax of the raw logits (T = 1, no filtering).

MASK64 = (1 << 64) - 1


class Rng:
    def __init__(self, seed):
        x = seed & MASK64
        self.s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & MASK64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
            self.s.append(z ^ (z >> 31))

    def u64(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & MASK64
        result = (rotl((s[1] * 5) & MASK64, 7) * 9) & MASK64
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def f64(self):
        return (self.u64() >> 11) * 2.0 ** -53


def choose(z, T, top_k, top_p, rng):
    zl = [float(v) for v in z]
    V = len(zl)
    if T < 1e-5:
        best = 0
        for j in range(1, V):
            if zl[j] > zl[best]:
                best = j
        return best
    zmax = max(zl)
    w = [math.exp((v - zmax) / T) for v in zl]
    order = sorted(range(V), key=lambda j: (-w[j], j))
    K = order[:top_k] if 0 < top_k < V else order
    keep = set(K)
    if top_p < 1.0:
        wk = sum(w[j] for j in range(V) if j in keep)
        cum, take = 0.0, 0
        for j in K:
            cum += w[j]
            take += 1
            if cum >= top_p * wk:
                break
        keep = set(K[:take])
    total = sum(w[j] for j in range(V) if j in keep)
    target, cum, last = rng.f64() * total, 0.0, None
    for j in range(V):
        if j in keep:
            cum += w[j]
            last = j
            if cum > target:
                return j
    return last


def token_bytes(i):
    """The synthetic token -> bytes table the sampling tests use for stop strings (kept in sync with
    tests/engine/test_engine_sample.c): a letter of "abcd " and, for ids divisible by 3, a second."""
    A = "abcd "
    return (A[i % 5] + (A[(i // 5) % 5] if i % 3 == 0 else "")).encode()


def f32(x):
    return float(torch.tensor(x, dtype=torch.float32))


def generate(model, lora, prompt, T, top_k, top_p, seed, num_samples, max_tokens, stop_tokens, stop_strings, ctx):
    """Full recompute per token (no cache): the reference for the engine's KV-cache decode."""
    master = Rng(seed)
    out = []
    for _ in range(num_samples):
        rng = Rng(master.u64())
        toks, lps, text, reason = [], [], b"", 1
        max_new = min(max_tokens, ctx - len(prompt))
        while True:
            with torch.no_grad():
                z = model.forward(torch.tensor(prompt + toks), lora)[-1]
            t = choose(z, T, top_k, top_p, rng)
            toks.append(t)
            lps.append(float(torch.log_softmax(z, -1)[t]))
            if t in stop_tokens:
                reason = 0
                break
            if stop_strings:
                old = len(text)
                text += token_bytes(t)
                if any(text.find(ss, max(0, old + 1 - len(ss))) >= 0 for ss in stop_strings):
                    reason = 0
                    break
            if len(toks) >= max_new:
                reason = 1
                break
        out.append((toks, lps, reason))
    return out


def prompt_logprobs(model, lora, prompt, k):
    with torch.no_grad():
        lsm = torch.log_softmax(model.forward(torch.tensor(prompt), lora), -1)
    n = len(prompt)
    plp = [float("nan")] + [float(lsm[i - 1, prompt[i]]) for i in range(1, n)]
    ids = [[0] * k] + [sorted(range(lsm.shape[1]), key=lambda j: (-float(lsm[i - 1, j]), j))[:k] for i in range(1, n)]
    vals = [[-99999.0] * k] + [[float(lsm[i - 1, j]) for j in ids[i]] for i in range(1, n)]
    return plp, ids, vals


# (temperature, top_k, top_p, seed, num_samples, max_tokens, use_lora, stop_tokens, stop_strings)
SAMPLE_CASES = [
    (0.0, -1, 1.0, 0, 1, 12, False, [], []),
    (0.0, -1, 1.0, 0, 1, 12, True, [], []),
    (1.0, -1, 1.0, 42, 3, 10, True, [], []),
    (0.7, 10, 0.9, 7, 2, 10, False, [], []),
    (1.3, 5, 1.0, 123, 2, 8, False, [], []),
    (0.9, -1, 0.6, 9, 2, 8, True, [], []),
    (0.0, -1, 1.0, 0, 1, 12, False, "greedy[4]", []),
    (1.0, -1, 1.0, 5, 3, 16, False, [], [b"ca", b"d d"]),
]
TOPK_PROMPT = 5


def make_sampling(name, out_dir, model, lora, seed):
    """tests/data/engine/<model>/sample.safetensors: prompt, prompt logprobs and top-k (base and
    LoRA), and for each case its parameters and every sample's tokens, logprobs and stop reason."""
    g = torch.Generator().manual_seed(seed)
    cfg = model.cfg
    prompt = [int(t) for t in torch.randint(0, cfg["vocab_size"], (6,), generator=g)]
    exp = [("prompt", torch.tensor(prompt, dtype=torch.float32))]
    for tag, lo in (("base", None), ("lora", lora)):
        plp, ids, vals = prompt_logprobs(model, lo, prompt, TOPK_PROMPT)
        exp += [(f"prompt_logprobs.{tag}", torch.tensor(plp)), (f"topk_ids.{tag}", torch.tensor(ids).float()),
                (f"topk_logprobs.{tag}", torch.tensor(vals))]
    greedy = None
    for i, (T, k, p, sd, ns, mt, use_lora, stops, sstr) in enumerate(SAMPLE_CASES):
        T, p = f32(T), f32(p)
        if stops == "greedy[4]":
            stops = [greedy[4]]
        res = generate(model, lora if use_lora else None, prompt, T, k, p, sd, ns, mt, stops, sstr,
                       cfg["max_position_embeddings"])
        if greedy is None:
            greedy = res[0][0]
        exp.append((f"case.{i}.params", torch.tensor([T, k, p, sd, ns, mt, float(use_lora)], dtype=torch.float32)))
        exp.append((f"case.{i}.stop_tokens", torch.tensor(stops if stops else [-1], dtype=torch.float32)))
        joined = b"\0".join(sstr)
        exp.append((f"case.{i}.stop_strings", torch.tensor(list(joined) if joined else [0], dtype=torch.float32)))
        exp.append((f"case.{i}.reason", torch.tensor([r for _, _, r in res], dtype=torch.float32)))
        for si, (toks, lps, _) in enumerate(res):
            exp.append((f"case.{i}.tokens.{si}", torch.tensor(toks, dtype=torch.float32)))
            exp.append((f"case.{i}.logprobs.{si}", torch.tensor(lps)))
        print(f"{name} case {i}: " + " | ".join(" ".join(map(str, t)) + (" (stop)" if r == 0 else "")
                                             for t, _, r in res))
    return prompt, exp


def make_peft(name, out_dir, model, seed, prompt, exp):
    """A PEFT-layout adapter written the way PEFT saves one (keys base_model.model.<module>.lora_A.
    weight, adapter_config.json), with a different alpha and a subset of modules, and the logits of
    the prompt under it (PEFT's semantics: scale lora_alpha/r, or lora_alpha/sqrt(r) with rslora)."""
    g = torch.Generator().manual_seed(seed)
    cfg = model.cfg
    if name == "llama3":
        r, alpha, rslora, targets, dtype = 2, 16.0, False, ["q_proj", "v_proj"], torch.float16
    else:
        r, alpha, rslora = 4, 8.0, True
        targets, dtype = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"], torch.float32
    scale = alpha / math.sqrt(r) if rslora else alpha / r
    lora, items = {}, []
    for mn, (fin, fout) in lora_shapes(cfg):
        if mn.split(".")[-1] not in targets:
            continue
        a = ((torch.rand((r, fin), generator=g) * 2 - 1) / math.sqrt(fin)).to(dtype)
        b = (0.05 * torch.randn((fout, r), generator=g)).to(dtype)
        items += [(f"base_model.model.{mn}.lora_A.weight", a), (f"base_model.model.{mn}.lora_B.weight", b)]
        lora[mn] = (a.float(), b.float(), scale)
    d = os.path.join(out_dir, name, "peft")
    os.makedirs(d, exist_ok=True)
    st_write(os.path.join(d, "adapter_model.safetensors"), items)
    conf = {"base_model_name_or_path": f"tests/data/engine/{name}", "peft_type": "LORA", "task_type": "CAUSAL_LM",
            "r": r, "lora_alpha": alpha, "lora_dropout": 0.0, "target_modules": targets, "bias": "none",
            "fan_in_fan_out": False, "inference_mode": True, "use_rslora": rslora, "use_dora": False,
            "modules_to_save": None, "layers_to_transform": None, "rank_pattern": {}, "alpha_pattern": {},
            "init_lora_weights": True}
    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        json.dump(conf, f, indent=2)
    with torch.no_grad():
        exp.append(("peft.logits", model.forward(torch.tensor(prompt), lora)))


# ---- benchmark: the same LoRA step in PyTorch ---------------------------------------------------

def bench(args):
    torch.set_num_threads(args.threads)
    c = {"model_type": args.arch, "vocab_size": args.vocab, "hidden_size": args.hidden,
         "intermediate_size": args.intermediate, "num_hidden_layers": args.layers,
         "num_attention_heads": args.heads, "num_key_value_heads": args.kv_heads,
         "head_dim": args.head_dim, "rms_norm_eps": 1e-6, "rope_theta": 1e6, "rope_scaling": None,
         "tie_word_embeddings": True}
    g = torch.Generator().manual_seed(0)
    w = {}
    for wn, shape in weight_shapes(c):
        w[wn] = torch.ones(shape) if len(shape) == 1 else 0.02 * torch.randn(shape, generator=g)
    model = Model(c, w)
    global LORA_RANK
    LORA_RANK = args.rank
    lora = {mn: ((torch.rand((args.rank, fin), generator=g) * 2 - 1) / math.sqrt(fin),
                 torch.zeros((fout, args.rank))) for mn, (fin, fout) in lora_shapes(c)}
    leaves = {mn: (a.requires_grad_(), b.requires_grad_()) for mn, (a, b) in lora.items()}
    params = [t for ab in leaves.values() for t in ab]
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), eps=1e-12)
    seq = torch.randint(0, args.vocab, (args.tokens + 1,), generator=g)
    batch = [{"tokens": seq[:-1], "targets": seq[1:], "weights": torch.ones(args.tokens)}]
    times = []
    for it in range(args.warmup + args.iters):
        t0 = time.perf_counter()
        opt.zero_grad()
        total, _ = batch_loss(model, leaves, batch, "cross_entropy")
        total.backward()
        opt.step()
        if it >= args.warmup:
            times.append(time.perf_counter() - t0)
    cfg = torch.__config__.parallel_info().splitlines()
    blas = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    print(json.dumps({"seconds": min(times), "all": times, "threads": torch.get_num_threads(),
                      "blas": blas, "torch": torch.__version__,
                      "parallel": [x.strip() for x in cfg if "OpenMP" in x or "threads" in x][:3]}))


def bench_decode(args):
    """KV-cache decode in PyTorch on the same shape: preallocated caches, F.linear projections,
    greedy choice; times args.iters decode steps at batch args.batch after a args.prompt-token
    prefill. Prints one JSON line."""
    torch.set_num_threads(args.threads)
    F = torch.nn.functional
    c = {"vocab_size": args.vocab, "hidden_size": args.hidden, "intermediate_size": args.intermediate,
         "num_hidden_layers": args.layers, "num_attention_heads": args.heads, "num_key_value_heads": args.kv_heads,
         "head_dim": args.head_dim, "rms_norm_eps": 1e-6, "rope_theta": 1e6, "rope_scaling": None,
         "tie_word_embeddings": True, "model_type": "qwen3"}
    g = torch.Generator().manual_seed(0)
    w = {}
    for wn, shape in weight_shapes(c):
        w[wn] = torch.ones(shape) if len(shape) == 1 else (torch.rand(shape, generator=g) - 0.5) * 0.07
    B, L, H, nh, nkv, hd = args.batch, args.layers, args.hidden, args.heads, args.kv_heads, args.head_dim
    eps, n_max = 1e-6, args.prompt + args.iters + 2
    inv = inv_freq(c)
    freqs = torch.outer(torch.arange(n_max).float(), inv)
    emb = torch.cat((freqs, freqs), -1)
    cos_t, sin_t = emb.cos(), emb.sin()
    kc = torch.zeros(L, B, nkv, n_max, hd)
    vc = torch.zeros(L, B, nkv, n_max, hd)
    head = w["model.embed_tokens.weight"]

    def step(tokens, pos0):  # tokens [B, T] fed at positions pos0.. ; returns last logits [B, V]
        T = tokens.shape[1]
        x = w["model.embed_tokens.weight"][tokens]
        cos, sin = cos_t[pos0:pos0 + T], sin_t[pos0:pos0 + T]
        for l in range(L):
            p = f"model.layers.{l}."
            h = rmsnorm(x, w[p + "input_layernorm.weight"], eps)
            q = F.linear(h, w[p + "self_attn.q_proj.weight"]).view(B, T, nh, hd)
            k = F.linear(h, w[p + "self_attn.k_proj.weight"]).view(B, T, nkv, hd)
            v = F.linear(h, w[p + "self_attn.v_proj.weight"]).view(B, T, nkv, hd)
            q = rmsnorm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rmsnorm(k, w[p + "self_attn.k_norm.weight"], eps)
            q = q * cos[None, :, None] + rotate_half(q) * sin[None, :, None]
            k = k * cos[None, :, None] + rotate_half(k) * sin[None, :, None]
            kc[l, :, :, pos0:pos0 + T] = k.transpose(1, 2)
            vc[l, :, :, pos0:pos0 + T] = v.transpose(1, 2)
            K = kc[l, :, :, :pos0 + T].repeat_interleave(nh // nkv, dim=1)
            Vv = vc[l, :, :, :pos0 + T].repeat_interleave(nh // nkv, dim=1)
            s = q.transpose(1, 2) @ K.transpose(-1, -2) / math.sqrt(hd)   # [B, nh, T, n]
            if T > 1:
                s = s + torch.full((T, pos0 + T), float("-inf")).triu(pos0 + 1)
            att = (s.softmax(-1) @ Vv).transpose(1, 2).reshape(B, T, nh * hd)
            x = x + F.linear(att, w[p + "self_attn.o_proj.weight"])
            h = rmsnorm(x, w[p + "post_attention_layernorm.weight"], eps)
            x = x + F.linear(F.silu(F.linear(h, w[p + "mlp.gate_proj.weight"])) * F.linear(h, w[p + "mlp.up_proj.weight"]),
                             w[p + "mlp.down_proj.weight"])
        x = rmsnorm(x[:, -1], w["model.norm.weight"], eps)
        return F.linear(x, head)

    with torch.no_grad():
        prompt = torch.tensor([(i * 7919 + 13) % args.vocab for i in range(args.prompt)]).repeat(B, 1)
        t0 = time.perf_counter()
        tok = step(prompt, 0).argmax(-1)
        t_prefill = time.perf_counter() - t0
        times = []
        for i in range(args.iters):
            t1 = time.perf_counter()
            tok = step(tok[:, None], args.prompt + i).argmax(-1)
            times.append(time.perf_counter() - t1)
    per = sum(times) / len(times)
    blas = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    print(json.dumps({"batch": B, "step_s": per, "best_step_s": min(times), "tokens_per_s": B / per,
                      "prefill_s": t_prefill, "threads": torch.get_num_threads(), "blas": blas,
                      "torch": torch.__version__}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "engine"))
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--bench-decode", action="store_true")
    ap.add_argument("--arch", default="qwen3")
    for k, v in (("layers", 2), ("hidden", 32), ("heads", 4), ("kv-heads", 2), ("head-dim", 8),
                 ("intermediate", 64), ("vocab", 128), ("tokens", 512), ("rank", 32), ("threads", 2),
                 ("iters", 3), ("warmup", 1), ("batch", 1), ("prompt", 16)):
        ap.add_argument("--" + k, type=int, default=v)
    args = ap.parse_args()
    if args.bench:
        bench(args)
        return
    if args.bench_decode:
        bench_decode(args)
        return
    torch.manual_seed(0)
    os.makedirs(args.out, exist_ok=True)
    make_fixture("llama3", args.out, 1234)
    make_fixture("qwen3", args.out, 5678)
    make_dtypes(args.out)


if __name__ == "__main__":
    sys.exit(main())
