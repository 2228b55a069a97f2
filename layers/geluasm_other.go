//go:build !amd64

package layers

var geluConsts *[20][8]float32

func geluGateAVX(out, x1, x2 *float32, n int, c *[20][8]float32) { panic("no AVX") }
func geluGateBackAVX(d1, d2, x1, x2, dy *float32, n int, c *[20][8]float32) {
	panic("no AVX")
}
