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

// NewObjective on the fixture's network, potentials and batch, built in a
// graph of one's own, gives PyTorch's losses (the authors' training loop
// in testdata/gen_network.py), as the Trainer, which builds its losses with
// it, does.
func TestObjectiveMatchesFixture(t *testing.T) {
	fix, err := readFixture("testdata/trainer_loss.safetensors")
	require.NoError(t, err)
	weights, err := readFixture("testdata/network.safetensors")
	require.NoError(t, err)
	pots, err := readPotentials("testdata/potentials_tiny.pth")
	require.NoError(t, err)
	cfg := AuthorsTraining(fixtureNet(familyBaryNet))
	w := fix["weights"].Data
	w[0] = 1 - w[1] - w[2]

	g := G.NewGraph()
	net, err := buildNetwork(layers.NewScope(g, tensor.Float32, 1), cfg.Net)
	require.NoError(t, err)
	require.NoError(t, Load(net, withPrefix(weights, "barynet/weights/")))
	img := tensor.Shape{4, 3, 16, 16}
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(img...), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(img...), tensor.WithBacking(fix["degraded"].f32()))))
	y := G.NewTensor(g, tensor.Float32, 4, G.WithShape(img...), G.WithName("y"), G.WithValue(tensor.New(tensor.WithShape(img...), tensor.WithBacking(fix["clean"].f32()))))
	out, err := net.Forward(x)
	require.NoError(t, err)
	lat := out.Source.Shape()
	potScope := layers.NewScope(g, tensor.Float32, 2)
	p, err := NewLatentPotentials(potScope, ot.PotentialsConfig{Weights: w, Mode: cfg.Congruence, Penalty: cfg.Penalty}, lat[1], lat[2], lat[3])
	require.NoError(t, err)
	require.NoError(t, loadParams(potScope.Params(), pots, nil))
	// The authors' batch averaging: sample i weighs w_k/B in its source's column.
	swv := make([]float32, 4*3)
	for i, k := range []int{0, 1, 0, 2} {
		swv[i*3+k] = float32(w[k] / 4)
	}
	sw := G.NewMatrix(g, tensor.Float32, G.WithShape(4, 3), G.WithName("sw"), G.WithValue(tensor.New(tensor.WithShape(4, 3), tensor.WithBacking(swv))))
	var deg []float32
	for _, d := range fix["degradation"].Data {
		deg = append(deg, float32(d))
	}
	src := G.NewVector(g, tensor.Float32, G.WithShape(4), G.WithName("ids"), G.WithValue(tensor.New(tensor.WithBacking(deg))))
	oc := cfg.ObjectiveConfig
	oc.Sigma = fix["sigma"].Data[0]
	obj, err := NewObjective(ObjectiveInputs{Out: out, Clean: y, Potentials: p, SampleWeights: sw, Sources: src}, oc)
	require.NoError(t, err)
	m, err := NewMachine(g, MachineOptions{Keep: G.Nodes{obj.MapLoss, obj.L1, obj.PotentialTerm}})
	require.NoError(t, err)
	defer m.Close()
	require.NoError(t, m.RunAll())
	for name, n := range map[string]*G.Node{"generator": obj.MapLoss, "l1": obj.L1, "pot_term": obj.PotentialTerm} {
		got, err := ot.Scalar(m, n)
		require.NoError(t, err)
		want := fix[name].Data[0]
		require.InDelta(t, want, got, 1e-6*math.Max(1, math.Abs(want)), name)
	}
}

// The ablations of Tab. IX remove exactly their terms: with every term the
// map's loss is σ·L1 + MWB + β·(IRC + BRO); without MWB it loses the MWB
// terms; the residual sum without IRC plus the one without BRO is the
// whole; without all three it is σ·L1.
func TestObjectiveAblations(t *testing.T) {
	g := G.NewGraph()
	net, err := buildNetwork(layers.NewScope(g, tensor.Float64, 3), fixtureNet(familyBaryNet))
	require.NoError(t, err)
	img := tensor.Shape{4, 3, 16, 16}
	rnd := func(name string, seed float64) *G.Node {
		v := make([]float64, img.TotalSize())
		for i := range v {
			v[i] = 0.5 + 0.4*math.Sin(seed*float64(i+1))
		}
		return G.NewTensor(g, tensor.Float64, 4, G.WithShape(img...), G.WithName(name), G.WithValue(tensor.New(tensor.WithShape(img...), tensor.WithBacking(v))))
	}
	x, y := rnd("x", 0.37), rnd("y", 0.11)
	out, err := net.Forward(x)
	require.NoError(t, err)
	lat := out.Source.Shape()
	w := []float64{0.25, 0.5, 0.25}
	p, err := NewLatentPotentials(layers.NewScope(g, tensor.Float64, 4), ot.PotentialsConfig{Weights: w}, lat[1], lat[2], lat[3])
	require.NoError(t, err)
	swv, err := ot.SampleWeights([]int{0, 1, 2, 1}, w, tensor.Float64)
	require.NoError(t, err)
	in := ObjectiveInputs{Out: out, Clean: y, Potentials: p,
		SampleWeights: G.NewMatrix(g, tensor.Float64, G.WithShape(4, 3), G.WithName("sw"), G.WithValue(swv)),
		Sources:       G.NewVector(g, tensor.Float64, G.WithShape(4), G.WithName("ids"), G.WithValue(tensor.New(tensor.WithBacking([]float64{0, 1, 2, 1}))))}
	build := func(edit func(*ObjectiveConfig)) Objective {
		c := defaultObjective()
		edit(&c)
		o, err := NewObjective(in, c)
		require.NoError(t, err)
		return o
	}
	all, noMWB := build(func(*ObjectiveConfig) {}), build(func(c *ObjectiveConfig) { c.NoMWB = true })
	noIRC, noBRO := build(func(c *ObjectiveConfig) { c.NoIRC = true }), build(func(c *ObjectiveConfig) { c.NoBRO = true })
	none := build(func(c *ObjectiveConfig) { c.NoMWB, c.NoIRC, c.NoBRO = true, true, true })
	require.Nil(t, none.Residual)
	require.Nil(t, noMWB.Transport)
	tm, err := ot.NewTapeMachine(g, all.MapLoss, all.L1, all.Transport, all.PotentialTerm, all.Residual,
		noMWB.MapLoss, noIRC.Residual, noBRO.Residual, none.MapLoss)
	require.NoError(t, err)
	defer tm.Close()
	ph, err := tm.Phase(all.MapLoss, noMWB.MapLoss, noIRC.Residual, noBRO.Residual, none.MapLoss)
	require.NoError(t, err)
	require.NoError(t, ph.Run())
	v := func(n *G.Node) float64 {
		f, err := ot.Scalar(tm, n)
		require.NoError(t, err)
		return f
	}
	sigmaL1 := DefaultSigma * v(all.L1)
	mwb := v(all.Transport) - v(all.PotentialTerm)
	beta := defaultObjective().Beta
	require.InDelta(t, sigmaL1+mwb+beta*v(all.Residual), v(all.MapLoss), 1e-9*math.Abs(v(all.MapLoss)))
	require.InDelta(t, sigmaL1+beta*v(all.Residual), v(noMWB.MapLoss), 1e-9*math.Abs(v(noMWB.MapLoss)))
	require.InDelta(t, v(all.Residual), v(noIRC.Residual)+v(noBRO.Residual), 1e-12)
	require.NotZero(t, v(noIRC.Residual))
	require.NotZero(t, v(noBRO.Residual))
	require.InDelta(t, sigmaL1, v(none.MapLoss), 1e-12*sigmaL1)
}
