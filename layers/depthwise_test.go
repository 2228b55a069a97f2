package layers

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"
)

// The 3x3 fast paths agree with the generic depthwise loops.
func TestDepthwise3x3MatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][2]int{{5, 7}, {2, 2}, {3, 9}, {16, 16}} {
		g, err := newConvGeom(tensor.Shape{2, 3, sz[0], sz[1]}, tensor.Shape{3, 1, 3, 3}, 1, 1, 3)
		require.NoError(t, err)
		require.True(t, g.depthwise3x3())
		fill := func(n int) []float64 {
			v := make([]float64, n)
			for i := range v {
				v[i] = rng.NormFloat64()
			}
			return v
		}
		x, w, dy := fill(2*3*sz[0]*sz[1]), fill(27), fill(2*3*sz[0]*sz[1])
		want, got := make([]float64, len(x)), make([]float64, len(x))
		depthwiseForward(g, want, x, w)
		depthwise3x3Forward(g, got, x, w)
		require.InDeltaSlice(t, want, got, 1e-12)
		want, got = make([]float64, len(x)), make([]float64, len(x))
		depthwiseBackX(g, want, w, dy)
		depthwise3x3BackX(g, got, w, dy)
		require.InDeltaSlice(t, want, got, 1e-12)
		wantW, gotW := make([]float64, 27), make([]float64, 27)
		depthwiseBackW(g, wantW, x, dy)
		depthwise3x3BackW(g, gotW, x, dy)
		require.InDeltaSlice(t, wantW, gotW, 1e-11)
	}
}

// The float32 path's table GELU stays within float32 rounding of the exact one.
func TestGELUTable(t *testing.T) {
	worstY, worstD := 0.0, 0.0
	for x := -12.0; x <= 12; x += 1.0 / 997 {
		y, d := gelu(x)
		fy, fd := geluTable(float32(x))
		// the input itself is rounded to float32: compare at that point
		y, d = gelu(float64(float32(x)))
		worstY = math.Max(worstY, math.Abs(y-float64(fy))/math.Max(1, math.Abs(x)))
		worstD = math.Max(worstD, math.Abs(d-float64(fd)))
	}
	t.Logf("max error: GELU %.2e (relative to max(1,|x|)), GELU' %.2e", worstY, worstD)
	require.Less(t, worstY, 3e-7)
	require.Less(t, worstD, 3e-7)
	y, d := geluTable(float32(math.NaN()))
	require.True(t, y != y && d != d)
}

// The float32 fast paths (AVX where available) agree with float64 ones.
func TestDepthwise3x3Float32(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, sz := range [][2]int{{4, 9}, {3, 10}, {5, 17}, {8, 64}, {2, 2}, {3, 3}, {1, 8}, {2, 16}, {7, 24}} {
		g, err := newConvGeom(tensor.Shape{2, 3, sz[0], sz[1]}, tensor.Shape{3, 1, 3, 3}, 1, 1, 3)
		require.NoError(t, err)
		n := 2 * 3 * sz[0] * sz[1]
		x64, w64, dy64 := make([]float64, n), make([]float64, 27), make([]float64, n)
		x32, w32, dy32 := make([]float32, n), make([]float32, 27), make([]float32, n)
		for i := range x64 {
			x64[i], dy64[i] = float64(float32(rng.NormFloat64())), float64(float32(rng.NormFloat64()))
			x32[i], dy32[i] = float32(x64[i]), float32(dy64[i])
		}
		for i := range w64 {
			w64[i] = float64(float32(rng.NormFloat64()))
			w32[i] = float32(w64[i])
		}
		check := func(want []float64, got []float32, tol float64) {
			for i := range want {
				require.InDelta(t, want[i], float64(got[i]), tol, "size %v index %d", sz, i)
			}
		}
		y64, y32 := make([]float64, n), make([]float32, n)
		depthwise3x3Forward(g, y64, x64, w64)
		depthwise3x3Forward(g, y32, x32, w32)
		check(y64, y32, 1e-5)
		y64, y32 = make([]float64, n), make([]float32, n)
		depthwise3x3BackX(g, y64, w64, dy64)
		depthwise3x3BackX(g, y32, w32, dy32)
		check(y64, y32, 1e-5)
		d64, d32 := make([]float64, 27), make([]float32, 27)
		depthwise3x3BackW(g, d64, x64, dy64)
		depthwise3x3BackW(g, d32, x32, dy32)
		check(d64, d32, 1e-4)
	}
}

