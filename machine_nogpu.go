//go:build !baryirgpu

package baryir

import G "gorgonia.org/gorgonia"

// Builds without GPU support: DeviceGPU is ErrNoGPU.

func newGPUBackend(*G.ExprGraph, MachineOptions) (backend, error) { return nil, ErrNoGPU }

// gpuName fails in builds without GPU support.
func gpuName() (string, error) { return "", ErrNoGPU }
