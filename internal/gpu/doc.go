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
// input directly), depthwise convolutions are direct. Float32 tensors only,
// index arithmetic in 32 bits (tensors under 2^31 elements). An op with no GPU
// implementation is an error at Compile that names it, unless
// Options.HostFallback runs it on the host (stream synchronised, inputs
// downloaded, the op's own Do, output uploaded; listed in Executor.HostOps). BaryIR's whole training graph
// (network, L1, IRC, BRO, OT objective, potentials, both gradient sets) has
// no host op.
//
// # Precision
//
// Options.Precision (baryir.MachineOptions.Precision, TrainConfig.Precision,
// RestorerOptions.Precision) is the arithmetic of Device.Gemm, which the layers'
// convolutions (all but depthwise), Linear and channel attention's products
// call: FP32 runs the in-house SGEMM kernels above; TF32 and BF16 run
// cuBLASLt (blas.go) with compute type CUBLAS_COMPUTE_32F_FAST_TF32 or
// CUBLAS_COMPUTE_32F_FAST_16BF: float32 operands in device memory, rounded
// to TF32 or bfloat16 by the library on the way into the tensor cores,
// float32 accumulation, float32 output. So BF16 here is bf16 arithmetic, not
// bf16 storage: activations, gradients, the parameters (master weights) and
// the optimisers' state stay float32 in memory, and no conversion kernel is
// needed (the PTX is the same for every precision). Whether bf16 storage
// would pay (half the activation traffic, conversion kernels in baryir.cu)
// is unmeasured. What stays
// float32 whatever the precision: LayerNorm and its statistics, softmax, GELU,
// depthwise convolutions, the losses (L1, IRC, BRO: their Gram products call
// GemmFP32), the OT cost and objective and any plain Gorgonia matrix product
// (GemmFP32 too), and the optimisers.
//
// cuBLASLt is loaded at run time with dlopen (libcublasLt.so.13, .12, .11,
// then libcublasLt.so; LtLibraries), so the build needs only CUDA 11.8's
// cublasLt.h and runs with whatever CUDA 11-13 library the machine has (a
// toolkit's, or PyTorch's nvidia-cublas wheel's on LD_LIBRARY_PATH). Compile
// at TF32/BF16 fails if none loads, listing each name tried and why. A
// product whose layout cuBLASLt has no algorithm for runs on the float32
// kernels instead and is listed by Device.BLASFallbacks (gpubench prints
// them). The
// row-major product is handed over as its column-major transpose; batches
// become one strided-batched call where the Batch's two levels collapse
// (else one call per outer index); each distinct shape's descriptors and
// heuristic algorithm are made once (alignment of the operands included) and
// cached on the Device; a 32 MiB workspace is allocated with the library.
//
// Per-op tolerances (relative error against the CPU's float32, forward and
// every input gradient; precision_test.go): single products 1e-3 (TF32) and
// 8e-3 (BF16), about 2.5 times the expected sqrt(2/3)·2^-(m+1) for m
// mantissa bits; convolutions and Linear the same; channel attention and the
// transformer block 1.5 times that. Measured on the emulator: worst 4.1e-4
// (TF32) and 3.7e-3 (BF16). Ops without products must give FP32's result
// bit for bit. Three Tiny training steps: L1 within 1e-2 (TF32) / 2.5e-2
// (BF16) of FP32 (measured 3.5e-3 and 9.8e-3), weights within 6e-3 / 1.2e-2.
//
// # Checks
//
// scripts/gpu_check.sh builds the tagged test binary and benchmark (build),
// runs them on a GPU machine and writes a report (run), or runs them here
// against internal/gpu/emu, a fake libcuda whose launches run C emulations of
// the kernels (emu): that checks lowering, planning, offsets and argument
// order against the CPU tape machine, not the CUDA code. Beside it,
// emu/fakecublaslt.c is a fake libcublasLt with exactly the entry points
// blas.go uses: it checks the layouts it is given and rounds the operands to
// TF32 or bfloat16 (round to nearest even) before a float32-accumulated
// product, so the TF32/BF16 tests run here; FAKE_LT_BITS=n rounds to n bits
// instead (with 7 for TF32 or 5 for BF16 the tolerance tests fail, and with
// 23 the "did it run reduced" checks do). It checks our use of cuBLASLt's
// interface, not cuBLASLt or the tensor cores. The untagged
// TestPTXHasEveryKernel catches a PTX not regenerated after a .cu change.
// Tests (tag baryirgpu): every op's forward and input gradients against the
// CPU tape machine (TestOps, and TestGemmVariants with each SGEMM variant
// forced), the L1 training step of Tiny and a dim-16 config at 32x32
// (forward, all parameter gradients, one RMSProp step; TestTrainingStep), the
// whole BaryIR training graph (TestBaryIRStep), phases (TestPhases) and the
// device RMSProp and Adam against baryir's host optimisers (TestOptimisers); the
// tolerance is a relative error ||gpu - cpu|| / ||cpu|| of 1e-3 per tensor.
//
// # Through package baryir
//
// baryir.Machine on DeviceGPU compiles a graph here (machine_gpu.go):
// Let uploads, Value downloads, Phase is Executor.Phase, and the public
// RMSProp and Adam step with this package's device optimisers. The Trainer
// and the Restorer are built on that Machine, so they reach the GPU through
// it. Measured figures, run by run, are in internal/gpu/results (README.md).
//
// # Limits
//
//   - TF32/BF16 tensor cores through cuBLASLt for the products only; the
//     im2col/col2im, depthwise, LayerNorm and attention kernels stay float32
//     CUDA cores. No bf16 storage, no CUDA graphs, one stream. None of it has
//     been timed on a GPU yet (internal/gpu/results).
//   - Softmax runs here only over the last axis, and log-softmax not at all
//     (the Machine names such ops unless host fallback is asked for).
package gpu
