//go:build baryirgpu

package gpu_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir"
	"github.com/x/baryir/internal/gpu"
	"github.com/x/baryir/internal/op"
	"github.com/x/baryir/layers"
	"github.com/x/baryir/losses"
	"github.com/x/baryir/ot"
)

// The tests compare the GPU executor with Gorgonia's tape machine on the
// CPU, graph for graph: each case is built twice (same seeds), once run on
// the CPU and once compiled for the GPU. Errors are ||gpu - cpu|| / ||cpu||
// per tensor; every figure is also appended to the file named by
// BARYIR_GPU_REPORT, if set.

const tol = 1e-3

var (
	devOnce sync.Once
	dev     *gpu.Device
	devErr  error
)

func device(t testing.TB) *gpu.Device {
	devOnce.Do(func() { dev, devErr = gpu.Open(0) })
	if devErr != nil {
		t.Fatalf("opening GPU: %v", devErr)
	}
	return dev
}

func report(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	fmt.Println(line)
	if p := os.Getenv("BARYIR_GPU_REPORT"); p != "" {
		f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
	}
}

func relErr(got, want []float32) float64 {
	var num, den float64
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) || math.IsInf(g, 0) {
			return math.Inf(1)
		}
		num += (g - w) * (g - w)
		den += w * w
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

func randData(seed uint64, n int) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	d := make([]float32, n)
	for i := range d {
		d[i] = float32(r.NormFloat64())
	}
	return d
}

func valueNode(g *G.ExprGraph, name string, shape []int, data []float32) *G.Node {
	t := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float32(nil), data...)))
	return G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(t))
}

func f32(t testing.TB, v G.Value) []float32 {
	t.Helper()
	d, ok := v.Data().([]float32)
	if !ok {
		if s, ok := v.Data().(float32); ok {
			return []float32{s}
		}
		t.Fatalf("value %T is not float32", v.Data())
	}
	return append([]float32(nil), d...)
}

// opCase builds y from inputs (created with random values); the checked cost
// is sum(y * R) for a fixed random R, so gradients reach every input.
type opCase struct {
	name   string
	shapes [][]int
	build  func(in []*G.Node) (*G.Node, error)
	noGrad bool
}

type built struct {
	g     *G.ExprGraph
	in    []*G.Node
	y     *G.Node
	cost  *G.Node
	grads G.Nodes
}

func buildCase(t *testing.T, c opCase) built {
	g := G.NewGraph()
	var b built
	b.g = g
	for i, s := range c.shapes {
		n := 1
		for _, v := range s {
			n *= v
		}
		b.in = append(b.in, valueNode(g, fmt.Sprintf("in%d", i), s, randData(uint64(100+i), n)))
	}
	y, err := c.build(b.in)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	b.y = y
	ys := []int(y.Shape())
	if len(ys) == 0 {
		b.cost = y
	} else {
		r := valueNode(g, "proj", ys, randData(99, y.Shape().TotalSize()))
		b.cost = G.Must(G.Sum(G.Must(G.HadamardProd(y, r))))
	}
	if !c.noGrad {
		if b.grads, err = G.Grad(b.cost, b.in...); err != nil {
			t.Fatalf("grad: %v", err)
		}
	}
	return b
}

func checkCase(t *testing.T, d *gpu.Device, c opCase) {
	want := cpuCase(t, c)

	gb := buildCase(t, c)
	keep := append(G.Nodes{gb.y}, gb.grads...)
	e, err := gpu.Compile(d, gb.g, gpu.Options{}, keep...)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	defer e.Close()
	if len(e.HostOps) > 0 {
		t.Errorf("ops ran on the host: %v", e.HostOps)
	}
	if err := e.Run(); err != nil {
		t.Fatalf("gpu run: %v", err)
	}
	worst := 0.0
	for i, n := range keep {
		got, err := e.Read(n)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		what := "forward"
		if i > 0 {
			what = fmt.Sprintf("grad in%d", i-1)
		}
		r := relErr(got, want[i])
		worst = math.Max(worst, r)
		report("op %-28s %-10s rel.err %.2e", c.name, what, r)
		if !(r <= tol) {
			t.Errorf("%s %s: relative error %.3g > %g", c.name, what, r, tol)
		}
	}
}

