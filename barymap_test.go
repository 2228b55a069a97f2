package baryir

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/data"
	"github.com/x/baryir/internal/op"
	"github.com/x/baryir/layers"
)

// TestBarycenterMapMatchesPyTorch compares each architecture's output and
// the gradients of sum(out * proj) with respect to the input and every
// parameter with PyTorch's, in float64 (testdata/gen_barymap.py writes the
// fixture: two units, 8 channels, 2 heads, a 3x4 latent; 12-channel
// convolutions in the UNet-style map).
func TestBarycenterMapMatchesPyTorch(t *testing.T) {
	fix, err := readFixture("testdata/barymap.safetensors")
	require.NoError(t, err)
	for _, arch := range mapArchs() {
		t.Run(arch.String(), func(t *testing.T) {
			get := func(key string) *tensor.Dense {
				v, ok := fix[arch.String()+"/"+key]
				require.True(t, ok, "fixture lacks %s/%s", arch, key)
				return tensor.New(tensor.WithShape(v.Shape...), tensor.WithBacking(append([]float64(nil), v.Data...)))
			}
			g := G.NewGraph()
			s := layers.NewScope(g, tensor.Float64, 1)
			cfg := MapConfig{Arch: arch, Dim: 8, Blocks: 2, Heads: 2, BiasFree: arch == MapUNet}
			if arch == MapUNet {
				cfg.Hidden = 12
			}
			m, err := NewBarycenterMap(s, cfg)
			require.NoError(t, err)
			in := get("input")
			x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(in.Shape()...), G.WithName("x"), G.WithValue(in))
			wrt := G.Nodes{x}
			for _, p := range m.(*barycenterMap).Params() {
				require.NoError(t, G.Let(p.Node, get("param/"+p.Name)), p.Name)
				wrt = append(wrt, p.Node)
			}
			n := 0
			for k := range fix {
				if strings.HasPrefix(k, arch.String()+"/param/") {
					n++
				}
			}
			require.Equal(t, n, len(m.(*barycenterMap).Params()), "parameter count")
			y, err := m.Forward(x)
			require.NoError(t, err)
			proj := G.NewTensor(g, tensor.Float64, 4, G.WithShape(y.Shape()...), G.WithValue(get("proj")))
			cost := G.Must(G.Sum(G.Must(G.HadamardProd(y, proj))))
			_, err = G.Grad(cost, wrt...)
			require.NoError(t, err)
			vm := G.NewTapeMachine(g, G.BindDualValues(wrt...))
			defer vm.Close()
			require.NoError(t, vm.RunAll())

			requireClose64(t, "output", get("output"), y.Value())
			for i, n := range wrt {
				name := "input"
				if i > 0 {
					name = m.(*barycenterMap).Params()[i-1].Name
				}
				gv, err := n.Grad()
				require.NoError(t, err)
				requireClose64(t, "grad "+name, get("grad/"+name), gv)
			}
		})
	}
}

// requireClose64 checks float64 results against PyTorch's float64 ones: max
// abs error 1e-10 relative to the reference's scale.
func requireClose64(t *testing.T, what string, want *tensor.Dense, got G.Value) {
	t.Helper()
	require.Equal(t, want.Shape(), got.Shape(), "%s shape", what)
	w, g := want.Data().([]float64), got.Data().([]float64)
	scale, worst := 1.0, 0.0
	for i := range w {
		scale = math.Max(scale, math.Abs(w[i]))
		worst = math.Max(worst, math.Abs(g[i]-w[i]))
	}
	require.LessOrEqual(t, worst, 1e-10*scale, "%s: max abs error %g (scale %g)", what, worst, scale)
}

// Each architecture's input gradient against central differences (its
// parameter gradients are checked against PyTorch above).
func TestBarycenterMapGradients(t *testing.T) {
	x := tensor.New(tensor.WithShape(2, 4, 2, 3), tensor.WithBacking(make([]float64, 24*2)))
	for i, v := range x.Data().([]float64) {
		x.Data().([]float64)[i] = v + math.Sin(1.3*float64(i)+0.2)
	}
	for _, arch := range mapArchs() {
		t.Run(arch.String(), func(t *testing.T) {
			worst, err := op.GradCheck(func(in []*G.Node) (*G.Node, error) {
				m, err := NewBarycenterMap(layers.NewScope(in[0].Graph(), tensor.Float64, 5),
					MapConfig{Arch: arch, Dim: 4, Blocks: 2, Heads: 2, Hidden: 6})
				if err != nil {
					return nil, err
				}
				return m.Forward(in[0])
			}, x)
			require.NoError(t, err)
			require.Less(t, worst, 1e-6)
		})
	}
}

// With the default architecture the map is BaryNet's barylatent, names and
// values: the same parameters from the same seed.
func TestBaryNetBuildsItsMapThroughBarycenterMap(t *testing.T) {
	for _, arch := range mapArchs() {
		t.Run(arch.String(), func(t *testing.T) {
			cfg := Tiny()
			cfg.Map = arch
			net, err := buildNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 3), cfg)
			require.NoError(t, err)
			m, err := NewBarycenterMap(layers.NewScope(G.NewGraph(), tensor.Float32, 3).Sub("barylatent"), cfg.mapConfig())
			require.NoError(t, err)
			var inNet []string
			for _, p := range net.Scope.Params() {
				if strings.HasPrefix(p.Name, "barylatent.") {
					inNet = append(inNet, p.Name)
				}
			}
			var own []string
			for _, p := range m.(*barycenterMap).Params() {
				own = append(own, p.Name)
			}
			require.Equal(t, inNet, own)
		})
	}
}

