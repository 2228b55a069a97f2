package layers

import "math"

// The float32 GELU gate reads GELU and GELU' from a table of exact values
// on [-8, 8] at steps of 1/64, interpolated by cubic Hermite polynomials
// (GELU from GELU and GELU', GELU' from GELU' and GELU”), whose error
// (~h^4/384 max|f””|, below 1e-9) is far under float32 rounding. Outside
// the table GELU(x) is 0 or x to float32 precision (|x Phi(-8)| < 1e-14).
const (
	geluTabLo    = -8
	geluTabHi    = 8
	geluTabScale = 64
	geluTabN     = (geluTabHi - geluTabLo) * geluTabScale
)

// geluKnot holds GELU, GELU' and both derivatives scaled by the step h.
type geluKnot struct{ y, d, dh, d2h float64 }

var geluTab = func() []geluKnot {
	t := make([]geluKnot, geluTabN+2)
	const h = 1.0 / geluTabScale
	for i := range t {
		x := geluTabLo + float64(i)*h
		y, d := gelu(x)
		d2 := math.Exp(-0.5*x*x) / math.Sqrt(2*math.Pi) * (2 - x*x)
		t[i] = geluKnot{y, d, d * h, d2 * h}
	}
	return t
}()

// geluTable returns GELU(x) and GELU'(x) in float32.
func geluTable(x float32) (y, dy float32) {
	if !(x > geluTabLo) { // also NaN: keep it
		if x != x {
			return x, x
		}
		return 0, 0
	}
	if x >= geluTabHi {
		return x, 1
	}
	t := (float64(x) - geluTabLo) * geluTabScale
	i := int(t)
	f := t - float64(i)
	a, b := &geluTab[i], &geluTab[i+1]
	f2 := f * f
	f3 := f2 * f
	h01 := 3*f2 - 2*f3
	h00 := 1 - h01
	h10 := f3 - 2*f2 + f
	h11 := f3 - f2
	y = float32(h00*a.y + h01*b.y + h10*a.dh + h11*b.dh)
	dy = float32(h00*a.d + h01*b.d + h10*a.d2h + h11*b.d2h)
	return y, dy
}

func geluGateRow32(out, x1, x2 []float32) {
	x2 = x2[:len(x1)]
	out = out[:len(x1)]
	if m := len(x1) &^ 7; hasAVX && m > 0 {
		geluGateAVX(&out[0], &x1[0], &x2[0], m, geluConsts)
		out, x1, x2 = out[m:], x1[m:], x2[m:]
	}
	for p, v := range x1 {
		g, _ := geluTable(v)
		out[p] = g * x2[p]
	}
}

func geluGateBackRow32(d1, d2, x1, x2, g []float32) {
	n := len(x1)
	d1, d2, x2, g = d1[:n], d2[:n], x2[:n], g[:n]
	if m := n &^ 7; hasAVX && m > 0 {
		geluGateBackAVX(&d1[0], &d2[0], &x1[0], &x2[0], &g[0], m, geluConsts)
		d1, d2, x1, x2, g = d1[m:], d2[m:], x1[m:], x2[m:], g[m:]
	}
	for p, v := range x1 {
		y, dydx := geluTable(v)
		d1[p] = g[p] * x2[p] * dydx
		d2[p] = g[p] * y
	}
}