func opCases() []opCase {
	conv := func(stride, pad, groups int) func(in []*G.Node) (*G.Node, error) {
		return func(in []*G.Node) (*G.Node, error) { return layers.Conv(in[0], in[1], stride, pad, groups) }
	}
	scope := func(in []*G.Node) *layers.Scope { return layers.NewScope(in[0].Graph(), tensor.Float32, 3) }
	return []opCase{
		{name: "conv3x3", shapes: [][]int{{2, 5, 9, 11}, {7, 5, 3, 3}}, build: conv(1, 1, 1)},
		{name: "conv1x1", shapes: [][]int{{2, 48, 16, 16}, {20, 48, 1, 1}}, build: conv(1, 0, 1)},
		{name: "conv1x1_longK", shapes: [][]int{{2, 16, 64, 64}, {8, 16, 1, 1}}, build: conv(1, 0, 1)},
		{name: "conv1x1_big", shapes: [][]int{{2, 96, 20, 30}, {200, 96, 1, 1}}, build: conv(1, 0, 1)},
		{name: "conv3x3_big", shapes: [][]int{{2, 40, 24, 24}, {136, 40, 3, 3}}, build: conv(1, 1, 1)},
		{name: "conv_k4s4g4", shapes: [][]int{{2, 8, 16, 16}, {8, 2, 4, 4}}, build: conv(4, 1, 4)},
		{name: "conv_depthwise3x3", shapes: [][]int{{2, 6, 10, 12}, {6, 1, 3, 3}}, build: conv(1, 1, 6)},
		{name: "conv_depthwise_s2", shapes: [][]int{{2, 4, 9, 9}, {4, 1, 3, 3}}, build: conv(2, 1, 4)},
		{name: "bias_add", shapes: [][]int{{2, 5, 4, 6}, {5}}, build: func(in []*G.Node) (*G.Node, error) {
			return layers.AddChannelBias(in[0], in[1])
		}},
		{name: "layernorm_withbias", shapes: [][]int{{2, 12, 7, 9}}, build: func(in []*G.Node) (*G.Node, error) {
			ln := layers.NewLayerNorm(scope(in), layers.LayerNormConfig{Dim: 12})
			return ln.Forward(in[0])
		}},
		{name: "layernorm_biasfree", shapes: [][]int{{2, 12, 7, 9}}, build: func(in []*G.Node) (*G.Node, error) {
			ln := layers.NewLayerNorm(scope(in), layers.LayerNormConfig{Dim: 12, BiasFree: true})
			return ln.Forward(in[0])
		}},
		{name: "gelu_gate", shapes: [][]int{{2, 10, 5, 7}}, build: func(in []*G.Node) (*G.Node, error) {
			return layers.GELUGate(in[0])
		}},
		{name: "gdfn", shapes: [][]int{{2, 8, 7, 9}}, build: func(in []*G.Node) (*G.Node, error) {
			return layers.NewGDFN(scope(in), 8, 10).Forward(in[0])
		}},
		{name: "pixel_unshuffle", shapes: [][]int{{2, 3, 8, 12}}, build: func(in []*G.Node) (*G.Node, error) {
			return layers.PixelUnshuffle(in[0], 2)
		}},
		{name: "pixel_shuffle", shapes: [][]int{{2, 12, 4, 6}}, build: func(in []*G.Node) (*G.Node, error) {
			return layers.PixelShuffle(in[0], 2)
		}},
		{name: "concat", shapes: [][]int{{2, 3, 4, 5}, {2, 5, 4, 5}}, build: func(in []*G.Node) (*G.Node, error) {
			return layers.Concat(in[0], in[1])
		}},
		{name: "gelu", shapes: [][]int{{2, 5, 4, 6}}, build: func(in []*G.Node) (*G.Node, error) {
			return layers.GELU(in[0])
		}},
		{name: "pixel_attention_h2", shapes: [][]int{{2, 24, 5, 6}}, build: func(in []*G.Node) (*G.Node, error) {
			return layers.PixelAttention(in[0], 2)
		}},
		{name: "vit_block", shapes: [][]int{{2, 12, 4, 5}}, build: func(in []*G.Node) (*G.Node, error) {
			return layers.NewViTBlock(scope(in), layers.ViTBlockConfig{Dim: 12, Heads: 2, Hidden: 20}).Forward(in[0])
		}},
		{name: "scale", shapes: [][]int{{2, 3, 4, 5}}, build: func(in []*G.Node) (*G.Node, error) {
			return layers.Scale(in[0], 0.8)
		}},
		{name: "leaky_relu", shapes: [][]int{{2, 3, 4, 5}}, build: func(in []*G.Node) (*G.Node, error) {
			return layers.LeakyReLU(in[0], 0.2)
		}},
		{name: "attention_h1", shapes: [][]int{{2, 24, 6, 8}, {1, 1, 1}}, build: func(in []*G.Node) (*G.Node, error) {
			return layers.ChannelAttention(in[0], in[1], 1)
		}},
		{name: "attention_h4_long", shapes: [][]int{{2, 48, 32, 32}, {4, 1, 1}}, build: func(in []*G.Node) (*G.Node, error) {
			return layers.ChannelAttention(in[0], in[1], 4)
		}},
		{name: "linear_bias", shapes: [][]int{{6, 20}}, build: func(in []*G.Node) (*G.Node, error) {
			l := layers.NewLinear(scope(in), layers.LinearConfig{In: 20, Out: 9, Bias: true})
			return l.Forward(in[0])
		}},
		{name: "transformer_block", shapes: [][]int{{2, 16, 8, 8}}, build: func(in []*G.Node) (*G.Node, error) {
			tb := layers.NewTransformerBlock(scope(in), layers.TransformerBlockConfig{Dim: 16, Heads: 2, Hidden: 42})
			return tb.Forward(in[0])
		}},
		{name: "l1", shapes: [][]int{{2, 3, 8, 8}, {2, 3, 8, 8}}, build: func(in []*G.Node) (*G.Node, error) {
			return losses.L1(in[0], in[1])
		}},
		{name: "bro", shapes: [][]int{{4, 3, 5, 6}, {4, 3, 5, 6}}, build: func(in []*G.Node) (*G.Node, error) {
			return losses.BRO(in[0], in[1])
		}},
		{name: "irc", shapes: [][]int{{5, 2, 4, 4}}, build: func(in []*G.Node) (*G.Node, error) {
			ids := valueNode(in[0].Graph(), "ids", []int{5}, []float32{0, 1, 0, 2, 1})
			return losses.IRC(in[0], ids, 0.07)
		}},
		{name: "slice_concat", shapes: [][]int{{3, 4}, {3, 2}}, build: func(in []*G.Node) (*G.Node, error) {
			a := G.Must(G.Slice(in[0], nil, G.S(1)))
			b := G.Must(G.Slice(in[0], nil, G.S(1, 3)))
			c := G.Must(G.Concat(1, b, in[1]))
			r := G.Must(G.Reshape(a, tensor.Shape{3, 1}))
			return G.Concat(1, c, r)
		}},
		{name: "axis_slice_concat", shapes: [][]int{{300, 3}, {20, 3}}, build: func(in []*G.Node) (*G.Node, error) {
			// Our own ops, at offsets Gorgonia's would alias (256 apart), and their gradients.
			c, err := layers.ConcatAxis(0, in[0], in[1])
			if err != nil {
				return nil, err
			}
			a, err := layers.Slice(c, 0, 256, 310)
			if err != nil {
				return nil, err
			}
			b, err := layers.Slice(c, 0, 0, 54)
			if err != nil {
				return nil, err
			}
			return layers.ConcatAxis(1, a, b)
		}},
		{name: "add_sub_mul", shapes: [][]int{{3, 4, 5}, {3, 4, 5}}, build: func(in []*G.Node) (*G.Node, error) {
			a := G.Must(G.Add(in[0], in[1]))
			s := G.Must(G.Sub(a, in[1]))
			return G.HadamardProd(s, in[0])
		}},
		{name: "mean_sum_axis", shapes: [][]int{{3, 4, 5}}, build: func(in []*G.Node) (*G.Node, error) {
			s := G.Must(G.Sum(in[0], 1))
			return G.Mean(s)
		}},
	}
}

