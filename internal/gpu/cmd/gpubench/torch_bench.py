"""PyTorch (CUDA) timing of the network gpubench times: the reference BaryNet
of testdata/torchref/barynet.py, L1 loss, backward and RMSprop (alpha 0.99,
eps 1e-8) per training step; forward under no_grad for inference. Float32;
run twice, with TF32 off (the same arithmetic as the Go executor) and with
PyTorch's defaults (TF32 convolutions through cuDNN).

    python3 torch_bench.py --preset paper --batch 8 --size 128 --json out.json
"""
import argparse, json, os, sys, time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "testdata", "torchref"))
import barynet  # noqa: E402


def bench(preset, batch, size, steps, infers, tf32):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    dev = torch.device("cuda")
    net = (barynet.paper() if preset == "paper" else barynet.tiny()).to(dev)
    params = sum(p.numel() for p in net.parameters())
    y = torch.rand(batch, 3, size, size, device=dev)
    x = y + 0.1 * torch.randn_like(y)
    opt = torch.optim.RMSprop(net.parameters(), lr=1e-4, alpha=0.99, eps=1e-8)

    def step():
        opt.zero_grad(set_to_none=True)
        out = net(x)[0]
        loss = (out - y).abs().mean()
        loss.backward()
        opt.step()
        return loss

    torch.cuda.reset_peak_memory_stats()
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(steps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        step()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    train_peak = torch.cuda.max_memory_allocated() / 2**20
    train_reserved = torch.cuda.max_memory_reserved() / 2**20
    opt.zero_grad(set_to_none=True)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    itimes = []
    with torch.no_grad():
        for _ in range(3):
            net(x)
        torch.cuda.synchronize()
        for _ in range(infers):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            net(x)
            b.record()
            torch.cuda.synchronize()
            itimes.append(a.elapsed_time(b))
    infer_peak = torch.cuda.max_memory_allocated() / 2**20
    med = lambda v: sorted(v)[len(v) // 2]
    return dict(tf32=tf32, params=params, train_step_ms=med(times), train_steps_ms=times,
                infer_ms=med(itimes), infer_all_ms=itimes, train_peak_alloc_mib=train_peak,
                train_peak_reserved_mib=train_reserved, infer_peak_alloc_mib=infer_peak)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--infer", type=int, default=10)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    res = dict(device=torch.cuda.get_device_name(0), torch=torch.__version__, preset=a.preset,
               batch=a.batch, size=a.size, runs=[])
    for tf32 in (False, True):
        r = bench(a.preset, a.batch, a.size, a.steps, a.infer, tf32)
        res["runs"].append(r)
        print(f"torch tf32={tf32}: train step {r['train_step_ms']:.1f} ms, infer {r['infer_ms']:.1f} ms, "
              f"peak alloc train {r['train_peak_alloc_mib']:.0f} MiB, infer {r['infer_peak_alloc_mib']:.0f} MiB",
              flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
