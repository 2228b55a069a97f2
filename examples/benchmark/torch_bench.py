"""PyTorch (CPU) side of examples/benchmark: the same BaryNet
(testdata/torchref/barynet.py), potentials and losses as baryir.Trainer with
baryir.PaperTraining (half-squared transport cost, potentials congruent by
construction, IRC + BRO on the residuals, Sigma * L1, RMSprop alpha 0.99 eps
1e-8 at lr/2 for the network and the potentials), timed on one fixed batch.

One training step mirrors Trainer.StepOn: a network step (forward, the map
loss, backward, RMSprop) with the potentials frozen, then a potentials step
that recomputes the barycenter latents b with the updated network (no
gradient) and minimises sum_i sw_i f(b_i). Inference is the network's
forward under no_grad; "fwd" is the network forward plus the L1 loss with
autograd recording, "fwdbwd" adds loss.backward().

Prints one JSON object; peak_mib is this process's ru_maxrss. --only step
or --only infer measures that alone (the paper-scale rows: the others
would take minutes), without building what it does not use (the
potentials and optimisers for infer), so the peak is that measurement's.

    /usr/bin/python3 torch_bench.py --dim 16 --blocks 2,2,2,2 --reps 10
    /usr/bin/python3 torch_bench.py --dim 48 --blocks 4,6,6,8 --refinement 4 --bary-blocks 2 \
        --batch 1 --size 256 --reps 3 --warmup 1 --only infer
"""
import argparse, json, os, resource, sys, time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "testdata", "torchref"))
import barynet  # noqa: E402


def ints(s):
    return tuple(int(v) for v in s.split(","))


def irc(r, ids, tau):
    z = r.flatten(1)
    z = z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
    s = z @ z.t() / tau
    same = ids[:, None] == ids[None, :]
    lse_all = torch.logsumexp(s, 1)
    lse_pos = torch.logsumexp(s.masked_fill(~same, float("-inf")), 1)
    loss = lse_all - lse_pos
    return torch.where(same.all(1), torch.zeros_like(loss), loss)


def bro(b, r):
    bn = b.flatten(1)
    bn = bn / bn.norm(dim=1, keepdim=True).clamp_min(1e-12)
    rn = r.flatten(1)
    rn = rn / rn.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return ((bn @ rn.t()) ** 2).sum(1)


def bary_latent(net, x):
    """b = LN(barylatent(LN(latent(...)))) without the decoder (what the
    Go potentials' machine computes)."""
    e1 = net.encoder_level1(net.patch_embed(x))
    e2 = net.encoder_level2(net.down1_2(e1))
    e3 = net.encoder_level3(net.down2_3(e2))
    s = net.LN(net.latent(net.down3_4(e3)))
    return net.LN(net.barylatent(s))


class Restored(torch.nn.Module):
    """The network's restored image alone: what inference returns."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)[0]


def export(net, a):
    """Writes the inference graph (input "x", output "y", batch dynamic,
    H = W = --size) for ONNX Runtime, and the same weights as a state_dict
    for baryir.OpenRestorer, so that all three run one network."""
    net.eval()
    x = torch.rand(a.batch, 3, a.size, a.size)
    with torch.no_grad():
        torch.onnx.export(Restored(net), x, a.export_onnx, opset_version=17, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    if a.export_pth:
        torch.save(net.state_dict(), a.export_pth)
    print(json.dumps({"torch": torch.__version__, "onnx": a.export_onnx, "pth": a.export_pth}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dim", type=int, default=8)
    ap.add_argument("--blocks", default="1,1,1,1")
    ap.add_argument("--heads", default="1,2,4,8")
    ap.add_argument("--refinement", type=int, default=1)
    ap.add_argument("--bary-blocks", type=int, default=1)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--only", choices=["step", "infer"], default=None)
    ap.add_argument("--export-onnx", default=None,
                    help="write the network's inference graph to this ONNX file (opset 17, batch axis dynamic) and exit")
    ap.add_argument("--export-pth", default=None, help="with --export-onnx: also write its state_dict here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = barynet.build("barynet", a.dim, ints(a.blocks), ints(a.heads), a.refinement, a.bary_blocks)
    if a.export_onnx:
        export(net, a)
        return
    k = 3
    w = torch.full((k,), 1.0 / k)
    proj = torch.eye(k) - w[:, None]  # f_k - sum_j w_j f_j (exact congruence)
    sigma, beta, tau, lr = 1e4, 0.05, 0.07, 2e-4 / 2
    if a.only != "infer":
        pots = barynet.Potentials(k, channels=8 * a.dim, size=a.size)
        net_opt = torch.optim.RMSprop(net.parameters(), lr=lr, alpha=0.99, eps=1e-8)
        pot_opt = torch.optim.RMSprop(pots.parameters(), lr=lr, alpha=0.99, eps=1e-8)

    g = torch.Generator().manual_seed(1)
    y = torch.rand(a.batch, 3, a.size, a.size, generator=g)
    x = (y + 0.1 * torch.randn(y.shape, generator=g)).clamp(0, 1)
    src = torch.tensor([i % k for i in range(a.batch)])
    counts = torch.bincount(src, minlength=k).float()
    sw = torch.zeros(a.batch, k)
    sw[torch.arange(a.batch), src] = w[src] / counts[src]

    def potentials(b):
        f = torch.cat([p(b) for p in pots.potentials], 1)  # (N, K)
        return f @ proj

    def step():
        # Network step, potentials frozen.
        for p in pots.parameters():
            p.requires_grad_(False)
        net_opt.zero_grad(set_to_none=True)
        out, s, b, r = net(x)
        l1 = (out - y).abs().mean()
        per = sw.sum(1)
        transport = (per * 0.5 * ((s - b) ** 2).flatten(1).sum(1)).sum()
        pot = (sw * potentials(b)).sum()
        resid = (per * (irc(r, src, tau) + bro(b, r))).sum()
        loss = transport - pot + beta * resid + sigma * l1
        loss.backward()
        net_opt.step()
        # Potentials step on the updated network's latents.
        for p in pots.parameters():
            p.requires_grad_(True)
        pot_opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            b = bary_latent(net, x)
        ploss = (sw * potentials(b)).sum()
        ploss.backward()
        pot_opt.step()

    def fwd():
        out = net(x)[0]
        return (out - y).abs().mean()

    def fwdbwd():
        net.zero_grad(set_to_none=True)
        fwd().backward()

    def infer():
        with torch.no_grad():
            net(x)

    def timed(f, reps):
        for _ in range(a.warmup):
            f()
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t)
        return sorted(ts)[len(ts) // 2], ts

    res = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if a.only in (None, "step"):
        res["step_s"], res["step_all_s"] = timed(step, a.reps)
    if a.only is None:
        res["fwd_s"], _ = timed(fwd, a.reps)
        res["fwdbwd_s"], _ = timed(fwdbwd, a.reps)
    if a.only in (None, "infer"):
        res["infer_s"], res["infer_all_s"] = timed(infer, a.reps)
    res["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res["params"] = sum(p.numel() for p in net.parameters())
    print(json.dumps(res))


if __name__ == "__main__":
    main()
