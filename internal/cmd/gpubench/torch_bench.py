"""PyTorch (CUDA) timings next to gpubench's, on the reference BaryNet of
testdata/torchref/barynet.py, in several modes, each in a subprocess of its
own (so one mode's memory, compile caches or failure do not touch the next):

  fp32           TF32 off everywhere (the Go executor's FP32 arithmetic)
  tf32           TF32 matmuls and cuDNN convolutions (PyTorch's default for convolutions)
  bf16           bf16 autocast (TF32 on for what autocast leaves in fp32)
  compile-tf32   torch.compile of the network, TF32
  compile-bf16   torch.compile of the network, bf16 autocast

Per mode it times
  train_step     forward, L1, backward, RMSprop (alpha 0.99, eps 1e-8): what
                 gpubench's executor step does;
  authors_step   one iteration of the authors' loop, as testdata/gen_authors_step.py
                 transcribes trainer_bary.py: the network's step on their losses
                 (RMS cost, IRC, BRO, the potentials, Sigma L1), the potentials' step
                 on a second forward, the congruence-penalty step; RMSprop for both;
  infer          one image (default 512x512) under no_grad;
with the peak allocated memory of each. A mode that fails (or, for compile,
does not finish within --mode-timeout seconds) is reported with its error.

    python3 torch_bench.py --preset paper --batch 8 --size 128 --json out.json
"""
import argparse, json, os, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.join(HERE, "..", "..", "..", "..")
sys.path.insert(0, os.path.join(REPO, "testdata", "torchref"))

MODES = ["fp32", "tf32", "bf16", "compile-tf32", "compile-bf16"]


