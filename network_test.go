package baryir

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/layers"
)

// family picks a test network: BaryNet or the plain Restormer.
type family string

const (
	familyBaryNet   family = "barynet"
	familyRestormer family = "restormer"
)

// fixtureNet is the network testdata/gen_network.py builds in PyTorch.
func fixtureNet(arch family) Config {
	c := Tiny()
	c.Dim = 4
	if arch == familyRestormer {
		return c.Restormer()
	}
	return c
}

func TestNetworksMatchPyTorch(t *testing.T) {
	fix, err := readFixture("testdata/network.safetensors")
	require.NoError(t, err)
	for _, arch := range []family{familyBaryNet, familyRestormer} {
		t.Run(string(arch), func(t *testing.T) {
			g := G.NewGraph()
			net, err := buildNetwork(layers.NewScope(g, tensor.Float32, 1), fixtureNet(arch))
			require.NoError(t, err)
			require.NoError(t, Load(net, withPrefix(fix, string(arch)+"/weights/")))
			in := fix["input"]
			x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(in.Shape...),
				G.WithValue(tensor.New(tensor.WithShape(in.Shape...), tensor.WithBacking(in.f32()))))
			out, err := net.Forward(x)
			require.NoError(t, err)
			check := map[string]*G.Node{"output": out.Restored}
			if arch == familyBaryNet {
				check["source"], check["bary"], check["residual"] = out.Source, out.Bary, out.Residual
			} else {
				require.Nil(t, out.Source)
			}
			// The tape machine may reuse intermediate buffers: read copies.
			values := map[string]*G.Value{}
			for name, n := range check {
				values[name] = new(G.Value)
				G.Read(n, values[name])
			}
			m := G.NewTapeMachine(g)
			defer m.Close()
			require.NoError(t, m.RunAll())
			for name, n := range check {
				want := fix[string(arch)+"/"+name]
				require.Equal(t, want.Shape, []int(n.Shape()), name)
				got := (*values[name]).Data().([]float32)
				worst := 0.0
				for i, w := range want.Data {
					worst = math.Max(worst, math.Abs(float64(got[i])-w))
				}
				t.Logf("%s %s: max abs error %.3g", arch, name, worst)
				require.Less(t, worst, 1e-4, "%s: max abs error", name)
			}
		})
	}
}

func TestLoadNamesProblems(t *testing.T) {
	fix, err := readFixture("testdata/network.safetensors")
	require.NoError(t, err)
	good := withPrefix(fix, "barynet/weights/")
	cases := []struct {
		name, want string
		edit       func(sd StateDict)
	}{
		{"missing", "missing LN.body.weight", func(sd StateDict) { delete(sd, "LN.body.weight") }},
		{"unexpected", `unexpected "extra.weight"`, func(sd StateDict) { sd["extra.weight"] = sd["LN.body.weight"] }},
		{"misshaped", "output.weight has shape [3 8 1 1], want [3 8 3 3]", func(sd StateDict) {
			sd["output.weight"] = Tensor{Shape: []int{3, 8, 1, 1}, Data: make([]float64, 24)}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sd := StateDict{}
			for k, v := range good {
				sd[k] = v
			}
			c.edit(sd)
			net, err := buildNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 1), fixtureNet(familyBaryNet))
			require.NoError(t, err)
			err = Load(net, sd)
			require.ErrorContains(t, err, c.want)
		})
	}
	// The authors' unused tensors are accepted.
	net, err := buildNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 1), fixtureNet(familyBaryNet))
	require.NoError(t, err)
	require.Contains(t, good, "chnl_reduce1.weight")
	require.NoError(t, Load(net, good))
}

func TestForwardRejectsBadInput(t *testing.T) {
	for _, shape := range [][]int{{1, 1, 16, 16}, {1, 3, 12, 16}, {3, 16, 16}} {
		g := G.NewGraph()
		net, err := buildNetwork(layers.NewScope(g, tensor.Float32, 1), Tiny())
		require.NoError(t, err)
		x := G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...))
		_, err = net.Forward(x)
		require.Error(t, err, "shape %v", shape)
	}
}

