package gpu

import "fmt"

// Precision is the arithmetic of the executor's matrix products (Gemm and,
// through it, every convolution but the depthwise ones, Linear and channel
// attention's products). Package baryir's Precision maps onto it
// (machine_gpu.go); see that type for what stays float32.
type Precision int

const (
	// FP32 runs the in-house SGEMM kernels (kernels/baryir.cu).
	FP32 Precision = iota
	// TF32 runs cuBLASLt with CUBLAS_COMPUTE_32F_FAST_TF32: float32 operands
	// rounded to TF32 on tensor cores, float32 accumulation and output.
	TF32
	// BF16 runs cuBLASLt with CUBLAS_COMPUTE_32F_FAST_16BF: float32 operands
	// down-converted to bfloat16 (or TF32 where cuBLASLt prefers) by the
	// library, float32 accumulation and output.
	BF16
)

// String is "fp32", "tf32" or "bf16".
func (p Precision) String() string {
	switch p {
	case FP32:
		return "fp32"
	case TF32:
		return "tf32"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("gpu.Precision(%d)", int(p))
}

// LtLibraries lists the names the GPU build tries, in order, to load
// cuBLASLt at run time (dlopen; the first that loads wins): CUDA 13, 12 and
// 11's sonames, then the unversioned development link. The build itself
// needs only CUDA 11.8's cublasLt.h: the entry points used (see
// internal/gpu/blas.go) and their enum values have not changed since.
func LtLibraries() []string {
	return []string{"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11", "libcublasLt.so"}
}
