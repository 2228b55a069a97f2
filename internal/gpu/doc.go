// Package gpu runs the project's Gorgonia graphs on one NVIDIA GPU.
//
// # Build
//
// Everything that touches CUDA is behind the build tag baryirgpu (not
// gorgonia's own `cuda` tag, whose cuDNN code cannot build here). The default
// build holds only a stub: Available is false and Open returns ErrNoGPU
// ("built without GPU support; rebuild with -tags baryirgpu"). Building with
// the tag needs cgo and the CUDA driver API headers (Debian: nvidia-cuda-dev
// from non-free, CUDA 11.8), links libcuda (the stub library, or any driver's)
// and runs wherever an NVIDIA driver provides libcuda.so.1. It does not need
// nvcc: the kernels (kernels/baryir.cu) are compiled to PTX for compute_80
// (kernels/baryir.ptx, committed, embedded with go:embed) and the driver
// JIT-compiles that PTX for the GPU at hand (Ampere, Hopper, ...).
// Regenerate the PTX with `CUDAHOSTCXX=g++-11 go generate -tags baryirgpu ./internal/gpu/`.
//
// # Use
//
//	d, _ := gpu.Open(0)
//	e, _ := gpu.Compile(d, g, append(G.Nodes{cost}, grads...)...) // keep: nodes to read back
//	e.LetData(x, xs)                                                // inputs; parameters are uploaded at Compile
//	opt := &gpu.RMSProp{LR: 2e-4, Decay: 0.99, Eps: 1e-8, TorchEps: true}
//	for ... { e.LetData(x, batch); e.Enqueue(); opt.Step(e, params, grads); d.Sync() }
//	e.ReadInto(p)                                                   // trained values back into the graph
//
// Compile sorts the graph (gorgonia.Sort), uploads every input that has a
// value (parameters, constant vectors) once and keeps it resident, and plans
// one device buffer per node, reused after the node's last reader. Run (or
// Enqueue) queues every node as CUDA kernels on one stream with no host round
// trip; Read/ReadInto download only what is asked. RMSProp (Gorgonia's or
// PyTorch's epsilon placement) and Adam update parameters in place on the
// device. For BaryIR's alternating max-min training, compile the trainer's
// graph once (keep both losses and both gradient sets) and take
// e.Phase(mapLoss, mapGrads...) and e.Phase(potLoss, potGrads...): each phase
// runs only the nodes its roots need, on the shared parameters.
//
// # Ops
//
// The project's op.Kernels implement Kernel in files *_gpu.go beside them
// (layers: conv, grouped/depthwise conv and their gradients, bias, scale,
// concat/slice, LayerNorm, GELU gate, pixel (un)shuffle, channel attention,
// LeakyReLU, Linear; losses: L1, IRC, BRO). Handled here: ot.detach (a copy),
// and the plain Gorgonia ops + - ⊙ ÷ (equal shapes or a scalar operand), the
// common unary ops, Sum over axes, Mean (sum, size, division), Reshape,
// Repeat (up to 4 axes), matrix products (2-D, either side transposed),
// slices along one axis and their gradient, Concat, constants. Matrix
// products use in-house SGEMM kernels (64x64, 64x128, 128x64 and 128x128
// tiles, picked per shape; split-K with a separate reduction for long, thin
// products); convolutions are im2col + SGEMM (1x1 convolutions read the
// input directly), depthwise convolutions are direct. Float32 only, index
// arithmetic in 32 bits (tensors under 2^31 elements). An op with no GPU
// implementation runs on the host (stream synchronised, inputs downloaded, the
// op's own Do, output uploaded) and is listed in Executor.HostOps; set
// NoHostFallback to make Compile fail instead. BaryIR's whole training graph
// (network, L1, IRC, BRO, OT objective, potentials, both gradient sets) has
// no host op.
//
// # Checks
//
// scripts/gpu_check.sh builds the tagged test binary and benchmark (build),
// runs them on a GPU machine and writes a report (run), or runs them here
// against internal/gpu/emu, a fake libcuda whose launches run C emulations of
// the kernels (emu): that checks lowering, planning, offsets and argument
// order against the CPU tape machine, not the CUDA code. The untagged
// TestPTXHasEveryKernel catches a PTX not regenerated after a .cu change.
// Tests (tag baryirgpu): every op's forward and input gradients against the
// CPU tape machine (TestOps, and TestGemmVariants with each SGEMM variant
// forced), the L1 training step of Tiny and a dim-16 config at 32x32
// (forward, all parameter gradients, one RMSProp step; TestTrainingStep), the
// whole BaryIR training graph (TestBaryIRStep), phases (TestPhases) and the
// device RMSProp and Adam against internal/optim (TestOptimisers); the
// tolerance is a relative error ||gpu - cpu|| / ||cpu|| of 1e-3 per tensor.
//
// # Results (internal/gpu/results, NVIDIA H200, driver 580.159.04, 2026-11-26)
//
// All tests pass; the worst relative error over every op, output and
// parameter gradient is 2.6e-5 (the BRO/IRC/attention temperature gradients),
// most are 1e-7. Paper preset, batch 8, 128x128, float32, training step =
// forward + L1 + backward + RMSProp (gpubench; torch_bench.py times PyTorch
// 2.11 on testdata/torchref/barynet.py in the same run). Runs 6 and 7:
//
//	                      this executor    PyTorch fp32     PyTorch TF32 (default)
//	training step         252.2, 252.5 ms  291.3, 292.0 ms  209.6, 234.4 ms
//	inference             74.9, 74.9 ms    76.0, 75.7 ms    49.4, 51.9 ms
//	training memory       24.5 GB (pool)   35.2 GB (peak allocated)
//
// Run 9 (h200_run9.md): every test above passes, and so do package
// baryir's GPU paths against the CPU ones: the Restorer (rel. error 1e-7),
// three training steps of Tiny at 32x32, batch 2 (paper RMSprop, authors'
// Adam, Restormer baseline: losses within 7.3e-4, weights within 1.4e-4),
// and checkpoint/resume on the GPU (identical losses). three_degradation
// -device gpu trains Tiny (batch 4, 64x64) at 81.6 steps/s and restores;
// restore -device gpu restores a photo with the weights it wrote.
//
// The step went 451 ms (run 1), 314 ms (run 4: thread-per-output split-K
// reductions), 272 ms (run 5: 32-bit index arithmetic), 252 ms (run 6:
// depthwise kernels without per-element divisions). The largest remaining
// costs are the depthwise convolutions' gradients, channel attention's
// backward and the LayerNorm backward at low resolution (gpubench -profile).
//
// # Training and inference through package baryir
//
// TrainConfig.Device = baryir.DeviceGPU and Restorer.SetDevice(DeviceGPU)
// (examples/three_degradation and examples/restore: -device gpu) run the
// trainer's graph and the restorer's tile graphs here (baryir's
// trainer_gpu.go, inference_gpu.go): compiled once, one Phase per side of
// the max-min step, the device RMSProp (TorchEps) or Adam, losses read back
// as a few scalars per step, parameters and optimiser state downloaded for
// checkpoints and uploaded after Resume. device_gpu_test.go checks them
// against the CPU trainer and restorer; see baryir.DeviceGPU for the limits.
//
// # Known issues and limits
//
//   - Fixed: the CPU tape machine used to compute a wrong gradient for
//     resreduce_noise_level3.weight in the BaryIR trainer graph (ot's
//     per-sample cost was built from Gorgonia ops that squared s - b in place
//     through Reshape's view, and node merging shared that difference with
//     the network's residual). Commit "Fix corrupted BaryNet residual
//     gradients on the CPU" made the cost one kernel (ot.cost_*, run here
//     through ot/kernels_gpu.go); the CPU trainer now matches PyTorch's
//     gradients (trainer_test.go TestAuthorsLossesMatchPyTorch), and
//     TestBaryIRStep checks the CPU reference against Sigma*dL1/dW and the
//     GPU against the CPU for every parameter.
//   - No tensor cores (TF32/bf16), no cuBLAS, no CUDA graphs, one stream.
//   - The nvidia-h100-x1 kind was not available to the sessions that measured;
//     every figure above is from an H200.
package gpu