// Gradients of every BaryNet parameter for a loss on the output and all three
// latents match PyTorch's: both decoder branches, the shared LayerNorm and
// the skips fan gradients in from several consumers.
func TestBaryNetGradientsMatchPyTorch(t *testing.T) {
	fix, err := readFixture("testdata/network.safetensors")
	require.NoError(t, err)
	g := G.NewGraph()
	net, err := buildNetwork(layers.NewScope(g, tensor.Float32, 1), fixtureNet(familyBaryNet))
	require.NoError(t, err)
	require.NoError(t, Load(net, withPrefix(fix, "barynet/weights/")))
	in := fix["input"]
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(in.Shape...), G.WithName("x"),
		G.WithValue(denseOf(in, tensor.Float32)))
	out, err := net.Forward(x)
	require.NoError(t, err)
	var terms G.Nodes
	for name, n := range map[string]*G.Node{"output": out.Restored, "source": out.Source, "bary": out.Bary, "residual": out.Residual} {
		p := fix["barynet/proj/"+name]
		pn := G.NewTensor(g, tensor.Float32, 4, G.WithShape(p.Shape...), G.WithName("proj_"+name), G.WithValue(denseOf(p, tensor.Float32)))
		terms = append(terms, G.Must(G.Sum(G.Must(G.HadamardProd(n, pn)))))
	}
	cost := G.Must(G.Add(G.Must(G.Add(terms[0], terms[1])), G.Must(G.Add(terms[2], terms[3]))))
	params := nodesOf(net.Scope.Params())
	_, err = G.Grad(cost, params...)
	require.NoError(t, err)
	m := G.NewTapeMachine(g, G.BindDualValues(params...))
	defer m.Close()
	require.NoError(t, m.RunAll())
	for _, p := range net.Scope.Params() {
		want, ok := fix["barynet/grad/"+p.Name]
		require.True(t, ok, "fixture lacks the gradient of %s", p.Name)
		gv, err := p.Node.Grad()
		require.NoError(t, err)
		requireNear(t, "grad "+p.Name, want.Data, gv.Data().([]float32))
	}
}

// The decoder switches give the decoder what Config.DropResidual's table
// says: each output equals the backbone's Decode on the latents the switch
// names, built on the same graph with a constant zero latent for "0", and
// the default is Decode(b, r) itself.
func TestDecoderSwitches(t *testing.T) {
	fix, err := readFixture("testdata/network.safetensors")
	require.NoError(t, err)
	in := fix["input"]
	cases := []struct {
		name        string
		edit        func(*Config)
		decB, decR  string // what the decoder must see: "s", "b", "r" or "0"
		sameAsPlain bool
	}{
		{"default", func(*Config) {}, "b", "r", true},
		{"DropResidual", func(c *Config) { c.DropResidual = true }, "b", "0", false},
		{"DropBary", func(c *Config) { c.DropBary = true }, "0", "r", false},
		{"DecodeSource", func(c *Config) { c.DecodeSource = true }, "s", "r", false},
		{"DecodeSource+DropResidual", func(c *Config) { c.DecodeSource, c.DropResidual = true, true }, "s", "0", false},
	}
	var plain []float32 // the default's output
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := fixtureNet(familyBaryNet)
			c.edit(&cfg)
			g := G.NewGraph()
			net, err := buildNetwork(layers.NewScope(g, tensor.Float32, 1), cfg)
			require.NoError(t, err)
			require.NoError(t, Load(net, withPrefix(fix, "barynet/weights/")))
			x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(in.Shape...),
				G.WithValue(tensor.New(tensor.WithShape(in.Shape...), tensor.WithBacking(in.f32()))))
			out, err := net.Forward(x)
			require.NoError(t, err)

			// The reference: the backbone's own steps, on the latents named.
			e, err := net.Backbone.Encode(x)
			require.NoError(t, err)
			bary, err := net.Map.Forward(e.Latent)
			require.NoError(t, err)
			bary, err = e.Norm(bary)
			require.NoError(t, err)
			res, err := G.Sub(e.Latent, bary)
			require.NoError(t, err)
			shape := e.Latent.Shape().Clone()
			zero := G.NewTensor(g, tensor.Float32, 4, G.WithShape(shape...), G.WithName("zero_latent"),
				G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.Of(tensor.Float32))))
			latent := map[string]*G.Node{"s": e.Latent, "b": bary, "r": res, "0": zero}
			want, err := net.Backbone.Decode(x, e, latent[c.decB], latent[c.decR])
			require.NoError(t, err)

			var got, ref G.Value
			G.Read(out.Restored, &got)
			G.Read(want, &ref)
			m := G.NewTapeMachine(g)
			defer m.Close()
			require.NoError(t, m.RunAll())
			gotPix := append([]float32(nil), got.Data().([]float32)...)
			require.Equal(t, ref.Data().([]float32), gotPix, "the decoder sees %s and %s", c.decB, c.decR)
			if c.sameAsPlain {
				plain = gotPix
			} else {
				require.NotNil(t, plain)
				require.NotEqual(t, plain, gotPix, "the switch changes the restoration")
			}
		})
	}

	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { *c = c.Restormer(); c.DropBary = true }, "DropBary and DecodeSource need BaryNet"},
		{func(c *Config) { *c = c.Restormer(); c.DecodeSource = true }, "DropBary and DecodeSource need BaryNet"},
		{func(c *Config) { c.DropBary, c.DecodeSource = true, true }, "neither b nor s"},
	} {
		cfg := Tiny()
		c.edit(&cfg)
		require.ErrorContains(t, cfg.validate(), c.want)
	}
}
