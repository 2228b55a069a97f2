package baryir

import (
	"errors"
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/x/baryir/internal/gpu"
	"github.com/x/baryir/internal/optim"
)

// Devices that training (TrainConfig.Device) and inference
// (Restorer.SetDevice) run on.
const (
	// DeviceCPU runs graphs with Gorgonia's tape machines (the default).
	DeviceCPU = "cpu"
	// DeviceGPU runs graphs on one NVIDIA GPU through internal/gpu's
	// executor. It needs a build with -tags baryirgpu (cgo and the CUDA
	// driver API headers to build, an NVIDIA driver to run); other builds
	// return ErrNoGPU. Only float32 graphs run there.
	//
	// Training on the GPU: parameters, activations, gradients and the
	// optimisers' state stay on the device; each step uploads the batch and
	// downloads the reported losses (a few scalars). Parameters and the
	// optimisers' state are downloaded for StateDict, Potentials and
	// SaveCheckpoint, and uploaded again after Resume and LoadPotentials, so
	// checkpoints are the CPU trainer's and resume on either device. The
	// device optimisers compute in float32 where the CPU's internal/optim
	// keeps float64 state, so a GPU run and a CPU run agree to float32
	// rounding, not bit for bit, and a checkpoint's optimiser state passes
	// through float32 on the GPU.
	DeviceGPU = "gpu"
)

// GPUAvailable reports whether this build has GPU support (-tags baryirgpu).
const GPUAvailable = gpu.Available

// ErrNoGPU is returned (wrapped) when DeviceGPU is asked of a build
// without GPU support.
var ErrNoGPU = errors.New("this binary was built without GPU support; build it with -tags baryirgpu (needs cgo and the CUDA driver API headers, e.g. Debian's nvidia-cuda-dev)")

// useGPU reports whether device names the GPU; unknown names are errors.
func useGPU(device string) (bool, error) {
	switch device {
	case "", DeviceCPU:
		return false, nil
	case DeviceGPU:
		return true, nil
	}
	return false, fmt.Errorf("unknown device %q (want %s or %s)", device, DeviceCPU, DeviceGPU)
}

// tileRunner runs one inference graph somewhere other than a tape machine.
type tileRunner interface {
	run(tile []float32) ([]float32, error)
	close()
}

// deviceTrainer runs the training graph's steps somewhere other than
// Gorgonia's tape machines.
type deviceTrainer interface {
	// step takes one step of every phase on the inputs' current values
	// (the graph's x, y, sw, ids, set by Trainer.feed), the network at
	// learning rate lr and the potentials at potLR.
	step(lr, potLR float64) error
	// watched is the value of the i-th reported loss at the last step.
	watched(i int) float64
	// toHost downloads the parameters into their graph nodes and the
	// optimisers' state into the trainer's optimisers.
	toHost() error
	// toDevice uploads the graph nodes' parameters and the trainer's
	// optimisers' state (after Resume or LoadPotentials).
	toDevice() error
	close()
}

// trainPhase is one side of a training step: a loss minimised over params
// (grads are their gradients, in the graph) by opt.
type trainPhase struct {
	loss          *G.Node
	params, grads G.Nodes
	opt           optim.Optimizer
}

// onGPU reports whether the trainer's steps run on the GPU.
func (t *Trainer) onGPU() bool {
	g, _ := useGPU(t.cfg.Device)
	return g
}

// buildDevice adds each phase's gradients to the graph and hands the steps
// to the GPU; watch are the reported losses, in t.report's order.
func (t *Trainer) buildDevice(phases []trainPhase, watch G.Nodes) error {
	for i := range phases {
		p := &phases[i]
		grads, err := G.Grad(p.loss, p.params...)
		if err != nil {
			return fmt.Errorf("gradients of phase %d: %w", i+1, err)
		}
		p.grads = grads
	}
	dev, err := newGPUTrainer(t, phases, watch)
	if err != nil {
		return fmt.Errorf("device gpu: %w", err)
	}
	t.dev = dev
	return nil
}

// toHost brings the device's parameters and optimiser state to the graph's
// nodes and the trainer's optimisers (a no-op on the CPU).
func (t *Trainer) toHost() error {
	if t.dev == nil {
		return nil
	}
	return t.dev.toHost()
}

// toDevice uploads the graph's parameters and the optimisers' state after
// the host changed them (a no-op on the CPU).
func (t *Trainer) toDevice() error {
	if t.dev == nil {
		return nil
	}
	return t.dev.toDevice()
}
