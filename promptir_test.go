package baryir

import (
	"math"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/data"
	"github.com/x/baryir/internal/safetensors"
	"github.com/x/baryir/layers"
)

// fixturePromptIR is the network of testdata/promptir.safetensors (see
// testdata/gen_promptir.py): PromptIR at dim 2 with small prompts, with
// BaryIR (one map block) unless plain.
func fixturePromptIR(plain bool) PromptIR {
	c := Tiny()
	c.Dim = 2
	if plain {
		c = c.Restormer()
	}
	return PromptIR{Net: c, PromptLen: 3, PromptDims: [3]int{4, 4, 8}, PromptSizes: [3]int{8, 6, 4}}
}

// PromptIR and BaryIR on PromptIR match the PyTorch reference on a 24x40
// image: the outputs (and s, b, r) and the gradients of every parameter
// for a loss on all of them.
func TestPromptIRMatchesPyTorch(t *testing.T) {
	fix, err := readFixture("testdata/promptir.safetensors")
	require.NoError(t, err)
	for _, c := range []struct {
		name  string
		arch  PromptIR
		plain bool
	}{{"promptir", fixturePromptIR(true), true}, {"baryir_promptir", fixturePromptIR(false), false}} {
		t.Run(c.name, func(t *testing.T) {
			g := G.NewGraph()
			net, err := buildNetwork(layers.NewScope(g, tensor.Float32, 1), c.arch)
			require.NoError(t, err)
			require.NoError(t, Load(net, withPrefix(fix, c.name+"/weights/")))
			in := fix["input"]
			x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(in.Shape...), G.WithName("x"),
				G.WithValue(denseOf(in, tensor.Float32)))
			out, err := net.Forward(x)
			require.NoError(t, err)
			check := map[string]*G.Node{"output": out.Restored}
			if !c.plain {
				check["source"], check["bary"], check["residual"] = out.Source, out.Bary, out.Residual
			}
			var cost *G.Node
			values := map[string]*G.Value{}
			for name, n := range check {
				p := fix[c.name+"/proj/"+name]
				pn := G.NewTensor(g, tensor.Float32, 4, G.WithShape(p.Shape...), G.WithName("proj_"+name),
					G.WithValue(denseOf(p, tensor.Float32)))
				term := G.Must(G.Sum(G.Must(G.HadamardProd(n, pn))))
				if cost == nil {
					cost = term
				} else {
					cost = G.Must(G.Add(cost, term))
				}
				values[name] = new(G.Value)
				G.Read(n, values[name])
			}
			params := nodesOf(net.Scope.Params())
			_, err = G.Grad(cost, params...)
			require.NoError(t, err)
			m := G.NewTapeMachine(g, G.BindDualValues(params...))
			defer m.Close()
			require.NoError(t, m.RunAll())
			for name := range check {
				want := fix[c.name+"/"+name]
				got := (*values[name]).Data().([]float32)
				t.Logf("%s: max abs error %.2g", name, maxAbsError(want.Data, got))
				requireNear(t, name, want.Data, got)
			}
			worst := 0.0
			for _, p := range net.Scope.Params() {
				want, ok := fix[c.name+"/grad/"+p.Name]
				require.True(t, ok, "fixture lacks the gradient of %s", p.Name)
				gv, err := p.Node.Grad()
				require.NoError(t, err)
				worst = math.Max(worst, maxAbsError(want.Data, gv.Data().([]float32)))
				requireNear(t, "grad "+p.Name, want.Data, gv.Data().([]float32))
			}
			t.Logf("%d parameter gradients: max abs error %.2g", len(net.Scope.Params()), worst)
		})
	}
}

func maxAbsError(want []float64, got []float32) float64 {
	worst := 0.0
	for i, w := range want {
		worst = math.Max(worst, math.Abs(float64(got[i])-w))
	}
	return worst
}

// The parameters counted without building equal those built, for both
// variants, and at dim 48 with the authors' prompts they equal the
// PyTorch reference's count (without the six tensors the authors' module
// holds but never uses), as the fixture's metadata records it.
func TestPromptIRParameters(t *testing.T) {
	built := func(arch PromptIR) float64 {
		net, err := buildNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 1), arch)
		require.NoError(t, err)
		n := 0
		for _, p := range net.Scope.Params() {
			n += p.Node.Shape().TotalSize()
		}
		return float64(n)
	}
	for _, plain := range []bool{true, false} {
		arch := fixturePromptIR(plain)
		require.Equal(t, built(arch), arch.parameters(), "%s", arch)
	}
	_, meta, err := safetensors.ReadMeta("testdata/promptir.safetensors")
	require.NoError(t, err)
	for _, c := range []struct {
		key  string
		arch PromptIR
	}{{"promptir_d48_params", PromptIR{Net: Paper().Restormer()}}, {"baryir_promptir_d48_params", PromptIR{Net: Paper()}}} {
		want, err := strconv.ParseFloat(meta[c.key], 64)
		require.NoError(t, err, c.key)
		require.Equal(t, want, c.arch.parameters(), "%s (%s)", c.key, c.arch)
		t.Logf("%s: %.2fM parameters", c.arch, c.arch.parameters()/1e6)
	}
}

