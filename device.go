package baryir

import (
	"strings"
)

// Device says where a Machine runs a graph, and with it training
// (TrainConfig.Device) and inference (RestorerOptions.Device).
type Device string

const (
	// DeviceCPU runs graphs with Gorgonia's tape machines (the default; ""
	// means the same).
	DeviceCPU Device = "cpu"
	// DeviceGPU runs graphs on one NVIDIA GPU. It needs a build with -tags
	// baryirgpu (cgo and the CUDA driver API headers to build, e.g. Debian's
	// nvidia-cuda-dev; an NVIDIA driver to run); other builds return
	// ErrNoGPU. Only float32 graphs run there; their matrix products and
	// convolutions can run at TF32 or BF16 (MachineOptions.Precision). Parameters, activations,
	// gradients and the optimisers' state stay on the device; only what is
	// read (Machine.Value, Pull, an optimiser's State) is copied back. The
	// device optimisers compute in float32 where the CPU keeps float64
	// state, so GPU and CPU runs agree to float32 rounding, not bit for bit.
	DeviceGPU Device = "gpu"
)

// String is the device's name ("cpu" for the zero value).
func (d Device) String() string {
	if d == "" {
		return string(DeviceCPU)
	}
	return string(d)
}

// ParseDevice reads "cpu" or "gpu", in any case ("" is cpu).
func ParseDevice(s string) (Device, error) {
	d := Device(strings.ToLower(strings.TrimSpace(s)))
	if err := d.check(); err != nil {
		return "", errorf("unknown device %q (want %s or %s)", s, DeviceCPU, DeviceGPU)
	}
	if d == "" {
		d = DeviceCPU
	}
	return d, nil
}

// check rejects unknown device names.
func (d Device) check() error {
	switch d {
	case "", DeviceCPU, DeviceGPU:
		return nil
	}
	return errorf("unknown device %q (want %s or %s)", string(d), DeviceCPU, DeviceGPU)
}