def med(v):
    return sorted(v)[len(v) // 2]


def timed(fn, warm, reps):
    import torch
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        out.append(a.elapsed_time(b))
    return out


def one_mode(mode, preset, batch, size, infer_size, steps, infers):
    import contextlib
    import torch
    import torch.nn.functional as F
    import barynet

    tf32 = mode != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    bf16 = mode.endswith("bf16")
    cast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    torch.manual_seed(0)
    dev = torch.device("cuda")
    base = (barynet.paper() if preset == "paper" else barynet.tiny()).to(dev)
    net = torch.compile(base) if mode.startswith("compile") else base
    res = dict(mode=mode, params=sum(p.numel() for p in base.parameters()))

    # The executor's step: forward, L1, backward, RMSprop.
    y = torch.rand(batch, 3, size, size, device=dev)
    x = y + 0.1 * torch.randn_like(y)
    opt = torch.optim.RMSprop(base.parameters(), lr=1e-4, alpha=0.99, eps=1e-8)

    def step():
        opt.zero_grad(set_to_none=True)
        with cast():
            out = net(x)[0]
            loss = (out.float() - y).abs().mean()
        loss.backward()
        opt.step()

    torch.cuda.reset_peak_memory_stats()
    t0 = time.time()
    step()  # compiles, for the compile modes
    res["first_step_s"] = time.time() - t0
    t = timed(step, 2, steps)
    res.update(train_step_ms=med(t), train_steps_ms=t, train_peak_alloc_mib=torch.cuda.max_memory_allocated() / 2**20)

    # The authors' iteration (testdata/gen_authors_step.py), K = 3 sources.
    dim = 48 if preset == "paper" else 8
    pots = barynet.Potentials(3, channels=dim * 8, size=size).to(dev)
    net_opt = torch.optim.RMSprop(base.parameters(), lr=1e-4)
    pot_opt = torch.optim.RMSprop(pots.parameters(), lr=1e-4)
    de_id = [i % 5 for i in range(batch)]
    src = lambda d: 0 if d < 3 else d - 2
    lam = [1 / 3] * 3
    flat = lambda v: F.normalize(v.reshape(-1).float(), dim=0)

    def freeze(m, flag):
        for p in m.parameters():
            p.requires_grad_(flag)

    def authors():
        freeze(pots, False)
        freeze(base, True)
        net_opt.zero_grad(set_to_none=True)
        with cast():
            restored, s, b, r = net(x)
        l1 = torch.mean(torch.abs(restored.float() - y))
        gen = 0.0
        for i in range(batch):
            cost = torch.mean(torch.abs(s[i].float() - b[i].float()) ** 2) ** 0.5
            orth = sum(torch.sum(flat(b[i]) * flat(r[j])) ** 2 for j in range(batch))
            pos = sum(torch.exp(torch.sum(flat(r[i]) * flat(r[j])) / 0.07) for j in range(batch) if de_id[j] == de_id[i])
            neg = sum(torch.exp(torch.sum(flat(r[i]) * flat(r[j])) / 0.07) for j in range(batch) if de_id[j] != de_id[i])
            contra = -torch.log(pos / (pos + neg))
            with cast():
                f = pots(b[i], src(de_id[i])).squeeze().float()
            gen = gen + lam[src(de_id[i])] * (cost + 0.05 * (orth + contra) - f)
        (gen / batch + 1e4 * l1).backward()
        net_opt.step()
        freeze(pots, True)
        freeze(base, False)
        pot_opt.zero_grad(set_to_none=True)
        with cast():
            _, _, b, _ = net(x)
            pot = sum(lam[src(de_id[i])] * pots(b[i], src(de_id[i])).squeeze().float() for i in range(batch)) / batch
        pot.backward()
        pot_opt.step()
        pot_opt.zero_grad(set_to_none=True)
        with cast():
            cong = sum(lam[j] * pots(b[batch - 1], j).squeeze().float() for j in range(3))
        (10 * cong ** 2).backward()
        pot_opt.step()
        freeze(base, True)

    del opt
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    t = timed(authors, 2, steps)
    res.update(authors_step_ms=med(t), authors_steps_ms=t, authors_peak_alloc_mib=torch.cuda.max_memory_allocated() / 2**20)
    del net_opt, pot_opt, pots

    # Inference of one image.
    xi = torch.rand(1, 3, infer_size, infer_size, device=dev)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()

    def infer():
        with torch.no_grad(), cast():
            net(xi)

    t = timed(infer, 3, infers)
    res.update(infer_ms=med(t), infer_all_ms=t, infer_peak_alloc_mib=torch.cuda.max_memory_allocated() / 2**20)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--infer-size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--infer", type=int, default=10)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--mode-timeout", type=float, default=240, help="seconds per mode (compiles included)")
    ap.add_argument("--mode", default="", help=argparse.SUPPRESS)  # internal: run one mode, print its JSON
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    if a.mode:
        print("RESULT " + json.dumps(one_mode(a.mode, a.preset, a.batch, a.size, a.infer_size, a.steps, a.infer)), flush=True)
        return
    import torch
    res = dict(device=torch.cuda.get_device_name(0), torch=torch.__version__, preset=a.preset, batch=a.batch,
               size=a.size, infer_size=a.infer_size, runs=[])
    for mode in a.modes.split(","):
        if mode not in MODES:
            sys.exit(f"unknown mode {mode!r} (want some of {MODES})")
        cmd = [sys.executable, os.path.abspath(__file__), "--mode", mode, "--preset", a.preset, "--batch", str(a.batch),
               "--size", str(a.size), "--infer-size", str(a.infer_size), "--steps", str(a.steps), "--infer", str(a.infer)]
        t0 = time.time()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.mode_timeout)
            lines = [l for l in p.stdout.splitlines() if l.startswith("RESULT ")]
            if p.returncode != 0 or not lines:
                r = dict(mode=mode, error=(p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1])
            else:
                r = json.loads(lines[-1][len("RESULT "):])
        except subprocess.TimeoutExpired:
            r = dict(mode=mode, error=f"did not finish within {a.mode_timeout:.0f} s")
        r["wall_s"] = time.time() - t0
        res["runs"].append(r)
        if "error" in r:
            print(f"torch {mode}: FAILED: {r['error']}", flush=True)
        else:
            print(f"torch {mode}: train step {r['train_step_ms']:.1f} ms ({r['train_peak_alloc_mib']:.0f} MiB), "
                  f"authors' step {r['authors_step_ms']:.1f} ms ({r['authors_peak_alloc_mib']:.0f} MiB), "
                  f"infer {a.infer_size}x{a.infer_size} {r['infer_ms']:.1f} ms ({r['infer_peak_alloc_mib']:.0f} MiB)", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
