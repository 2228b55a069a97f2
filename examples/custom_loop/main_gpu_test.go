//go:build baryirgpu

package main

import (
	"testing"

	"github.com/x/baryir"
)

// The same loop on the GPU equals the Trainer on the GPU.
func TestLoopMatchesTrainerGPU(t *testing.T) { loopMatchesTrainer(t, baryir.DeviceGPU) }
