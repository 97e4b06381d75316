#!/usr/bin/env python3
"""Reference values of the DPO loss for tests/cookbook/test_dpo.c, computed with PyTorch
(Debian's python3-torch) the way the cookbook's train_dpo.py does: sequence log-probs as
dot(logprobs, weights), log-ratios against the reference, -F.logsigmoid(beta * diff).mean(),
and the gradient with respect to every logprob by autograd.

    /usr/bin/python3 scripts/dpo_reference.py > tests/data/cookbook/dpo_loss.json
"""
import json
import random

import torch
import torch.nn.functional as F


def case(rng, n_pairs, beta, scale):
    datums = []
    for _ in range(2 * n_pairs):
        n = rng.randint(3, 7)
        lp = [-rng.uniform(0.05, 4.0) * scale for _ in range(n)]
        w = [0.0] * rng.randint(1, n - 1)
        w += [1.0] * (n - len(w))
        if n > 4:
            w[-2] = 0.5   # a fractional weight: the sum is weighted, not a mask
        datums.append({"logprobs": lp, "weights": w, "ref_sum": -rng.uniform(1.0, 8.0) * scale})
    lps = [torch.tensor(d["logprobs"], dtype=torch.float32, requires_grad=True) for d in datums]
    ws = [torch.tensor(d["weights"], dtype=torch.float32) for d in datums]
    seq = [torch.dot(lp.double(), w.double()) for lp, w in zip(lps, ws)]
    ratio = [s - d["ref_sum"] for s, d in zip(seq, datums)]
    chosen = torch.stack(ratio[0::2])
    rejected = torch.stack(ratio[1::2])
    loss = (-F.logsigmoid(beta * (chosen - rejected))).mean()
    loss.backward()
    for d, lp in zip(datums, lps):
        d["grad"] = lp.grad.tolist()
    return {
        "beta": beta, "datums": datums, "loss": loss.item(),
        "accuracy": (chosen > rejected).double().mean().item(),
        "margin": (beta * chosen - beta * rejected).mean().item(),
        "chosen_reward": (beta * chosen).mean().item(),
        "rejected_reward": (beta * rejected).mean().item(),
    }


rng = random.Random(7)
cases = [case(rng, 3, 0.1, 1.0), case(rng, 4, 2.0, 10.0), case(rng, 1, 0.5, 1.0)]
print(json.dumps({"torch": torch.__version__, "cases": cases}, indent=1))
