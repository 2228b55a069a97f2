"""Writes testdata/authors_step.safetensors: one iteration of the authors'
training loop (trainer_bary.py's train(), transcribed step for step) from the
fixtures of gen_network.py, the reference for baryir.AuthorsTraining's Step.

    /usr/bin/python3 testdata/gen_authors_step.py

Run gen_network.py first; this script reads what it wrote:
testdata/barynet_tiny.pth (the network), testdata/potentials_tiny.pth (three
potentials on (32, 2, 2) latents) and the batch, the source ids and the
barycenter weights of testdata/trainer_loss.safetensors.

One iteration, as their loop takes it at epoch 1 (learning rate lr/2 for
both RMSprop optimisers, PyTorch's defaults otherwise):
  1. the network's step on
     (1/B) sum_i w_i (c(s_i, b_i) + 0.05 (orth_i + contra_i) - f_i(b_i)) + Sigma L1
     with the potentials frozen (gradients still flow through them);
  2. the potentials' step on (1/B) sum_i w_i f_i(b_i), b from a second
     forward of the updated network, frozen;
  3. a second potentials' step on 10 (sum_j w_j f_j(b_last))^2 for the last
     latent of that forward, with the potentials step 2 left.
The fixture holds every parameter after the iteration ("net/..." and
"pots/..."), the three losses before their updates, and the settings.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "testdata", "torchref"))
sys.path.insert(0, os.path.join(REPO, "testdata"))
import barynet  # noqa: E402,F401  (the pickles refer to its classes)
from gen_network import authors_network_loss, write_safetensors  # noqa: E402

torch.set_num_threads(1)

LR = 2e-4      # their --lr; both optimisers run at LR/2 in epoch 1
SIGMA = 1.0    # their --Sigma is 1e4; 1 lets the barycenter terms shape the update
PENALTY = 10.0


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(blob[a:b], dtype=np.float32).reshape(h["shape"]).copy())
    return out


def set_requires_grad(module, flag):  # their utils.freeze / unfreeze
    for p in module.parameters():
        p.requires_grad_(flag)


def main():
    fix = read_safetensors(os.path.join(REPO, "testdata", "trainer_loss.safetensors"))
    bary = torch.load(os.path.join(REPO, "testdata", "barynet_tiny.pth"))["BaryIR"]
    pots = torch.load(os.path.join(REPO, "testdata", "potentials_tiny.pth"))["Pots"]
    degraded, clean = fix["degraded"], fix["clean"]
    de_id = [int(d) for d in fix["degradation"].tolist()]
    lam = fix["weights"].double().tolist()
    lam[0] = 1 - lam[1] - lam[2]  # as the Go test renormalises the float32 weights
    src = lambda d: 0 if d < 3 else d - 2  # noise levels share one source
    K, B = len(lam), degraded.shape[0]

    net_opt = torch.optim.RMSprop(bary.parameters(), lr=LR / 2)
    pot_opt = torch.optim.RMSprop(pots.parameters(), lr=LR / 2)

    # 1. The network's step.
    set_requires_grad(pots, False)
    set_requires_grad(bary, True)
    bary.zero_grad()
    generator, _, _ = authors_network_loss(bary, pots, degraded, clean, de_id, lam, SIGMA)
    generator.backward()
    net_opt.step()

    # 2. The potentials' step, on the updated network's latents.
    set_requires_grad(pots, True)
    set_requires_grad(bary, False)
    pots.zero_grad()
    _, _, b, _ = bary(degraded)
    pot = 0.0
    for i in range(B):
        pot = pot + lam[src(de_id[i])] * pots(b[i], src(de_id[i])).squeeze()
    potential = pot / B
    potential.backward()
    pot_opt.step()

    # 3. The congruence step on the last latent.
    pots.zero_grad()
    cong = sum(lam[j] * pots(b[B - 1], j).squeeze() for j in range(K))
    penalty = PENALTY * cong ** 2
    penalty.backward()
    pot_opt.step()

    out = {"generator": generator.detach().reshape(1), "potential": potential.detach().reshape(1),
           "penalty": penalty.detach().reshape(1), "lr": torch.tensor([LR]), "sigma": torch.tensor([SIGMA])}
    for k, v in bary.state_dict().items():
        out["net/" + k] = v
    for k, v in pots.state_dict().items():
        out["pots/" + k] = v
    write_safetensors(os.path.join(REPO, "testdata", "authors_step.safetensors"), out)


if __name__ == "__main__":
    main()
