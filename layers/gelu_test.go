package layers

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func geluGateBuild(in []*G.Node) (*G.Node, error) { return GELUGate(in[0]) }

func TestGELUGateGradients(t *testing.T) {
	runGradCases(t, []gradCase{
		{"1x2x3x3", geluGateBuild, []*tensor.Dense{randDense(1, 1, 2, 3, 3)}},
		{"2x6x3x5", geluGateBuild, []*tensor.Dense{randDense(2, 2, 6, 3, 5)}},
		{"scaled 1x4x1x7", geluGateBuild, []*tensor.Dense{scaled(randDense(3, 1, 4, 1, 7), 3)}},
	})
}

func scaled(d *tensor.Dense, s float64) *tensor.Dense {
	for i, v := range d.Data().([]float64) {
		d.Data().([]float64)[i] = v * s
	}
	return d
}

func TestGELUGateParity(t *testing.T) {
	checkOpsParity(t, "gelu_gate", []string{"x"}, geluGateBuild)
}

// Known values of the exact GELU: x*Phi(x), gated by x2 = 2.
func TestGELUGateValues(t *testing.T) {
	x1 := []float64{-3, -1, 0, 1, 2}
	want := []float64{-0.0040496, -0.1586553, 0, 0.8413447, 1.9544997}
	data := append(append([]float64{}, x1...), 2, 2, 2, 2, 2)
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(1, 2, 1, 5), G.WithValue(tensor.New(tensor.WithShape(1, 2, 1, 5), tensor.WithBacking(data))))
	y, err := GELUGate(x)
	require.NoError(t, err)
	m := G.NewTapeMachine(g)
	defer m.Close()
	require.NoError(t, m.RunAll())
	require.Equal(t, tensor.Shape{1, 1, 1, 5}, y.Shape())
	for i, v := range y.Value().Data().([]float64) {
		require.InDelta(t, 2*want[i], v, 1e-6, "x=%v", x1[i])
	}
	require.False(t, math.IsNaN(y.Value().Data().([]float64)[0]))
}

func TestGELUGateErrors(t *testing.T) {
	g := G.NewGraph()
	for name, x := range map[string]*G.Node{
		"odd channels": G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 3, 2, 2)),
		"wrong rank":   G.NewTensor(g, tensor.Float32, 2, G.WithShape(4, 2)),
	} {
		_, err := GELUGate(x)
		require.Error(t, err, name)
	}
}

func BenchmarkGELUGate(b *testing.B) {
	s := tensor.Shape{4, 254, 64, 64} // GDFN of dim 48: 2*int(2.66*48) channels
	x := benchData(s.TotalSize())
	b.Run("fwd", func(b *testing.B) { benchKernel(b, geluGate{s}, x) })
	b.Run("bwd", func(b *testing.B) { benchKernel(b, geluGateGrad{s}, x, x[:s.TotalSize()/2]) })
}

// The float32 path's GELU stays within float32 rounding of the exact one.
func TestGELUFast(t *testing.T) {
	worstY, worstD := 0.0, 0.0
	for x := -12.0; x <= 12; x += 1.0 / 512 {
		y, d := gelu(x)
		fy, fd := geluFast(x)
		worstY = math.Max(worstY, math.Abs(y-fy)/math.Max(1, math.Abs(x)))
		worstD = math.Max(worstD, math.Abs(d-fd))
	}
	t.Logf("max error: GELU %.2e (relative to max(1,|x|)), GELU' %.2e", worstY, worstD)
	require.Less(t, worstY, 2e-7)
	require.Less(t, worstD, 2e-7)
}

func TestExpNeg(t *testing.T) {
	worst := 0.0
	for x := -750.0; x <= 0; x += 0.0137 {
		want := math.Exp(x)
		got := expNeg(x)
		if want == 0 || want < 1e-300 {
			require.Less(t, got, 1e-290, "x=%v", x)
			continue
		}
		worst = math.Max(worst, math.Abs(got-want)/want)
	}
	t.Logf("max relative error %.2e", worst)
	require.Less(t, worst, 1e-8)
	require.Equal(t, 1.0, expNeg(0))
}