func TestMapArchParse(t *testing.T) {
	for _, a := range mapArchs() {
		got, err := ParseMapArch(" " + a.String() + " ")
		require.NoError(t, err)
		require.Equal(t, a, got)
	}
	got, err := ParseMapArch("ViT")
	require.NoError(t, err)
	require.Equal(t, MapViT, got)
	got, err = ParseMapArch("")
	require.NoError(t, err)
	require.Equal(t, MapTransformer, got)
	_, err = ParseMapArch("resnet")
	require.ErrorContains(t, err, `unknown map architecture "resnet" (want transformer, mlp, unet, vit, none)`)
	got, err = ParseMapArch("none")
	require.NoError(t, err)
	require.Equal(t, MapNone, got)
	require.ErrorContains(t, MapArch(9).check(), "unknown map architecture 9")
}

func TestMapConfigErrors(t *testing.T) {
	s := layers.NewScope(G.NewGraph(), tensor.Float32, 1)
	for want, c := range map[string]MapConfig{
		"0 channels":                 {},
		"not divisible by 3 heads":   {Arch: MapViT, Dim: 8, Heads: 3},
		"unknown map architecture 7": {Arch: 7, Dim: 8},
		"map architecture none":      {Arch: MapNone, Dim: 8},
		"negative size (blocks -1":   {Dim: 8, Blocks: -1},
		"not divisible by 5 heads":   {Dim: 8, Heads: 5},
	} {
		_, err := NewBarycenterMap(s, c)
		require.ErrorContains(t, err, want)
	}
	m, err := NewBarycenterMap(s, MapConfig{Arch: MapMLP, Dim: 8})
	require.NoError(t, err)
	require.Equal(t, MapConfig{Arch: MapMLP, Dim: 8, Blocks: 2, Heads: 1, Hidden: 21}, m.(*barycenterMap).Config())
	_, err = m.Forward(G.NewTensor(s.Graph(), tensor.Float32, 4, G.WithShape(1, 4, 2, 2)))
	require.ErrorContains(t, err, "input shape (1, 4, 2, 2), want (B, 8, H, W)")

	cfg := Tiny()
	cfg.Map = 8
	require.ErrorContains(t, cfg.validate(), "unknown map architecture 8")
	cfg.Map = MapUNet
	require.Equal(t, MapNone, cfg.Restormer().Map)
	require.Equal(t, "restormer dim 8 blocks [1 1 1 1]", cfg.Restormer().String())
	cfg = Tiny().Restormer()
	cfg.Map = MapViT // a map without barycenter blocks
	require.ErrorContains(t, cfg.validate(), "BaryNet needs at least one barycenter block")
}

// Each architecture trains when swapped into BaryNet: a Tiny BaryNet takes
// optimiser steps with the paper's recipe, every loss stays finite, the
// map's parameters move and the L1 of the last steps is below the first's.
func TestEveryMapTrainsInBaryNet(t *testing.T) {
	src, err := data.EmbeddedSources(data.ThreeDegradations())
	require.NoError(t, err)
	for _, arch := range mapArchs() {
		t.Run(arch.String(), func(t *testing.T) {
			net := Tiny()
			net.Dim, net.Map = 4, arch
			cfg := PaperTraining(net)
			cfg.Batch, cfg.Patch, cfg.Optimizer, cfg.LR, cfg.Seed = 2, 16, OptimizerAdam, 2e-3, 7
			s, err := data.NewSampler(src, cfg.Patch, cfg.Seed)
			require.NoError(t, err)
			tr, err := NewTrainer(cfg, s)
			require.NoError(t, err)
			defer tr.Close()
			before := mapValues(tr.network())
			start := time.Now()
			hist, err := tr.Run(RunOptions{Steps: 12})
			require.NoError(t, err)
			t.Logf("%d steps in %v", len(hist), time.Since(start))
			for i, e := range hist {
				for _, v := range []float64{e.Generator, e.Potential, e.L1, e.Transport} {
					require.False(t, math.IsNaN(v) || math.IsInf(v, 0), "step %d: %+v", i, e)
				}
			}
			first, last := (hist[0].L1+hist[1].L1+hist[2].L1)/3, (hist[9].L1+hist[10].L1+hist[11].L1)/3
			t.Logf("L1 over the first and last 3 steps: %.4f then %.4f", first, last)
			require.Less(t, last, first)
			require.NotEqual(t, before, mapValues(tr.network()), "the map's parameters moved")
		})
	}
}

// mapValues copies the values of the barycenter map's parameters.
func mapValues(n *Network) []float32 {
	var out []float32
	for _, p := range n.Scope.Params() {
		if strings.HasPrefix(p.Name, "barylatent.") {
			out = append(out, p.Node.Value().Data().([]float32)...)
		}
	}
	return out
}

// A BaryNet with any map architecture is inferred back from its weights,
// and Parameters counts what the network holds.
func TestInferEveryMap(t *testing.T) {
	for _, a := range mapArchs() {
		t.Run(a.String(), func(t *testing.T) {
			c := Tiny()
			c.Map = a
			net, err := buildNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 1), c)
			require.NoError(t, err)
			sd, err := StateDictOf(net.Scope.Params())
			require.NoError(t, err)
			got, err := inferConfig(sd.shapes())
			require.NoError(t, err)
			require.Equal(t, a, got.Map)
			require.Equal(t, c.BaryBlocks, got.BaryBlocks)
			n := 0
			for _, p := range net.Scope.Params() {
				n += p.Node.Shape().TotalSize()
			}
			require.Equal(t, float64(n), c.parameters())
		})
	}
}