func TestOps(t *testing.T) {
	d := device(t)
	report("device: %s", d.Name())
	for _, c := range opCases() {
		t.Run(c.name, func(t *testing.T) { checkCase(t, d, c) })
	}
}

// TestGemmVariants runs the matrix-product-heavy cases with each SGEMM
// variant forced (the automatic choice depends on the shapes).
func TestGemmVariants(t *testing.T) {
	d := device(t)
	defer d.ForceGemm("")
	want := map[string]bool{"conv3x3": true, "conv1x1_big": true, "conv3x3_big": true, "conv1x1_longK": true,
		"conv_k4s4g4": true, "attention_h4_long": true, "linear_bias": true, "transformer_block": true}
	for _, v := range gpu.GemmVariants() {
		if err := d.ForceGemm(v); err != nil {
			t.Fatal(err)
		}
		for _, c := range opCases() {
			if !want[c.name] {
				continue
			}
			c.name = v + "/" + c.name
			t.Run(c.name, func(t *testing.T) { checkCase(t, d, c) })
		}
	}
}

// stepGraph is a BaryIR training graph: the network on x, the L1
// restoration loss to y, and the gradients of all parameters.
type stepGraph struct {
	g      *G.ExprGraph
	x, y   *G.Node
	out    baryir.Output
	cost   *G.Node
	params G.Nodes
	grads  G.Nodes
}

