//go:build !baryirgpu

package baryir

import G "gorgonia.org/gorgonia"

// Builds without GPU support: every GPU entry point returns ErrNoGPU.

func newGPUTileRunner(*G.ExprGraph, *G.Node, *G.Node) (tileRunner, error) { return nil, ErrNoGPU }

func checkGPU() error { return ErrNoGPU }

func newGPUTrainer(*Trainer, []trainPhase, G.Nodes) (deviceTrainer, error) { return nil, ErrNoGPU }

// GPUName fails in builds without GPU support.
func GPUName() (string, error) { return "", ErrNoGPU }
