package layers

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// naiveConv is the textbook direct convolution, the reference of the
// banded kernels.
func naiveConv(g convGeom, x, w []float64) []float64 {
	y := make([]float64, g.B*g.Cout*g.Ho*g.Wo)
	for b := range g.B {
		for o := range g.Cout {
			gr := o / g.opg
			for oy := range g.Ho {
				for ox := range g.Wo {
					var s float64
					for c := range g.cpg {
						for ky := range g.K {
							for kx := range g.K {
								iy, ix := oy*g.Stride-g.Pad+ky, ox*g.Stride-g.Pad+kx
								if iy < 0 || iy >= g.H || ix < 0 || ix >= g.W {
									continue
								}
								s += w[((o*g.cpg+c)*g.K+ky)*g.K+kx] * x[((b*g.Cin+gr*g.cpg+c)*g.H+iy)*g.W+ix]
							}
						}
					}
					y[((b*g.Cout+o)*g.Ho+oy)*g.Wo+ox] = s
				}
			}
		}
	}
	return y
}

// With fewer (sample, group) pairs than cores the forward convolution
// splits each image into bands of output rows; every band must land where
// one pass would put it, for pointwise, padded, strided and grouped
// convolutions, whether the rows divide evenly into bands or not.
func TestConvForwardBands(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	cases := []struct {
		name                  string
		b, cin, h, w, cout, k int
		stride, pad, groups   int
	}{
		{"pointwise", 1, 5, 70, 40, 7, 1, 1, 0, 1},
		{"3x3 pad 1", 1, 3, 67, 33, 6, 3, 1, 1, 1},
		{"3x3 stride 2", 1, 4, 200, 38, 5, 3, 2, 1, 1},
		{"two groups, batch 2", 2, 4, 50, 41, 6, 3, 1, 1, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := newConvGeom([]int{c.b, c.cin, c.h, c.w}, []int{c.cout, c.cin / c.groups, c.k, c.k}, c.stride, c.pad, c.groups)
			require.NoError(t, err)
			rows := convBandRows(g.B*g.Groups, g.Ho, g.Wo)
			require.Less(t, rows, g.Ho, "the case must split into bands")
			checkConvForward(t, g, c.name)
		})
	}
}

// A pointwise convolution of an image too small for bands splits its
// output channels over the cores; each part must land where one pass
// would put it, whether the channels divide evenly or not.
func TestConvForwardChannelParts(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	for _, c := range []struct{ b, cin, side, cout, groups int }{
		{1, 9, 12, 96, 1},
		{1, 8, 16, 100, 1},
		{1, 8, 10, 146, 2},
	} {
		g, err := newConvGeom([]int{c.b, c.cin, c.side, c.side}, []int{c.cout, c.cin / c.groups, 1, 1}, 1, 0, c.groups)
		require.NoError(t, err)
		_, parts := convChannelParts(g.B*g.Groups, g.opg)
		require.Greater(t, parts, 1, "case %+v must split its channels", c)
		checkConvForward(t, g, fmt.Sprintf("case %+v", c))
	}
}

// checkConvForward runs convForward of g on seeded random input and weights
// against naiveConv, in float64 (within 1e-10, over an output of stale
// values, which must be overwritten) and in float32 (within 1e-4).
func checkConvForward(t *testing.T, g convGeom, what string) {
	x := randDense(1, g.B, g.Cin, g.H, g.W).Data().([]float64)
	w := randDense(2, g.Cout, g.Cin/g.Groups, g.K, g.K).Data().([]float64)
	want := naiveConv(g, x, w)
	got := make([]float64, g.B*g.Cout*g.Ho*g.Wo)
	for i := range got {
		got[i] = 7
	}
	convForward(g, got, x, w)
	require.InDeltaSlice(t, want, got, 1e-10, what)

	x32, w32 := make([]float32, len(x)), make([]float32, len(w))
	for i, v := range x {
		x32[i] = float32(v)
	}
	for i, v := range w {
		w32[i] = float32(v)
	}
	got32 := make([]float32, len(got))
	convForward(g, got32, x32, w32)
	for i, v := range want {
		require.InDelta(t, v, float64(got32[i]), 1e-4, "%s: float32 element %d", what, i)
	}
}