func buildStep(t testing.TB, cfg baryir.Config, b, hw int, withGrad bool) stepGraph {
	g := G.NewGraph()
	net, err := cfg.Build(layers.NewScope(g, tensor.Float32, 42))
	if err != nil {
		t.Fatal(err)
	}
	s := stepGraph{g: g}
	s.x = G.NewTensor(g, tensor.Float32, 4, G.WithShape(b, 3, hw, hw), G.WithName("x"))
	s.y = G.NewTensor(g, tensor.Float32, 4, G.WithShape(b, 3, hw, hw), G.WithName("y"))
	if s.out, err = net.Forward(s.x); err != nil {
		t.Fatal(err)
	}
	if s.cost, err = losses.L1(s.out.Restored, s.y); err != nil {
		t.Fatal(err)
	}
	for _, p := range net.Scope.Params() {
		s.params = append(s.params, p.Node)
	}
	if withGrad {
		if s.grads, err = G.Grad(s.cost, s.params...); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func images(b, hw int) (x, y []float32) {
	n := b * 3 * hw * hw
	x, y = make([]float32, n), make([]float32, n)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range x {
		y[i] = r.Float32()
		x[i] = y[i] + 0.1*float32(r.NormFloat64())
	}
	return x, y
}

func TestTrainingStep(t *testing.T) {
	d := device(t)
	tiny := baryir.Tiny()
	dim16 := baryir.Tiny()
	dim16.Dim = 16
	cases := []struct {
		name string
		cfg  baryir.Config
		b    int
	}{{"tiny_32x32", tiny, 2}, {"dim16_32x32", dim16, 2}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkStep(t, d, c.name, c.cfg, c.b, 32) })
	}
}