// The zero prompts are the authors': PromptIR{Net: c} builds the network
// that the explicit sizes build.
func TestPromptIRDefaults(t *testing.T) {
	explicit := PromptIR{Net: Tiny(), PromptLen: 5, PromptDims: [3]int{64, 128, 320}, PromptSizes: [3]int{64, 32, 16}}
	shapes := func(p PromptIR) map[string][]int {
		n, err := p.Build(layers.NewScope(G.NewGraph(), tensor.Float32, 1))
		require.NoError(t, err)
		m := map[string][]int{}
		for _, q := range n.Scope.Params() {
			m[q.Name] = q.Node.Shape()
		}
		return m
	}
	require.Equal(t, shapes(explicit), shapes(PromptIR{Net: Tiny()}))
	require.Equal(t, explicit.parameters(), PromptIR{Net: Tiny()}.parameters())
}

func TestPromptIRValidate(t *testing.T) {
	good := fixturePromptIR(true)
	cases := []struct {
		name, want string
		edit       func(p *PromptIR)
	}{
		{"negative prompts", "at least one prompt", func(p *PromptIR) { p.PromptLen = -1 }},
		{"zero dim", "prompt2 has 0 channels", func(p *PromptIR) { p.PromptDims[1] = 0 }},
		{"zero size", "prompt3 has 8 channels of side 0", func(p *PromptIR) { p.PromptSizes[2] = 0 }},
		{"heads", "noise_level1 has 7 channels, not divisible by 4 heads", func(p *PromptIR) { p.PromptDims[0] = 3 }},
		{"net", "dim 0 must be positive", func(p *PromptIR) { p.Net.Dim = 0 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := good
			c.edit(&p)
			_, err := p.Build(layers.NewScope(G.NewGraph(), tensor.Float32, 1))
			require.ErrorContains(t, err, c.want)
		})
	}
}

// A PromptIR restores every image in one pass: its prompt blocks weigh
// the prompts by the whole image's mean. Options that tile a network
// without prompts (16-pixel tiles) give PromptIR the one-pass output, bit
// for bit; a memory budget the one pass does not fit is an error that says
// what the image needs.
func TestPromptIRRestoresInOnePass(t *testing.T) {
	fix, err := readFixture("testdata/promptir.safetensors")
	require.NoError(t, err)
	im, err := data.EmbeddedTest()[0].Crop(0, 0, 40, 56)
	require.NoError(t, err)
	tiling := RestorerOptions{Tile: 16, Overlap: 4}

	plain := restorerFor(t, Tiny(), randomWeights(t, Tiny()), tiling)
	tiles, _, err := plain.Tiles(im.H, im.W)
	require.NoError(t, err)
	require.Greater(t, tiles, 1, "the options tile a network without prompts")

	for _, arch := range []PromptIR{fixturePromptIR(true), fixturePromptIR(false)} {
		name := "promptir"
		if arch.Net.hasMap() {
			name = "baryir_promptir"
		}
		sd := withPrefix(fix, name+"/weights/")
		whole, err := restorerFor(t, arch, sd, RestorerOptions{}).Restore(im)
		require.NoError(t, err)
		r := restorerFor(t, arch, sd, tiling)
		tiles, passes, err := r.Tiles(im.H, im.W)
		require.NoError(t, err)
		require.Equal(t, [2]int{1, 1}, [2]int{tiles, passes}, "%s", arch)
		got, err := r.Restore(im)
		require.NoError(t, err)
		require.Equal(t, whole.Pix, got.Pix, "%s", arch)

		_, err = restorerFor(t, arch, sd, RestorerOptions{MemoryBudget: 1 << 10}).Restore(im)
		require.ErrorContains(t, err, "pools over the whole image, so it restores in one pass, and a 56x40 image needs")
	}
}

// OpenRestorer reads PromptIR's released checkpoint layout (a Lightning
// .ckpt) and infers PromptIR from its names and shapes; a state dict of
// BaryIR on PromptIR infers that. Checkpoints of another layout, or
// weights of other shapes, are refused with errors that name the problem.
func TestOpenRestorerPromptIR(t *testing.T) {
	fix, err := readFixture("testdata/promptir.safetensors")
	require.NoError(t, err)
	r, err := OpenRestorer("testdata/promptir_tiny.ckpt", RestorerOptions{})
	require.NoError(t, err)
	defer r.Close()
	require.Equal(t, Architecture(fixturePromptIR(true)), r.arch)
	im, err := data.EmbeddedTest()[1].Crop(0, 0, 24, 40)
	require.NoError(t, err)
	got, err := r.Restore(im)
	require.NoError(t, err)
	want, err := restorerFor(t, fixturePromptIR(true), withPrefix(fix, "promptir/weights/"), RestorerOptions{}).Restore(im)
	require.NoError(t, err)
	require.Equal(t, want.Pix, got.Pix)

	arch, err := inferArchitecture(withPrefix(fix, "baryir_promptir/weights/").shapes())
	require.NoError(t, err)
	require.Equal(t, Architecture(fixturePromptIR(false)), arch)

	for _, c := range []struct{ file, says string }{
		{"testdata/promptir_nostate.ckpt", `Lightning checkpoint without a "state_dict"`},
		{"testdata/promptir_noprefix.ckpt", `does not start with "net."`},
	} {
		_, err := OpenRestorer(c.file, RestorerOptions{})
		require.ErrorContains(t, err, c.says, c.file)
	}
	other := fixturePromptIR(true)
	other.PromptDims[2] = 12
	_, err = NewRestorer(other, withPrefix(fix, "promptir/weights/"), RestorerOptions{})
	require.ErrorContains(t, err, "prompt3.prompt_param has shape (1, 3, 8, 4, 4), want (1, 3, 12, 4, 4)")
}
