package baryir

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

// Every error of the package starts with "baryir: " once, however its own
// errors wrap each other, and errors.Is sees through every layer.
func TestErrorPrefixOnce(t *testing.T) {
	inner := errorf("step %d: %w", 3, fs.ErrNotExist)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"leaf", errorf("bad size %d", 7), "baryir: bad size 7"},
		{"wraps another package's", errorf("reading: %w", fs.ErrNotExist), "baryir: reading: file does not exist"},
		{"wraps its own", errorf("train: %w", inner), "baryir: train: step 3: file does not exist"},
		{"wraps a sentinel", errorf("device gpu: %w", ErrNoGPU), "baryir: device gpu: " + strings.TrimPrefix(ErrNoGPU.Error(), "baryir: ")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("%q, want %q", got, tc.want)
			}
		})
	}
	if !errors.Is(errorf("train: %w", inner), fs.ErrNotExist) {
		t.Error("errors.Is does not reach the wrapped error")
	}
	if !errors.Is(errorf("x: %w", ErrNoGPU), ErrNoGPU) {
		t.Error("errors.Is does not reach ErrNoGPU")
	}
}
