package layers

//go:noescape
func lnSumAVX(m, x *float32, n int)

//go:noescape
func lnSqDevAVX(r, x, mu *float32, n int)

//go:noescape
func lnNormAVX(y, x, mu, r *float32, n int, w, b float32)

//go:noescape
func lnBackAccAVX(s1, s2, x, dy, mu, r *float32, n int, w float32)

//go:noescape
func lnBackDxAVX(dx, x, dy, mu, r, s1, s2 *float32, n int, w float32)
