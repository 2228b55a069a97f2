package baryir

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/layers"
	"github.com/x/baryir/ot"
)

func TestLatentPotentialsMatchPyTorch(t *testing.T) {
	fix, err := readFixture("testdata/potentials.safetensors")
	require.NoError(t, err)
	g := G.NewGraph()
	s := layers.NewScope(g, tensor.Float32, 1)
	var nets [2]*latentPotential
	for k := range nets {
		nets[k], err = newLatentPotential(s.Subf("potentials.%d", k), 32, 8, 8)
		require.NoError(t, err)
	}
	for _, p := range s.Params() {
		w, ok := fix["weights/"+p.Name]
		require.True(t, ok, "fixture lacks %s", p.Name)
		require.Equal(t, w.Shape, []int(p.Node.Shape()), p.Name)
		require.NoError(t, G.Let(p.Node, denseOf(w, tensor.Float32)))
	}
	in := fix["input"]
	z := G.NewTensor(g, tensor.Float32, 4, G.WithShape(in.Shape...), G.WithName("z"), G.WithValue(denseOf(in, tensor.Float32)))
	var outs [2]*G.Node
	var vals [2]G.Value
	for k, n := range nets {
		outs[k], err = n.Forward(z)
		require.NoError(t, err)
		G.Read(outs[k], &vals[k])
	}
	proj := G.NewTensor(g, tensor.Float32, 2, G.WithShape(3, 1), G.WithValue(denseOf(Tensor{Shape: []int{3, 1}, Data: fix["proj"].Data}, tensor.Float32)))
	cost := G.Must(G.Sum(G.Must(G.HadamardProd(outs[0], proj))))
	wrt := append(G.Nodes{z}, nets[0].Learnables()...)
	_, err = G.Grad(cost, wrt...)
	require.NoError(t, err)
	m := G.NewTapeMachine(g, G.BindDualValues(wrt...))
	defer m.Close()
	require.NoError(t, m.RunAll())

	want := fix["output"].Data
	for k := range nets {
		got := vals[k].Data().([]float32)
		for i := range 3 {
			require.InDelta(t, want[k*3+i], float64(got[i]), 1e-4, "potential %d sample %d", k, i)
		}
	}
	gz, err := z.Grad()
	require.NoError(t, err)
	requireNear(t, "grad input", fix["grad/input"].Data, gz.Data().([]float32))
	for _, p := range s.Params()[:len(nets[0].Learnables())] {
		gp, err := p.Node.Grad()
		require.NoError(t, err)
		requireNear(t, "grad "+p.Name, fix["grad/"+p.Name].Data, gp.Data().([]float32))
	}
}

// requireNear checks float32 results against float64 references to 1e-4
// relative to the reference's scale.
func requireNear(t *testing.T, what string, want []float64, got []float32) {
	t.Helper()
	require.Len(t, got, len(want), what)
	scale, worst := 1.0, 0.0
	for i, w := range want {
		scale = math.Max(scale, math.Abs(w))
		worst = math.Max(worst, math.Abs(float64(got[i])-w))
	}
	require.LessOrEqual(t, worst, 1e-4*scale, "%s: max abs error %g", what, worst)
}

func TestLatentPotentialsCongruent(t *testing.T) {
	g := G.NewGraph()
	s := layers.NewScope(g, tensor.Float64, 3)
	w := []float64{0.2, 0.5, 0.3}
	pots, err := NewLatentPotentials(s, ot.PotentialsConfig{Weights: w}, 8, 8, 8)
	require.NoError(t, err)
	z := G.NewTensor(g, tensor.Float64, 4, G.WithShape(4, 8, 8, 8), G.WithInit(G.Gaussian(0, 1)))
	f, err := pots.Apply(z)
	require.NoError(t, err)
	c, err := pots.Congruence(f)
	require.NoError(t, err)
	var cv G.Value
	G.Read(c, &cv)
	m := G.NewTapeMachine(g)
	defer m.Close()
	require.NoError(t, m.RunAll())
	for _, v := range cv.Data().([]float64) {
		require.InDelta(t, 0, v, 1e-9)
	}
	require.Len(t, s.Params(), 3*7)
	require.Equal(t, "potentials.2.6.bias", s.Params()[3*7-1].Name)
}

func TestLatentPotentialErrors(t *testing.T) {
	s := layers.NewScope(G.NewGraph(), tensor.Float32, 1)
	_, err := newLatentPotential(s, 6, 8, 8)
	require.ErrorContains(t, err, "4 groups")
	_, err = newLatentPotential(s, 8, 1, 1)
	require.ErrorContains(t, err, "too small")
}
