// Package baryir implements BaryIR (Tang et al., "Learning Continuous
// Wasserstein Barycenter Space for Generalized All-in-One Image
// Restoration"): a Restormer encoder/decoder whose bottleneck latents from
// every degradation are mapped into their Wasserstein barycenter, with the
// residual embeddings kept contrastive and orthogonal to it. One network
// restores noise, rain and haze (and blur and low light) without being told
// which it sees. The building blocks live in the layers, ot and losses
// packages; images and datasets in data.
//
// # Build a network
//
// A Config describes BaryNet or, with Map MapNone, the plain Restormer:
// Paper and Authors are the paper's and the authors' networks, Tiny one
// small enough for tests, and Restormer switches BaryIR off. PromptIR puts
// the same Restormer sizes on PromptIR's backbone, with BaryIR
// (PromptIR{Net: Paper()}, the paper's best network of Tab. III) or without
// (PromptIR{Net: Paper().Restormer()}). Any Architecture's Build makes its
// Network in a Gorgonia graph: a Config, PromptIR, or a backbone of your own
// (Backbone: an encoder and decoder around BaryIR's bottleneck, with a
// barycenter Map such as NewBarycenterMap's). Its Forward returns the
// restored image and the latents s, b = T(s) and r = s - b (Output), and
// its Scope lists the parameters under their PyTorch names. A Machine runs
// any graph on the CPU or an NVIDIA GPU (MachineOptions.Device); see
// ExampleMachine.
//
// # Train it
//
// TrainConfig holds the hyper-parameters (PaperTraining, AuthorsTraining);
// NewTrainer pairs it with a data.Sampler of degraded/clean patches. Step
// takes one step of the max-min game (the network, then the potentials)
// and returns its Losses; Run takes many, with a JSONL log,
// checkpoints, a loss curve and a progress line attached as hooks
// (RunOptions), beside hooks of your own (Hook). Resume continues a
// checkpoint exactly; StateDict and WriteWeights save the network. For a
// loop of your own, NewObjective builds the objective's graph and
// NewOptimizer's RMSProp or Adam step it on a Machine. See ExampleNewTrainer,
// ExampleHook and ExampleNewOptimizer.
//
// # Restore with it
//
// OpenRestorer reads a .safetensors or PyTorch .pth checkpoint, infers its
// network from the tensors' names and shapes, and returns a Restorer; for a
// network of your own, NewRestorer takes its Architecture and weights
// (ReadWeights, DecodeWeights). Restore takes any image.Image and returns a
// *data.Image (float32, unquantized). RestorerOptions pick the device, the
// precision and a memory budget; an image that fits the budget runs in one
// pass, a larger one in blended tiles. See ExampleOpenRestorer. Latents
// gives a batch's s, b and r, what the paper's latent analyses read
// (examples/three_degradation's -latents and -feature-ablation).
//
// # Slicing in your own graphs
//
// Gorgonia (v0.9.18) merges graph nodes whose hashes match, and its slice op
// hashes start, end and step as single bytes: gorgonia.Slice(x, S(0, 10))
// and gorgonia.Slice(x, S(256, 266)) become one node, silently, and the
// gradient of gorgonia.Concat (which slices) gives blocks 256 rows apart
// one gradient. Slice with layers.Slice and concatenate with
// layers.ConcatAxis (or layers.Concat, for channels), as every builder of
// this module does. NewMachine refuses a graph in which Gorgonia's slice or
// its gradient slices an axis longer than 256, and names the node; opt in
// with MachineOptions.AllowGorgoniaSlices only where no two slices of one
// node have bounds equal modulo 256.
package baryir

import (
	"errors"

	"github.com/x/baryir/internal/gpu"
	"github.com/x/baryir/internal/safetensors"
	"github.com/x/baryir/ot"
)

// Defaults and limits.
const (
	// DefaultMemoryBudget is the working set a Restorer lets one image
	// take when RestorerOptions.MemoryBudget is 0: 2 GiB.
	DefaultMemoryBudget int64 = 2 << 30

	// DefaultSigma is the weight σ of the L1 restoration loss in the map's
	// loss: the authors' --Sigma (the paper gives no value). It makes the
	// L1 term dominate, so the restoration is learned first and the
	// barycenter terms shape the latent space around it.
	DefaultSigma = 1e4

	// MaxWeightsBytes is the largest weights or checkpoint file read:
	// 2 GiB, over four times a Lightning checkpoint of Restormer or
	// PromptIR with its Adam state. Only regular files are read: a named
	// pipe or a device is refused before anything is read.
	MaxWeightsBytes = safetensors.MaxFileBytes

	// GPUAvailable reports whether this build has GPU support
	// (-tags baryirgpu).
	GPUAvailable = gpu.Available
)

// Errors that callers test for with errors.Is, through every wrapper.
var (
	// ErrNoGPU is returned (wrapped) when DeviceGPU is asked of a build
	// without GPU support.
	ErrNoGPU = errors.New("baryir: this binary was built without GPU support; build it with -tags baryirgpu (needs cgo and the CUDA driver API headers, e.g. Debian's nvidia-cuda-dev)")

	// ErrNoMPI is what JoinJob returns to a process that an MPI launcher
	// started, in a build without MPI support.
	ErrNoMPI = errors.New("baryir: built without MPI support; rebuild with -tags baryirmpi (needs cgo and Open MPI, Debian: libopenmpi-dev)")

	// ErrDiverged is returned (wrapped, naming the phase and the step)
	// when a loss becomes NaN or infinite, or, in BaryIR's max-min game,
	// grows past ot.DefaultDivergenceFactor times its running mean. It is
	// ot.ErrDiverged.
	ErrDiverged = ot.ErrDiverged
)
