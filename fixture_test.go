package baryir

import "github.com/x/baryir/internal/safetensors"

// readFixture reads a committed safetensors fixture as a state dict.
func readFixture(path string) (StateDict, error) {
	ts, err := safetensors.Read(path)
	return stateDict(ts), err
}