func checkStep(t *testing.T, d *gpu.Device, name string, cfg baryir.Config, b, hw int) {
	xd, yd := images(b, hw)
	const lr, decay, eps = 1e-3, 0.9, 1e-8

	// CPU: forward, gradients, one Gorgonia RMSProp step. Intermediate
	// outputs are read after the run, so the kernels' buffer pool must not
	// recycle them.
	defer op.SetPooling(op.SetPooling(false))
	cpu := buildStep(t, cfg, b, hw, true)
	G.Let(cpu.x, tensor.New(tensor.WithShape(b, 3, hw, hw), tensor.WithBacking(append([]float32(nil), xd...))))
	G.Let(cpu.y, tensor.New(tensor.WithShape(b, 3, hw, hw), tensor.WithBacking(append([]float32(nil), yd...))))
	m := G.NewTapeMachine(cpu.g, G.BindDualValues(cpu.params...))
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	wantOut := map[string][]float32{
		"restored": f32(t, cpu.out.Restored.Value()), "source": f32(t, cpu.out.Source.Value()),
		"bary": f32(t, cpu.out.Bary.Value()), "residual": f32(t, cpu.out.Residual.Value()),
		"loss": f32(t, cpu.cost.Value()),
	}
	wantGrad := make([][]float32, len(cpu.params))
	before := make([][]float32, len(cpu.params))
	for i, p := range cpu.params {
		gv, err := p.Grad()
		if err != nil {
			t.Fatal(err)
		}
		wantGrad[i] = f32(t, gv)
		before[i] = f32(t, p.Value())
	}
	solver := G.NewRMSPropSolver(G.WithLearnRate(lr), G.WithRho(decay), G.WithEps(eps))
	if err := solver.Step(G.NodesToValueGrads(cpu.params)); err != nil {
		t.Fatal(err)
	}
	wantParam := make([][]float32, len(cpu.params))
	for i, p := range cpu.params {
		wantParam[i] = f32(t, p.Value())
	}

	// GPU: the same graph, compiled.
	gb := buildStep(t, cfg, b, hw, true)
	keep := append(G.Nodes{gb.cost, gb.out.Restored, gb.out.Source, gb.out.Bary, gb.out.Residual}, gb.grads...)
	e, err := gpu.Compile(d, gb.g, gpu.Options{}, keep...)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.LetData(gb.x, xd); err != nil {
		t.Fatal(err)
	}
	if err := e.LetData(gb.y, yd); err != nil {
		t.Fatal(err)
	}
	if err := e.Run(); err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want []float32) {
		r := relErr(got, want)
		report("step %-12s %-40s rel.err %.2e", name, what, r)
		if !(r <= tol) {
			t.Errorf("%s %s: relative error %.3g > %g", name, what, r, tol)
		}
	}
	gotOut := map[string]*G.Node{"restored": gb.out.Restored, "source": gb.out.Source, "bary": gb.out.Bary,
		"residual": gb.out.Residual, "loss": gb.cost}
	for _, k := range []string{"loss", "restored", "source", "bary", "residual"} {
		got, err := e.Read(gotOut[k])
		if err != nil {
			t.Fatal(err)
		}
		check("forward "+k, got, wantOut[k])
	}
	type pe struct {
		name string
		r    float64
	}
	var errs []pe
	worst := 0.0
	for i, g := range gb.grads {
		got, err := e.Read(g)
		if err != nil {
			t.Fatal(err)
		}
		r := relErr(got, wantGrad[i])
		errs = append(errs, pe{gb.params[i].Name(), r})
		worst = math.Max(worst, r)
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].r > errs[j].r })
	for _, x := range errs[:min(5, len(errs))] {
		report("step %-12s grad %-35s rel.err %.2e", name, x.name, x.r)
	}
	report("step %-12s gradients: %d params, worst rel.err %.2e", name, len(errs), worst)
	for _, x := range errs {
		if !(x.r <= tol) {
			t.Errorf("%s grad %s: relative error %.3g > %g", name, x.name, x.r, tol)
		}
	}

	opt := &gpu.RMSProp{LR: lr, Decay: decay, Eps: eps}
	if err := opt.Step(e, gb.params, gb.grads); err != nil {
		t.Fatal(err)
	}
	worstW, worstD := 0.0, 0.0
	for i, p := range gb.params {
		got, err := e.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		worstW = math.Max(worstW, relErr(got, wantParam[i]))
		dg, dw := make([]float32, len(got)), make([]float32, len(got))
		for j := range got {
			dg[j], dw[j] = got[j]-before[i][j], wantParam[i][j]-before[i][j]
		}
		worstD = math.Max(worstD, relErr(dg, dw))
	}
	report("step %-12s rmsprop: params rel.err %.2e, updates rel.err %.2e", name, worstW, worstD)
	if !(worstW <= tol) {
		t.Errorf("%s: parameters after RMSProp differ: %.3g", name, worstW)
	}
	if !(worstD <= 0.05) {
		t.Errorf("%s: RMSProp updates differ: %.3g", name, worstD)
	}
}

// baryGraph is the graph of baryir.Trainer for BaryNet (built with the
// exported pieces the trainer uses): the map's loss (OT objective + beta
// (IRC + BRO) + Sigma L1) with gradients for the network, and the
// potentials' loss with gradients for the potentials.
type baryGraph struct {
	g                  *G.ExprGraph
	x, y, sw, ids      *G.Node
	gen, potLoss       *G.Node
	netParams, potPars G.Nodes
	netGrads, potGrads G.Nodes
}

