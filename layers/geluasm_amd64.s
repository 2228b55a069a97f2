#include "textflag.h"

// Constants (8 copies each, 32 bytes apart) come from geluConsts; see geluasm_amd64.go.

// GELU of Y0 into: Y4 = exp(-x*x/2), Y13 = Phi(x), Y14 = GELU(x). Clobbers Y1-Y12.
#define GELU \
	VMULPS       Y0, Y0, Y1; \
	VMULPS       32(R8), Y1, Y1; \
	VMAXPS       64(R8), Y1, Y1; \
	VMULPS       96(R8), Y1, Y2; \
	VROUNDPS     $0, Y2, Y2; \
	VMOVAPS      Y1, Y3; \
	VFNMADD231PS 128(R8), Y2, Y3; \
	VFNMADD231PS 160(R8), Y2, Y3; \
	VMOVUPS      192(R8), Y4; \
	VFMADD213PS  224(R8), Y3, Y4; \
	VFMADD213PS  256(R8), Y3, Y4; \
	VFMADD213PS  288(R8), Y3, Y4; \
	VFMADD213PS  320(R8), Y3, Y4; \
	VFMADD213PS  352(R8), Y3, Y4; \
	VFMADD213PS  352(R8), Y3, Y4; \
	VCVTPS2DQ    Y2, Y5; \
	VPADDD       608(R8), Y5, Y5; \
	VPSLLD       $23, Y5, Y5; \
	VMULPS       Y5, Y4, Y4; \
	VANDPS       0(R8), Y0, Y6; \
	VMOVUPS      352(R8), Y7; \
	VFMADD231PS  384(R8), Y6, Y7; \
	VMOVUPS      352(R8), Y8; \
	VDIVPS       Y7, Y8, Y8; \
	VMOVUPS      416(R8), Y9; \
	VFMADD213PS  448(R8), Y8, Y9; \
	VFMADD213PS  480(R8), Y8, Y9; \
	VFMADD213PS  512(R8), Y8, Y9; \
	VFMADD213PS  544(R8), Y8, Y9; \
	VMULPS       Y8, Y9, Y9; \
	VMULPS       320(R8), Y9, Y9; \
	VMULPS       Y4, Y9, Y9; \
	VMOVUPS      352(R8), Y10; \
	VSUBPS       Y9, Y10, Y10; \
	VXORPS       Y11, Y11, Y11; \
	VCMPPS       $13, Y11, Y0, Y12; \
	VBLENDVPS    Y12, Y10, Y9, Y13; \
	VMULPS       Y13, Y0, Y14

// func geluGateAVX(out, x1, x2 *float32, n int, c *[20][8]float32)
// out[i] = GELU(x1[i]) * x2[i] for i < n, n a multiple of 8.
TEXT ·geluGateAVX(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), AX
	MOVQ x1+8(FP), BX
	MOVQ x2+16(FP), CX
	MOVQ n+24(FP), DI
	MOVQ c+32(FP), R8
	SHRQ $3, DI
	JE   fdone

floop:
	VMOVUPS (BX), Y0
	GELU
	VMULPS  (CX), Y14, Y14
	VMOVUPS Y14, (AX)
	ADDQ    $32, AX
	ADDQ    $32, BX
	ADDQ    $32, CX
	DECQ    DI
	JNZ     floop

fdone:
	VZEROUPPER
	RET

// func geluGateBackAVX(d1, d2, x1, x2, dy *float32, n int, c *[20][8]float32)
// d1 = dy*x2*GELU'(x1), d2 = dy*GELU(x1), n a multiple of 8.
TEXT ·geluGateBackAVX(SB), NOSPLIT, $0-56
	MOVQ d1+0(FP), AX
	MOVQ d2+8(FP), SI
	MOVQ x1+16(FP), BX
	MOVQ x2+24(FP), CX
	MOVQ dy+32(FP), DX
	MOVQ n+40(FP), DI
	MOVQ c+48(FP), R8
	SHRQ $3, DI
	JE   bdone

bloop:
	VMOVUPS     (BX), Y0
	GELU
	VMULPS      Y4, Y0, Y15
	VMOVAPS     Y13, Y5
	VFMADD231PS 576(R8), Y15, Y5
	VMOVUPS     (DX), Y6
	VMULPS      (CX), Y6, Y8
	VMULPS      Y5, Y8, Y8
	VMOVUPS     Y8, (AX)
	VMULPS      Y14, Y6, Y9
	VMOVUPS     Y9, (SI)
	ADDQ        $32, AX
	ADDQ        $32, SI
	ADDQ        $32, BX
	ADDQ        $32, CX
	ADDQ        $32, DX
	DECQ        DI
	JNZ         bloop

bdone:
	VZEROUPPER
	RET
