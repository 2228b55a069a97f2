package layers

import "math"

// geluGateAVX and geluGateBackAVX evaluate GELU in float32 eight lanes at a
// time: Phi(-|x|) by Abramowitz & Stegun 7.1.26 (absolute error below
// 1.5e-7) from exp(-x*x/2), itself 2^n times a degree-6 polynomial.

//go:noescape
func geluGateAVX(out, x1, x2 *float32, n int, c *[20][8]float32)

//go:noescape
func geluGateBackAVX(d1, d2, x1, x2, dy *float32, n int, c *[20][8]float32)

var geluConsts = func() *[20][8]float32 {
	v := [20]float32{
		math.Float32frombits(0x7fffffff), // 0 |x| mask
		-0.5,                             // 1
		-87,                              // 2 lowest exponent argument
		1.4426950408889634,               // 3 log2(e)
		0.693359375,                      // 4 ln2, high part
		-2.12194440e-4,                   // 5 ln2, low part
		1.0 / 720,                        // 6
		1.0 / 120,                        // 7
		1.0 / 24,                         // 8
		1.0 / 6,                          // 9
		0.5,                              // 10
		1,                                // 11
		0.3275911 / math.Sqrt2,           // 12 A&S p / sqrt 2
		1.061405429,                      // 13 a5
		-1.453152027,                     // 14 a4
		1.421413741,                      // 15 a3
		-0.284496736,                     // 16 a2
		0.254829592,                      // 17 a1
		0.3989422804014327,               // 18 1/sqrt(2 pi)
		math.Float32frombits(127),        // 19 exponent bias
	}
	var c [20][8]float32
	for i, x := range v {
		for j := range 8 {
			c[i][j] = x
		}
	}
	return &c
}()