func buildBary(t testing.TB, cfg baryir.Config, b, hw int) baryGraph {
	tc := baryir.PaperTraining(cfg)
	g := G.NewGraph()
	net, err := cfg.Build(layers.NewScope(g, tensor.Float32, 42))
	if err != nil {
		t.Fatal(err)
	}
	s := baryGraph{g: g}
	s.x = G.NewTensor(g, tensor.Float32, 4, G.WithShape(b, 3, hw, hw), G.WithName("x"))
	s.y = G.NewTensor(g, tensor.Float32, 4, G.WithShape(b, 3, hw, hw), G.WithName("y"))
	out, err := net.Forward(s.x)
	if err != nil {
		t.Fatal(err)
	}
	w := []float64{0.25, 0.35, 0.4}
	s.sw = G.NewMatrix(g, tensor.Float32, G.WithShape(b, len(w)), G.WithName("sw"))
	s.ids = G.NewVector(g, tensor.Float32, G.WithShape(b), G.WithName("ids"))
	lat := out.Source.Shape()
	pots, err := baryir.NewLatentPotentials(layers.NewScope(g, tensor.Float32, 43), ot.PotentialsConfig{Weights: w, Mode: tc.Congruence}, lat[1], lat[2], lat[3])
	if err != nil {
		t.Fatal(err)
	}
	terms, err := ot.Objective(pots, out.Source, out.Bary, s.sw, tc.Cost)
	if err != nil {
		t.Fatal(err)
	}
	l1 := G.Must(losses.L1(out.Restored, s.y))
	irc := G.Must(losses.IRC(out.Residual, s.ids, tc.Tau))
	bro := G.Must(losses.BRO(out.Bary, out.Residual))
	per := G.Must(G.Sum(s.sw, 1))
	resid := G.Must(G.Sum(G.Must(G.HadamardProd(per, G.Must(G.Add(irc, bro))))))
	s.gen = G.Must(G.Add(G.Must(G.Add(terms.Loss, G.Must(layers.Scale(resid, tc.Beta)))), G.Must(layers.Scale(l1, tc.Sigma))))
	s.potLoss = terms.PotentialLoss
	for _, p := range net.Scope.Params() {
		s.netParams = append(s.netParams, p.Node)
	}
	s.potPars = pots.Learnables()
	if s.netGrads, err = G.Grad(s.gen, s.netParams...); err != nil {
		t.Fatal(err)
	}
	if noPotGrad {
		return s
	}
	if s.potGrads, err = G.Grad(s.potLoss, s.potPars...); err != nil {
		t.Fatal(err)
	}
	return s
}

var noPotGrad bool

func baryInputs(b, k int) (sw, ids []float32) {
	sw, ids = make([]float32, b*k), make([]float32, b)
	for i := range ids {
		ids[i] = float32(i % k)
		sw[i*k+i%k] = 1 / float32(b)
	}
	return sw, ids
}

