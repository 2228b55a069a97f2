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