// The AVX GELU gate (forward and backward) stays within a few float32
// roundings of the exact GELU.
func TestGELUGateAVX(t *testing.T) {
	if !hasAVX {
		t.Skip("no AVX2/FMA")
	}
	var x1, x2, g []float32
	for x := -12.0; x <= 12; x += 1.0 / 251 {
		x1 = append(x1, float32(x))
	}
	x1 = append(x1, 100, -100, 0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 20, -20)
	for len(x1)%8 != 0 {
		x1 = append(x1, 0.5)
	}
	for i := range x1 {
		x2 = append(x2, 1+float32(i%5)/4)
		g = append(g, 1-float32(i%3)/2)
	}
	out, d1, d2 := make([]float32, len(x1)), make([]float32, len(x1)), make([]float32, len(x1))
	geluGateAVX(&out[0], &x1[0], &x2[0], len(x1), geluConsts)
	geluGateBackAVX(&d1[0], &d2[0], &x1[0], &x2[0], &g[0], len(x1), geluConsts)
	worstY, worstD := 0.0, 0.0
	for i, v := range x1 {
		y, d := gelu(float64(v))
		scale := math.Max(1, math.Abs(float64(v)))
		worstY = math.Max(worstY, math.Abs(y*float64(x2[i])-float64(out[i]))/scale/float64(x2[i]))
		worstY = math.Max(worstY, math.Abs(y*float64(g[i])-float64(d2[i]))/scale)
		worstD = math.Max(worstD, math.Abs(d*float64(g[i]*x2[i])-float64(d1[i]))/float64(x2[i]))
	}
	t.Logf("max error: GELU %.2e (relative to max(1,|x|)), GELU' %.2e", worstY, worstD)
	require.Less(t, worstY, 1e-6)
	require.Less(t, worstD, 1e-6)
	nan := []float32{float32(math.NaN()), 1, 1, 1, 1, 1, 1, 1}
	geluGateAVX(&out[0], &nan[0], &x2[0], 8, geluConsts)
	require.True(t, math.IsNaN(float64(out[0])))
}

// The stride-1 row-copy im2col/col2im equal the general loops.
func TestIm2colStride1(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, c := range [][5]int{{3, 5, 7, 3, 1}, {2, 4, 4, 3, 0}, {1, 6, 5, 5, 2}, {2, 3, 3, 1, 0}, {1, 2, 9, 3, 3}} {
		cin, h, w, k, pad := c[0], c[1], c[2], c[3], c[4]
		g, err := newConvGeom(tensor.Shape{1, cin, h, w}, tensor.Shape{2, cin, k, k}, 1, pad, 1)
		require.NoError(t, err)
		x := make([]float64, cin*h*w)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		n := cin * k * k * g.Ho * g.Wo
		want, got := make([]float64, n), make([]float64, n)
		for i := range got {
			got[i] = 7 // stale values must be overwritten
		}
		g2 := g
		g2.Stride = 1
		im2colStride1(g, got, x, 0, g.Ho)
		// the general loop, forced by a stride-1 copy of the code path
		im2colGeneral(g2, want, x, 0, g2.Ho)
		require.Equal(t, want, got)
		dxw, dxg := make([]float64, len(x)), make([]float64, len(x))
		col2imGeneral(g2, dxw, want)
		col2imStride1(g, dxg, want)
		require.InDeltaSlice(t, dxw, dxg, 1e-12)
	}
}

// BenchmarkDepthwise3x3Paper times the 3x3 depthwise convolution of the
// Paper preset's full-resolution GDFN (254 channels of 256x256, one image)
// forward and both gradients.
func BenchmarkDepthwise3x3Paper(b *testing.B) {
	const c, side = 254, 256
	g, err := newConvGeom(tensor.Shape{1, c, side, side}, tensor.Shape{c, 1, 3, 3}, 1, 1, c)
	require.NoError(b, err)
	n := c * side * side
	x, y, w, dw := make([]float32, n), make([]float32, n), make([]float32, 9*c), make([]float32, 9*c)
	for name, f := range map[string]func(){
		"forward": func() { depthwise3x3Forward(g, y, x, w) },
		"backX":   func() { depthwise3x3BackX(g, y, w, x) },
		"backW":   func() { depthwise3x3BackW(g, dw, x, y) },
	} {
		b.Run(name, func(b *testing.B) {
			for range b.N {
				f()
			}
		})
	}
}
