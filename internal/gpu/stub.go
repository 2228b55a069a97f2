//go:build !baryirgpu

package gpu

import "errors"

// Available reports whether this build has GPU support. It does not: the GPU
// executor needs the build tag baryirgpu (and the CUDA headers to build).
const Available = false

// ErrNoGPU is what GPU entry points return in a build without GPU support.
var ErrNoGPU = errors.New("gpu: built without GPU support; rebuild with -tags baryirgpu")

// Device is a placeholder in builds without GPU support.
type Device struct{}

// Open always fails in builds without GPU support.
func Open(int) (*Device, error) { return nil, ErrNoGPU }

// Shared always fails in builds without GPU support.
func Shared() (*Device, error) { return nil, ErrNoGPU }

// SharedMemory always fails in builds without GPU support.
func SharedMemory(bool) (held, peak int64, err error) { return 0, 0, ErrNoGPU }
