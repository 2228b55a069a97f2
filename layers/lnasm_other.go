//go:build !amd64

package layers

func lnSumAVX(m, x *float32, n int)                                   { panic("no AVX") }
func lnSqDevAVX(r, x, mu *float32, n int)                             { panic("no AVX") }
func lnNormAVX(y, x, mu, r *float32, n int, w, b float32)             { panic("no AVX") }
func lnBackAccAVX(s1, s2, x, dy, mu, r *float32, n int, w float32)    { panic("no AVX") }
func lnBackDxAVX(dx, x, dy, mu, r, s1, s2 *float32, n int, w float32) { panic("no AVX") }
