#include "textflag.h"

// The LayerNorm row kernels: eight pixels at a time over n, a multiple of
// 8, with the scalar code's operations in its order (no fused
// multiply-adds), so float32 results do not depend on the path.

// func lnSumAVX(m, x *float32, n int)
// m[i] += x[i].
TEXT ·lnSumAVX(SB), NOSPLIT, $0-24
	MOVQ m+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JE   sumdone

sumloop:
	VMOVUPS (DI), Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	DECQ    CX
	JNZ     sumloop

sumdone:
	VZEROUPPER
	RET

// func lnSqDevAVX(r, x, mu *float32, n int)
// r[i] += (x[i]-mu[i])^2.
TEXT ·lnSqDevAVX(SB), NOSPLIT, $0-32
	MOVQ r+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ mu+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	JE   sqdone

sqloop:
	VMOVUPS     (SI), Y1
	VSUBPS      (DX), Y1, Y1
	VMULPS      Y1, Y1, Y1
	VADDPS      (DI), Y1, Y0
	VMOVUPS     Y0, (DI)
	ADDQ        $32, DI
	ADDQ        $32, SI
	ADDQ        $32, DX
	DECQ        CX
	JNZ         sqloop

sqdone:
	VZEROUPPER
	RET

// func lnNormAVX(y, x, mu, r *float32, n int, w, b float32)
// y[i] = (x[i]-mu[i])*r[i]*w + b.
TEXT ·lnNormAVX(SB), NOSPLIT, $0-48
	MOVQ         y+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         mu+16(FP), DX
	MOVQ         r+24(FP), BX
	MOVQ         n+32(FP), CX
	VBROADCASTSS w+40(FP), Y2
	VBROADCASTSS b+44(FP), Y3
	SHRQ         $3, CX
	JE           normdone

normloop:
	VMOVUPS     (SI), Y0
	VSUBPS      (DX), Y0, Y0
	VMULPS      (BX), Y0, Y0
	VMULPS      Y2, Y0, Y0
	VADDPS      Y3, Y0, Y1
	VMOVUPS     Y1, (DI)
	ADDQ        $32, DI
	ADDQ        $32, SI
	ADDQ        $32, DX
	ADDQ        $32, BX
	DECQ        CX
	JNZ         normloop

normdone:
	VZEROUPPER
	RET

// func lnBackAccAVX(s1, s2, x, dy, mu, r *float32, n int, w float32)
// With g = dy[i]*w: s1[i] += g, s2[i] += g*(x[i]-mu[i])*r[i].
TEXT ·lnBackAccAVX(SB), NOSPLIT, $0-60
	MOVQ         s1+0(FP), DI
	MOVQ         s2+8(FP), R8
	MOVQ         x+16(FP), SI
	MOVQ         dy+24(FP), R9
	MOVQ         mu+32(FP), DX
	MOVQ         r+40(FP), BX
	MOVQ         n+48(FP), CX
	VBROADCASTSS w+56(FP), Y5
	SHRQ         $3, CX
	JE           accdone

accloop:
	VMULPS      (R9), Y5, Y0
	VADDPS      (DI), Y0, Y1
	VMOVUPS     Y1, (DI)
	VMOVUPS     (SI), Y2
	VSUBPS      (DX), Y2, Y2
	VMULPS      Y2, Y0, Y0
	VMULPS      (BX), Y0, Y0
	VADDPS      (R8), Y0, Y0
	VMOVUPS     Y0, (R8)
	ADDQ        $32, DI
	ADDQ        $32, R8
	ADDQ        $32, SI
	ADDQ        $32, R9
	ADDQ        $32, DX
	ADDQ        $32, BX
	DECQ        CX
	JNZ         accloop

accdone:
	VZEROUPPER
	RET

// func lnBackDxAVX(dx, x, dy, mu, r, s1, s2 *float32, n int, w float32)
// dx[i] = r[i]*(dy[i]*w - s1[i] - (x[i]-mu[i])*r[i]*s2[i]).
TEXT ·lnBackDxAVX(SB), NOSPLIT, $0-68
	MOVQ         dx+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         dy+16(FP), R9
	MOVQ         mu+24(FP), DX
	MOVQ         r+32(FP), BX
	MOVQ         s1+40(FP), R10
	MOVQ         s2+48(FP), R8
	MOVQ         n+56(FP), CX
	VBROADCASTSS w+64(FP), Y5
	SHRQ         $3, CX
	JE           dxdone

dxloop:
	VMOVUPS (BX), Y4
	VMOVUPS (SI), Y0
	VSUBPS  (DX), Y0, Y0
	VMULPS  Y4, Y0, Y0
	VMULPS  (R8), Y0, Y0
	VMULPS  (R9), Y5, Y1
	VSUBPS  (R10), Y1, Y1
	VSUBPS  Y0, Y1, Y1
	VMULPS  Y4, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, R9
	ADDQ    $32, DX
	ADDQ    $32, BX
	ADDQ    $32, R10
	ADDQ    $32, R8
	DECQ    CX
	JNZ     dxloop

dxdone:
	VZEROUPPER
	RET
