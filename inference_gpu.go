//go:build baryirgpu

package baryir

import (
	"fmt"
	"sync"

	G "gorgonia.org/gorgonia"

	"github.com/x/baryir/internal/gpu"
)

// The process's GPU: device 0, opened on first use and kept for the
// process's lifetime (trainers and restorers share it; their executors
// return their buffers to its pool when closed).
var theGPU struct {
	once sync.Once
	d    *gpu.Device
	err  error
}

func openGPU() (*gpu.Device, error) {
	theGPU.once.Do(func() { theGPU.d, theGPU.err = gpu.Open(0) })
	return theGPU.d, theGPU.err
}

func checkGPU() error {
	_, err := openGPU()
	return err
}

// GPUName is the name of the GPU that DeviceGPU uses, opening it if needed.
func GPUName() (string, error) {
	d, err := openGPU()
	if err != nil {
		return "", err
	}
	return d.Name(), nil
}

// gpuTile is one tile size's inference graph compiled for the GPU.
type gpuTile struct {
	e      *gpu.Executor
	x, out *G.Node
}

func newGPUTileRunner(g *G.ExprGraph, x, out *G.Node) (tileRunner, error) {
	d, err := openGPU()
	if err != nil {
		return nil, err
	}
	e, err := gpu.Compile(d, g, out)
	if err != nil {
		return nil, err
	}
	return &gpuTile{e: e, x: x, out: out}, nil
}

func (t *gpuTile) run(tile []float32) ([]float32, error) {
	if err := t.e.LetData(t.x, tile); err != nil {
		return nil, err
	}
	if err := t.e.Run(); err != nil {
		return nil, fmt.Errorf("gpu: %w", err)
	}
	return t.e.Read(t.out)
}

func (t *gpuTile) close() { t.e.Close() }
