package layers

import "github.com/x/baryir/internal/op"

//go:noescape
func dw3RowAVX(o, r *float32, n int, w0, w1, w2 float32)

//go:noescape
func dw3Rows3AVX(o, r0, r1, r2 *float32, n int, w *[9]float32)

//go:noescape
func dw3GradAVX(d, r *float32, n int) (s0, s1, s2 float32)

var hasAVX = op.HasFMA()