// TestBaryIRStep checks the whole BaryIR training graph (both phases'
// gradients) and one RMSProp step of the map phase.
func TestBaryIRStep(t *testing.T) {
	d := device(t)
	cfg := baryir.Tiny()
	const b, hw, lr, decay, eps = 3, 32, 1e-3, 0.9, 1e-8
	xd, yd := images(b, hw)
	swd, idd := baryInputs(b, 3)
	let := func(s baryGraph, set func(n *G.Node, v []float32)) {
		set(s.x, xd)
		set(s.y, yd)
		set(s.sw, swd)
		set(s.ids, idd)
	}
	cpu := buildBary(t, cfg, b, hw)
	let(cpu, func(n *G.Node, v []float32) {
		G.Let(n, tensor.New(tensor.WithShape(n.Shape().Clone()...), tensor.WithBacking(append([]float32(nil), v...))))
	})
	all := append(append(G.Nodes{}, cpu.netParams...), cpu.potPars...)
	m := G.NewTapeMachine(cpu.g, G.BindDualValues(all...))
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	wantGen, wantPot := f32(t, cpu.gen.Value()), f32(t, cpu.potLoss.Value())
	wantGrads := map[string][]float32{}
	for _, p := range all {
		gv, err := p.Grad()
		if err != nil {
			t.Fatal(err)
		}
		wantGrads[p.Name()] = f32(t, gv)
	}
	solver := G.NewRMSPropSolver(G.WithLearnRate(lr), G.WithRho(decay), G.WithEps(eps))
	if err := solver.Step(G.NodesToValueGrads(cpu.netParams)); err != nil {
		t.Fatal(err)
	}

	gb := buildBary(t, cfg, b, hw)
	keep := append(append(G.Nodes{gb.gen, gb.potLoss}, gb.netGrads...), gb.potGrads...)
	e, err := gpu.Compile(d, gb.g, gpu.Options{}, keep...)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	report("bary step: %d GPU nodes, host-fallback ops: %v", e.Steps(), e.HostOps)
	if len(e.HostOps) > 0 {
		t.Errorf("ops ran on the host: %v", e.HostOps)
	}
	let(gb, func(n *G.Node, v []float32) {
		if err := e.LetData(n, v); err != nil {
			t.Fatal(err)
		}
	})
	if err := e.Run(); err != nil {
		t.Fatal(err)
	}
	check := func(what string, r float64) {
		if !(r <= tol) {
			t.Errorf("%s: relative error %.3g > %g", what, r, tol)
		}
	}
	got, _ := e.Read(gb.gen)
	r := relErr(got, wantGen)
	report("bary step  map loss        %.6g vs cpu %.6g rel.err %.2e", got[0], wantGen[0], r)
	check("map loss", r)
	got, _ = e.Read(gb.potLoss)
	r = relErr(got, wantPot)
	report("bary step  potential loss  %.6g vs cpu %.6g rel.err %.2e", got[0], wantPot[0], r)
	check("potential loss", r)
	// resreduce_noise_level3.weight only reaches the loss through Sigma*L1,
	// so its gradient is Sigma times the one of the L1-only graph. The CPU
	// tape machine once got it wrong in this graph (ot's per-sample cost
	// squared s - b in place through Reshape's view, corrupting the shared
	// residual; fixed in "Fix corrupted BaryNet residual gradients on the
	// CPU"): check that the CPU reference is right, then compare as usual.
	l1 := buildStep(t, cfg, b, hw, true)
	G.Let(l1.x, tensor.New(tensor.WithShape(b, 3, hw, hw), tensor.WithBacking(append([]float32(nil), xd...))))
	G.Let(l1.y, tensor.New(tensor.WithShape(b, 3, hw, hw), tensor.WithBacking(append([]float32(nil), yd...))))
	m2 := G.NewTapeMachine(l1.g, G.BindDualValues(l1.params...))
	defer m2.Close()
	if err := m2.RunAll(); err != nil {
		t.Fatal(err)
	}
	sigma := float32(baryir.PaperTraining(cfg).Sigma)
	for _, p := range l1.params {
		if p.Name() != "resreduce_noise_level3.weight" {
			continue
		}
		gv, err := p.Grad()
		if err != nil {
			t.Fatal(err)
		}
		ref := f32(t, gv)
		for i := range ref {
			ref[i] *= sigma
		}
		r := relErr(wantGrads[p.Name()], ref)
		report("bary step  cpu tape machine vs Sigma*dL1/dW for %s: rel.err %.2e", p.Name(), r)
		check("cpu reference "+p.Name(), r)
	}
	for _, set := range []struct {
		name          string
		params, grads G.Nodes
	}{{"network", gb.netParams, gb.netGrads}, {"potentials", gb.potPars, gb.potGrads}} {
		worst, wname := 0.0, ""
		for i, p := range set.params {
			got, err := e.Read(set.grads[i])
			if err != nil {
				t.Fatal(err)
			}
			r := relErr(got, wantGrads[p.Name()])
			check("grad "+p.Name(), r)
			if r > worst || wname == "" {
				worst, wname = r, p.Name()
			}
		}
		report("bary step  %s gradients: %d params, worst rel.err %.2e (%s)", set.name, len(set.params), worst, wname)
	}
	opt := &gpu.RMSProp{LR: lr, Decay: decay, Eps: eps}
	if err := opt.Step(e, gb.netParams, gb.netGrads); err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i, p := range gb.netParams {
		got, err := e.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		worst = math.Max(worst, relErr(got, f32(t, cpu.netParams[i].Value())))
	}
	report("bary step  rmsprop (map phase): params rel.err %.2e", worst)
	check("rmsprop params", worst)
}

// TestPhases runs BaryIR's alternation on one executor: the map phase, an
// RMSProp step of the network, then the potentials' phase, which must see
// the updated network exactly as a full run does.
func TestPhases(t *testing.T) {
	d := device(t)
	const b, hw = 3, 32
	xd, yd := images(b, hw)
	swd, idd := baryInputs(b, 3)
	gb := buildBary(t, baryir.Tiny(), b, hw)
	keep := append(append(G.Nodes{gb.gen, gb.potLoss}, gb.netGrads...), gb.potGrads...)
	e, err := gpu.Compile(d, gb.g, gpu.Options{}, keep...)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for n, v := range map[*G.Node][]float32{gb.x: xd, gb.y: yd, gb.sw: swd, gb.ids: idd} {
		if err := e.LetData(n, v); err != nil {
			t.Fatal(err)
		}
	}
	mapPhase, err := e.Phase(append(G.Nodes{gb.gen}, gb.netGrads...)...)
	if err != nil {
		t.Fatal(err)
	}
	potPhase, err := e.Phase(append(G.Nodes{gb.potLoss}, gb.potGrads...)...)
	if err != nil {
		t.Fatal(err)
	}
	report("phases: %d steps in all, map phase %d, potential phase %d", e.Steps(), mapPhase.Steps(), potPhase.Steps())
	if mapPhase.Steps() >= e.Steps() || potPhase.Steps() >= e.Steps() {
		t.Errorf("phases do not select fewer steps than the whole graph")
	}
	if err := mapPhase.Run(); err != nil {
		t.Fatal(err)
	}
	opt := &gpu.RMSProp{LR: 1e-3, Decay: 0.9, Eps: 1e-8}
	if err := opt.Step(e, gb.netParams, gb.netGrads); err != nil {
		t.Fatal(err)
	}
	if err := potPhase.Run(); err != nil {
		t.Fatal(err)
	}
	gotPot, _ := e.Read(gb.potLoss)
	gotGrad, _ := e.Read(gb.potGrads[0])
	if err := e.Run(); err != nil {
		t.Fatal(err)
	}
	wantPot, _ := e.Read(gb.potLoss)
	wantGrad, _ := e.Read(gb.potGrads[0])
	r1, r2 := relErr(gotPot, wantPot), relErr(gotGrad, wantGrad)
	report("phases: potential loss after the map update, phase vs full run: rel.err %.2e, gradient %.2e", r1, r2)
	if r1 != 0 || r2 != 0 {
		t.Errorf("potential phase differs from a full run: %g, %g", r1, r2)
	}
}

