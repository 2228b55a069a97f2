#include "textflag.h"

// func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL eaxArg+0(FP), AX
	MOVL ecxArg+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv() (eax uint32)
TEXT ·xgetbv(SB), NOSPLIT, $0-4
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	RET

// func kern6x16(k int, a, b, c *float32, ldc int, store int)
// c[r][0:16] += sum_p a[6p+r] * b[16p+0:16] for r < 6, p < k
// (c[r][0:16] = ... when store is not 0): a is a packed panel of 6 rows of
// A, b a packed strip of 16 columns of B. Twelve accumulators cover the
// FMA units' latency (two units, four to five cycles each).
TEXT ·kern6x16(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ c+24(FP), DI
	MOVQ ldc+32(FP), SI
	SHLQ $2, SI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	TESTQ CX, CX
	JE    store16

loop16:
	VMOVUPS      (BX), Y12
	VMOVUPS      32(BX), Y13
	VBROADCASTSS 0(AX), Y14
	VFMADD231PS  Y12, Y14, Y0
	VFMADD231PS  Y13, Y14, Y1
	VBROADCASTSS 4(AX), Y14
	VFMADD231PS  Y12, Y14, Y2
	VFMADD231PS  Y13, Y14, Y3
	VBROADCASTSS 8(AX), Y14
	VFMADD231PS  Y12, Y14, Y4
	VFMADD231PS  Y13, Y14, Y5
	VBROADCASTSS 12(AX), Y14
	VFMADD231PS  Y12, Y14, Y6
	VFMADD231PS  Y13, Y14, Y7
	VBROADCASTSS 16(AX), Y14
	VFMADD231PS  Y12, Y14, Y8
	VFMADD231PS  Y13, Y14, Y9
	VBROADCASTSS 20(AX), Y14
	VFMADD231PS  Y12, Y14, Y10
	VFMADD231PS  Y13, Y14, Y11
	ADDQ         $24, AX
	ADDQ         $64, BX
	DECQ         CX
	JNZ          loop16

store16:
	MOVQ    store+40(FP), AX
	TESTQ   AX, AX
	JNE     put16
	VADDPS  (DI), Y0, Y0
	VMOVUPS Y0, (DI)
	VADDPS  32(DI), Y1, Y1
	VMOVUPS Y1, 32(DI)
	ADDQ    SI, DI
	VADDPS  (DI), Y2, Y2
	VMOVUPS Y2, (DI)
	VADDPS  32(DI), Y3, Y3
	VMOVUPS Y3, 32(DI)
	ADDQ    SI, DI
	VADDPS  (DI), Y4, Y4
	VMOVUPS Y4, (DI)
	VADDPS  32(DI), Y5, Y5
	VMOVUPS Y5, 32(DI)
	ADDQ    SI, DI
	VADDPS  (DI), Y6, Y6
	VMOVUPS Y6, (DI)
	VADDPS  32(DI), Y7, Y7
	VMOVUPS Y7, 32(DI)
	ADDQ    SI, DI
	VADDPS  (DI), Y8, Y8
	VMOVUPS Y8, (DI)
	VADDPS  32(DI), Y9, Y9
	VMOVUPS Y9, 32(DI)
	ADDQ    SI, DI
	VADDPS  (DI), Y10, Y10
	VMOVUPS Y10, (DI)
	VADDPS  32(DI), Y11, Y11
	VMOVUPS Y11, 32(DI)
	VZEROUPPER
	RET

put16:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    SI, DI
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, 32(DI)
	ADDQ    SI, DI
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, 32(DI)
	ADDQ    SI, DI
	VMOVUPS Y6, (DI)
	VMOVUPS Y7, 32(DI)
	ADDQ    SI, DI
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, 32(DI)
	ADDQ    SI, DI
	VMOVUPS Y10, (DI)
	VMOVUPS Y11, 32(DI)
	VZEROUPPER
	RET

// func packBT16(dst, src *float32, ld, blocks int)
// Transposes 16 rows of src (ld floats apart) into a strip of 16 columns:
// dst[16q+r] = src[r*ld+q] for r < 16, q < 8*blocks. Each block of 8 is
// two 8x8 transposes (rows 0-7, then 8-15) in registers, so every load
// reads 32 bytes of one row and every store writes 32 bytes of the strip.
TEXT ·packBT16(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), R8
	MOVQ ld+16(FP), DX
	MOVQ blocks+24(FP), CX
	SHLQ $2, DX             // row stride in bytes
	LEAQ (R8)(DX*1), R9     // row 1
	LEAQ (R9)(DX*1), R10    // row 2
	LEAQ (R10)(DX*1), R11   // row 3
	LEAQ (DX)(DX*1), R12
	SHLQ $1, R12            // 4 rows
	LEAQ (R12)(R12*1), R13  // 8 rows
	LEAQ (R13)(R12*1), R14  // 12 rows
	TESTQ CX, CX
	JE    tdone

tloop:
	// rows 0-7
	VMOVUPS (R8), Y0
	VMOVUPS (R9), Y1
	VMOVUPS (R10), Y2
	VMOVUPS (R11), Y3
	VMOVUPS (R8)(R12*1), Y4
	VMOVUPS (R9)(R12*1), Y5
	VMOVUPS (R10)(R12*1), Y6
	VMOVUPS (R11)(R12*1), Y7
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, 64(DI)
	VMOVUPS Y10, 128(DI)
	VMOVUPS Y11, 192(DI)
	VMOVUPS Y12, 256(DI)
	VMOVUPS Y13, 320(DI)
	VMOVUPS Y14, 384(DI)
	VMOVUPS Y15, 448(DI)

	// rows 8-15
	VMOVUPS (R8)(R13*1), Y0
	VMOVUPS (R9)(R13*1), Y1
	VMOVUPS (R10)(R13*1), Y2
	VMOVUPS (R11)(R13*1), Y3
	VMOVUPS (R8)(R14*1), Y4
	VMOVUPS (R9)(R14*1), Y5
	VMOVUPS (R10)(R14*1), Y6
	VMOVUPS (R11)(R14*1), Y7
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	VMOVUPS Y8, 32(DI)
	VMOVUPS Y9, 96(DI)
	VMOVUPS Y10, 160(DI)
	VMOVUPS Y11, 224(DI)
	VMOVUPS Y12, 288(DI)
	VMOVUPS Y13, 352(DI)
	VMOVUPS Y14, 416(DI)
	VMOVUPS Y15, 480(DI)

	ADDQ $32, R8
	ADDQ $32, R9
	ADDQ $32, R10
	ADDQ $32, R11
	ADDQ $512, DI
	DECQ CX
	JNZ  tloop

tdone:
	VZEROUPPER
	RET

// func packA6(dst, src *float32, ld, blocks int, alpha float32)
// Interleaves 6 rows of src (ld floats apart) into a panel:
// dst[6q+r] = alpha * src[r*ld+q] for r < 6, q < 8*blocks. Each block of 8
// columns is an 8x8 transpose in registers (rows 6 and 7 are don't-cares)
// whose 8 columns go out 24 bytes apart: the first seven as whole vectors,
// each overwriting the two don't-cares of the one before, the last as 16
// bytes and 8 bytes, so nothing is written past the block.
TEXT ·packA6(SB), NOSPLIT, $0-36
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), R8
	MOVQ         ld+16(FP), DX
	MOVQ         blocks+24(FP), CX
	VBROADCASTSS alpha+32(FP), Y15
	SHLQ         $2, DX
	LEAQ         (R8)(DX*1), R9   // row 1
	LEAQ         (R9)(DX*1), R10  // row 2
	LEAQ         (R10)(DX*1), R11 // row 3
	LEAQ         (DX)(DX*1), R12
	SHLQ         $1, R12          // 4 rows
	TESTQ        CX, CX
	JE           adone

