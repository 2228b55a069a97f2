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
// device.
//
// # Ops
//
// The project's op.Kernels implement Kernel in files *_gpu.go beside them
// (layers: conv, grouped/depthwise conv and their gradients, bias, scale,
// concat/slice, LayerNorm, GELU gate, pixel (un)shuffle, channel attention,
// LeakyReLU, Linear; losses: L1). Plain Gorgonia ops handled here: + - ⊙ ÷
// (equal shapes or a scalar operand), the common unary ops, Sum over axes,
// Mean (through sum, size and division), Reshape, Repeat, constants.
// Matrix products use an in-house tiled SGEMM (64x64 tiles, 4x4 per thread,
// split-K for long reductions); convolutions are im2col + SGEMM (1x1
// convolutions read the input directly), depthwise convolutions are direct.
// Float32 only. A kernel without a GPU implementation (IRC, BRO, the OT
// potentials' losses at the time of writing) makes Compile fail with its name.
//
// # Checks
//
// scripts/gpu_check.sh builds the tagged test binary and benchmark (build),
// runs them on a GPU machine and writes a report (run), or runs them here
// against internal/gpu/emu, a fake libcuda whose launches run C emulations of
// the kernels (emu): that checks lowering, planning, offsets and argument
// order against the CPU tape machine, not the CUDA code.
package gpu
