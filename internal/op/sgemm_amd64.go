package op

//go:noescape
func kern6x16(k int, a, b, c *float32, ldc int, store int)

// packBT16 writes dst[16q+r] = src[r*ld+q] for r < 16, q < 8*blocks: 16
// rows of B become a strip of 16 columns of op(B) = B^T.
//
//go:noescape
func packBT16(dst, src *float32, ld, blocks int)

// packBN16 writes dst[s*16*kb+16q+c] = src[q*ld+16s+c] for q < kb,
// s < strips, c < 16: kb rows of B become full strips of 16 columns.
//
//go:noescape
func packBN16(dst, src *float32, ld, kb, strips int)

// packA6 writes dst[6q+r] = alpha * src[r*ld+q] for r < 6, q < 8*blocks:
// 6 rows of A become a panel of the micro-kernel.
//
//go:noescape
func packA6(dst, src *float32, ld, blocks int, alpha float32)

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
func xgetbv() (eax uint32)

// hasFMA reports AVX2 and FMA with the OS saving the YMM registers.
var hasFMA = func() bool {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, c1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if c1&fma == 0 || c1&osxsave == 0 || c1&avx == 0 {
		return false
	}
	if xgetbv()&6 != 6 {
		return false
	}
	_, b7, _, _ := cpuid(7, 0)
	return b7&(1<<5) != 0
}()
