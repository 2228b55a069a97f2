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