aloop:
	VMULPS     (R8), Y15, Y0
	VMULPS     (R9), Y15, Y1
	VMULPS     (R10), Y15, Y2
	VMULPS     (R11), Y15, Y3
	VMULPS     (R8)(R12*1), Y15, Y4
	VMULPS     (R9)(R12*1), Y15, Y5
	VUNPCKLPS  Y1, Y0, Y8
	VUNPCKHPS  Y1, Y0, Y9
	VUNPCKLPS  Y3, Y2, Y10
	VUNPCKHPS  Y3, Y2, Y11
	VUNPCKLPS  Y5, Y4, Y12
	VUNPCKHPS  Y5, Y4, Y13
	VSHUFPS    $0x44, Y10, Y8, Y0
	VSHUFPS    $0xEE, Y10, Y8, Y1
	VSHUFPS    $0x44, Y11, Y9, Y2
	VSHUFPS    $0xEE, Y11, Y9, Y3
	VSHUFPS    $0x44, Y12, Y12, Y4 // rows 4, 5 (and don't-cares)
	VSHUFPS    $0xEE, Y12, Y12, Y5
	VSHUFPS    $0x44, Y13, Y13, Y6
	VSHUFPS    $0xEE, Y13, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8   // column 0
	VPERM2F128 $0x20, Y5, Y1, Y9   // column 1
	VPERM2F128 $0x20, Y6, Y2, Y10  // column 2
	VPERM2F128 $0x20, Y7, Y3, Y11  // column 3
	VPERM2F128 $0x31, Y4, Y0, Y12  // column 4
	VPERM2F128 $0x31, Y5, Y1, Y13  // column 5
	VPERM2F128 $0x31, Y6, Y2, Y14  // column 6
	VPERM2F128 $0x31, Y7, Y3, Y0   // column 7
	VMOVUPS    Y8, (DI)
	VMOVUPS    Y9, 24(DI)
	VMOVUPS    Y10, 48(DI)
	VMOVUPS    Y11, 72(DI)
	VMOVUPS    Y12, 96(DI)
	VMOVUPS    Y13, 120(DI)
	VMOVUPS    Y14, 144(DI)
	VMOVUPS    X0, 168(DI)
	VEXTRACTF128 $1, Y0, X1
	VMOVLPS    X1, 184(DI)
	ADDQ       $32, R8
	ADDQ       $32, R9
	ADDQ       $32, R10
	ADDQ       $32, R11
	ADDQ       $192, DI
	DECQ       CX
	JNZ        aloop

adone:
	VZEROUPPER
	RET

// func packBN16(dst, src *float32, ld, kb, strips int)
// Copies kb rows of src (ld floats apart) into strips of 16 columns:
// dst[s*16*kb+16q+c] = src[q*ld+16s+c] for q < kb, s < strips, c < 16.
TEXT ·packBN16(SB), NOSPLIT, $0-40
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  ld+16(FP), DX
	MOVQ  kb+24(FP), CX
	MOVQ  strips+32(FP), R8
	SHLQ  $2, DX      // row stride in bytes
	MOVQ  CX, R9
	SHLQ  $6, R9      // strip stride in bytes: kb x 16 floats
	TESTQ CX, CX
	JE    ndone
	TESTQ R8, R8
	JE    ndone

nrow:
	MOVQ SI, R10
	MOVQ DI, R11
	MOVQ R8, R12

nstrip:
	VMOVUPS (R10), Y0
	VMOVUPS 32(R10), Y1
	VMOVUPS Y0, (R11)
	VMOVUPS Y1, 32(R11)
	ADDQ    $64, R10
	ADDQ    R9, R11
	DECQ    R12
	JNZ     nstrip
	ADDQ    DX, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     nrow

ndone:
	VZEROUPPER
	RET
