package baryir

import (
	"fmt"
	"strings"
)

// Precision is the arithmetic a Machine uses for its matrix products and
// convolutions (the GEMMs: every convolution that is not depthwise, Linear,
// and channel attention's two products per head). Everything else stays
// float32 in every precision: LayerNorm statistics, softmax, the losses
// (L1, IRC, BRO), the OT cost and objective, the optimisers' state, and the
// parameters themselves (the master weights, which the optimisers update in
// float32). Activations and gradients are stored in float32 too: reduced
// precision changes what the GEMMs compute with, not what memory holds.
//
// The zero value is PrecisionFP32, the exact-parity mode, and the default
// of Machine, TrainConfig and RestorerOptions. TF32 and BF16 are faster on
// a GPU; how far they move training is measured per precision in
// internal/gpu/results.
//
// TF32 and BF16 run only on DeviceGPU, through NVIDIA's cuBLASLt loaded at
// run time (see internal/gpu's package documentation). The CPU machine
// computes in float32 only: asking it for TF32 or BF16 is an error (from
// NewMachine, NewTrainer and NewRestorer), not a silent
// fallback, so a run never reports a precision it did not use.
type Precision uint8

const (
	// PrecisionFP32 computes every GEMM in float32 with the project's own
	// kernels.
	PrecisionFP32 Precision = iota
	// PrecisionTF32 rounds the GEMMs' operands to TF32 (10 mantissa bits)
	// and accumulates in float32 on tensor cores (cuBLASLt compute type
	// CUBLAS_COMPUTE_32F_FAST_TF32), as PyTorch's allow_tf32 does.
	PrecisionTF32
	// PrecisionBF16 rounds the GEMMs' operands to bfloat16 (7 mantissa bits)
	// and accumulates in float32 (CUBLAS_COMPUTE_32F_FAST_16BF: cuBLASLt
	// down-converts float32 operands itself; it may use TF32 instead where
	// it finds that faster, never less than bf16's precision).
	PrecisionBF16
)

var precisionNames = [...]string{PrecisionFP32: "fp32", PrecisionTF32: "tf32", PrecisionBF16: "bf16"}

// Precisions lists every precision, FP32 first.
func precisions() []Precision { return []Precision{PrecisionFP32, PrecisionTF32, PrecisionBF16} }

// String is "fp32", "tf32" or "bf16".
func (p Precision) String() string {
	if int(p) < len(precisionNames) {
		return precisionNames[p]
	}
	return fmt.Sprintf("Precision(%d)", uint8(p))
}

// ParsePrecision reads "fp32", "tf32" or "bf16" (any case; "" is fp32).
func ParsePrecision(s string) (Precision, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return PrecisionFP32, nil
	}
	for p, name := range precisionNames {
		if t == name {
			return Precision(p), nil
		}
	}
	return 0, errorf("unknown precision %q (want fp32, tf32 or bf16)", s)
}

// check rejects values outside the constants.
func (p Precision) check() error {
	if int(p) >= len(precisionNames) {
		return errorf("unknown precision %d (want fp32, tf32 or bf16)", uint8(p))
	}
	return nil
}

// checkOn is the one place that decides whether device d can run p: every
// precision on the GPU (whether cuBLASLt loads is known only when the GPU
// machine is made), only FP32 on the CPU.
func (p Precision) checkOn(d Device) error {
	if err := p.check(); err != nil {
		return err
	}
	if p != PrecisionFP32 && d != DeviceGPU {
		return errorf("precision %s needs device %s: the %s machine computes in float32 only", p, DeviceGPU, d.String())
	}
	return nil
}
