#include "textflag.h"

// func dw3RowAVX(o, r *float32, n int, w0, w1, w2 float32)
// o[x] += w0*r[x-1] + w1*r[x] + w2*r[x+1] for x in [0, n), n a multiple
// of 8; r[-1] and r[n] must be readable.
TEXT ·dw3RowAVX(SB), NOSPLIT, $0-36
	MOVQ         o+0(FP), DI
	MOVQ         r+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS w0+24(FP), Y0
	VBROADCASTSS w1+28(FP), Y1
	VBROADCASTSS w2+32(FP), Y2
	SHRQ         $3, CX
	JE           dwdone

dwloop:
	VMOVUPS     (DI), Y3
	VMOVUPS     -4(SI), Y4
	VFMADD231PS Y4, Y0, Y3
	VMOVUPS     (SI), Y5
	VFMADD231PS Y5, Y1, Y3
	VMOVUPS     4(SI), Y6
	VFMADD231PS Y6, Y2, Y3
	VMOVUPS     Y3, (DI)
	ADDQ        $32, DI
	ADDQ        $32, SI
	DECQ        CX
	JNZ         dwloop

dwdone:
	VZEROUPPER
	RET

// func dw3Rows3AVX(o, r0, r1, r2 *float32, n int, w *[9]float32)
// o[x] = sum over ky, kx of w[3ky+kx] * rky[x+kx-1] for x in [0, n), n a
// multiple of 8: one output row of a 3x3 correlation from its three input
// rows, written once. rky[-1] and rky[n] must be readable. Each input row
// has its own accumulator, so the three FMA chains overlap.
TEXT ·dw3Rows3AVX(SB), NOSPLIT, $0-48
	MOVQ o+0(FP), DI
	MOVQ r0+8(FP), AX
	MOVQ r1+16(FP), BX
	MOVQ r2+24(FP), DX
	MOVQ n+32(FP), CX
	MOVQ w+40(FP), SI
	VBROADCASTSS 0(SI), Y0
	VBROADCASTSS 4(SI), Y1
	VBROADCASTSS 8(SI), Y2
	VBROADCASTSS 12(SI), Y3
	VBROADCASTSS 16(SI), Y4
	VBROADCASTSS 20(SI), Y5
	VBROADCASTSS 24(SI), Y6
	VBROADCASTSS 28(SI), Y7
	VBROADCASTSS 32(SI), Y8
	SHRQ $3, CX
	JE   r3done

r3loop:
	VMULPS      -4(AX), Y0, Y9
	VFMADD231PS (AX), Y1, Y9
	VFMADD231PS 4(AX), Y2, Y9
	VMULPS      -4(BX), Y3, Y10
	VFMADD231PS (BX), Y4, Y10
	VFMADD231PS 4(BX), Y5, Y10
	VMULPS      -4(DX), Y6, Y11
	VFMADD231PS (DX), Y7, Y11
	VFMADD231PS 4(DX), Y8, Y11
	VADDPS      Y10, Y9, Y9
	VADDPS      Y11, Y9, Y9
	VMOVUPS     Y9, (DI)
	ADDQ        $32, DI
	ADDQ        $32, AX
	ADDQ        $32, BX
	ADDQ        $32, DX
	DECQ        CX
	JNZ         r3loop

r3done:
	VZEROUPPER
	RET

// func dw3GradAVX(d, r *float32, n int) (s0, s1, s2 float32)
// s0 = sum d[x] r[x-1], s1 = sum d[x] r[x], s2 = sum d[x] r[x+1] over
// x in [0, n), n a multiple of 8; r[-1] and r[n] must be readable.
TEXT ·dw3GradAVX(SB), NOSPLIT, $0-36
	MOVQ   d+0(FP), DI
	MOVQ   r+8(FP), SI
	MOVQ   n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	SHRQ   $3, CX
	JE     gdone

gloop:
	VMOVUPS     (DI), Y3
	VMOVUPS     -4(SI), Y4
	VFMADD231PS Y4, Y3, Y0
	VMOVUPS     (SI), Y5
	VFMADD231PS Y5, Y3, Y1
	VMOVUPS     4(SI), Y6
	VFMADD231PS Y6, Y3, Y2
	ADDQ        $32, DI
	ADDQ        $32, SI
	DECQ        CX
	JNZ         gloop

gdone:
	VEXTRACTF128 $1, Y0, X4
	VADDPS       X4, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VEXTRACTF128 $1, Y1, X4
	VADDPS       X4, X1, X1
	VHADDPS      X1, X1, X1
	VHADDPS      X1, X1, X1
	VEXTRACTF128 $1, Y2, X4
	VADDPS       X4, X2, X2
	VHADDPS      X2, X2, X2
	VHADDPS      X2, X2, X2
	MOVSS        X0, s0+24(FP)
	MOVSS        X1, s1+28(FP)
	MOVSS        X2, s2+32(FP)
	VZEROUPPER
	RET