type valueGrad struct{ v, g *tensor.Dense }

func (p valueGrad) Value() G.Value         { return p.v }
func (p valueGrad) Grad() (G.Value, error) { return p.g, nil }

// TestOptimisers checks three steps of the device RMSProp (PyTorch's form)
// and Adam against baryir's RMSProp and Adam, the PyTorch-exact host optimisers.
func TestOptimisers(t *testing.T) {
	d := device(t)
	shapes := [][]int{{7, 5}, {300}, {4, 3, 3, 3}}
	for _, name := range []string{"rmsprop", "adam"} {
		g := G.NewGraph()
		var params, grads G.Nodes
		var vgs []valueGrad
		var keep G.Nodes
		for i, s := range shapes {
			n := tensor.Shape(s).TotalSize()
			pv := randData(uint64(10+i), n)
			p := valueNode(g, fmt.Sprintf("p%d", i), s, pv)
			gr := G.NewTensor(g, tensor.Float32, len(s), G.WithShape(s...), G.WithName(fmt.Sprintf("g%d", i)))
			params, grads = append(params, p), append(grads, gr)
			keep = append(keep, G.Must(G.Add(p, gr)))
			vgs = append(vgs, valueGrad{
				v: tensor.New(tensor.WithShape(s...), tensor.WithBacking(append([]float32(nil), pv...))),
				g: tensor.New(tensor.WithShape(s...), tensor.Of(tensor.Float32)),
			})
		}
		e, err := gpu.Compile(d, g, gpu.Options{}, keep...)
		if err != nil {
			t.Fatal(err)
		}
		var dev gpu.Optimiser = &gpu.RMSProp{LR: 1e-2, Decay: 0.99, Eps: 1e-8, TorchEps: true}
		kind := baryir.OptimizerRMSProp
		if name != "rmsprop" {
			dev, kind = &gpu.Adam{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, baryir.OptimizerAdam
		}
		cpu, err := baryir.NewOptimizer(kind, 1e-2)
		if err != nil {
			t.Fatal(err)
		}
		for step := 0; step < 3; step++ {
			for i, gr := range grads {
				gd := randData(uint64(50+10*step+i), tensor.Shape(shapes[i]).TotalSize())
				if err := e.LetData(gr, gd); err != nil {
					t.Fatal(err)
				}
				copy(vgs[i].g.Data().([]float32), gd)
			}
			if err := dev.Step(e, params, grads); err != nil {
				t.Fatal(err)
			}
			model := make([]G.ValueGrad, len(vgs))
			for i := range vgs {
				model[i] = vgs[i]
			}
			if err := cpu.Step(model); err != nil {
				t.Fatal(err)
			}
		}
		worst := 0.0
		for i, p := range params {
			got, err := e.Read(p)
			if err != nil {
				t.Fatal(err)
			}
			want := vgs[i].v.Data().([]float32)
			init := randData(uint64(10+i), len(want))
			dg, dw := make([]float32, len(got)), make([]float32, len(got))
			for j := range got {
				dg[j], dw[j] = got[j]-init[j], want[j]-init[j]
			}
			worst = math.Max(worst, relErr(dg, dw))
		}
		e.Close()
		report("optimiser %-8s 3 steps vs baryir host: updates rel.err %.2e", name, worst)
		if !(worst <= tol) {
			t.Errorf("%s: updates differ from the host optimiser: %.3g", name, worst)
		}
	}
}
