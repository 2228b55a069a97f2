package layers

import (
	"math"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func attnBuild(heads int) func(in []*G.Node) (*G.Node, error) {
	return func(in []*G.Node) (*G.Node, error) { return ChannelAttention(in[0], in[1], heads) }
}

func TestChannelAttentionGradients(t *testing.T) {
	temp := func(seed float64, heads int) *tensor.Dense {
		d := randDense(seed, heads, 1, 1)
		for i, v := range d.Data().([]float64) {
			d.Data().([]float64)[i] = 1 + v // varied, mostly positive, as trained temperatures
		}
		return d
	}
	runGradCases(t, []gradCase{
		{"B1 C2 heads1 3x3", attnBuild(1), []*tensor.Dense{randDense(1, 1, 6, 3, 3), temp(2, 1)}},
		{"B2 C4 heads2 2x3", attnBuild(2), []*tensor.Dense{randDense(3, 2, 12, 2, 3), temp(4, 2)}},
		{"B2 C6 heads3 1x5", attnBuild(3), []*tensor.Dense{randDense(5, 2, 18, 1, 5), temp(6, 3)}},
		{"B1 C3 heads1 3x1", attnBuild(1), []*tensor.Dense{randDense(7, 1, 9, 3, 1), temp(8, 1)}},
	})
}

func TestChannelAttentionParity(t *testing.T) {
	in := []string{"qkv", "temperature"}
	checkOpsParity(t, "attn_h2", in, attnBuild(2))
	checkOpsParity(t, "attn_h1", in, attnBuild(1))
}

// A zero q row normalises to zero (F.normalize divides by eps), so its
// attention is uniform and its output is the mean of the v rows; its gradient
// is finite.
func TestChannelAttentionZeroRow(t *testing.T) {
	g := G.NewGraph()
	data := randDense(1, 1, 6, 2, 2).Data().([]float64)
	clear(data[:4]) // q row 0
	qkv := G.NewTensor(g, tensor.Float64, 4, G.WithShape(1, 6, 2, 2), G.WithName("qkv"), G.WithValue(tensor.New(tensor.WithShape(1, 6, 2, 2), tensor.WithBacking(data))))
	temp := G.NewTensor(g, tensor.Float64, 3, G.WithShape(1, 1, 1), G.WithName("t"), G.WithValue(tensor.New(tensor.WithShape(1, 1, 1), tensor.WithBacking([]float64{2}))))
	y, err := ChannelAttention(qkv, temp, 1)
	require.NoError(t, err)
	cost, err := G.Sum(y)
	require.NoError(t, err)
	_, err = G.Grad(cost, qkv, temp)
	require.NoError(t, err)
	m := G.NewTapeMachine(g, G.BindDualValues(qkv, temp))
	defer m.Close()
	require.NoError(t, m.RunAll())
	out := y.Value().Data().([]float64)
	for p := range 4 {
		require.InDelta(t, (data[16+p]+data[20+p])/2, out[p], 1e-12)
	}
	dq, err := qkv.Grad()
	require.NoError(t, err)
	for _, v := range dq.Data().([]float64) {
		require.False(t, math.IsNaN(v) || math.IsInf(v, 0))
	}
}

func TestChannelAttentionErrors(t *testing.T) {
	g := G.NewGraph()
	t2 := G.NewTensor(g, tensor.Float32, 3, G.WithShape(2, 1, 1))
	cases := map[string]struct {
		qkv, temp *G.Node
		heads     int
	}{
		"channels not 3C":     {G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 8, 2, 2)), t2, 2},
		"C not divisible":     {G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 9, 2, 2)), t2, 2},
		"temperature (3,1,1)": {G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 12, 2, 2)), G.NewTensor(g, tensor.Float32, 3, G.WithShape(3, 1, 1)), 2},
		"temperature (2)":     {G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 12, 2, 2)), G.NewTensor(g, tensor.Float32, 1, G.WithShape(2)), 2},
		"zero heads":          {G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 12, 2, 2)), t2, 0},
		"wrong rank":          {G.NewTensor(g, tensor.Float32, 3, G.WithShape(12, 2, 2)), t2, 2},
		"mixed dtypes":        {G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 12, 2, 2)), G.NewTensor(g, tensor.Float64, 3, G.WithShape(2, 1, 1)), 2},
		"int temperature":     {G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 12, 2, 2)), G.NewTensor(g, tensor.Int, 3, G.WithShape(2, 1, 1)), 2},
	}
	for name, c := range cases {
		_, err := ChannelAttention(c.qkv, c.temp, c.heads)
		require.Error(t, err, name)
	}
}

func BenchmarkChannelAttention(b *testing.B) {
	d := attnDims{B: 4, C: 48, H: 64, W: 64, Heads: 1}
	qkv, temp := benchData(d.qkvShape().TotalSize()), []float32{1}
	dy := benchData(d.outShape().TotalSize())
	k := attnKernel{d}
	b.Run("fwd", func(b *testing.B) { benchKernel(b, k, qkv, temp) })
	b.Run("bwd", func(b *testing.B) { benchKernel(b, attnGrad(k), qkv, temp, dy) })
}

// Gradients asked for qkv alone (temperature held fixed) match those of the
// full request: the graph must not depend on every input being a wrt node.
func TestChannelAttentionGradQKVOnly(t *testing.T) {
	run := func(withTemp bool) []float64 {
		g := G.NewGraph()
		qkv := G.NewTensor(g, tensor.Float64, 4, G.WithShape(2, 12, 3, 2), G.WithName("qkv"), G.WithValue(randDense(1, 2, 12, 3, 2)))
		temp := G.NewTensor(g, tensor.Float64, 3, G.WithShape(2, 1, 1), G.WithName("t"), G.WithValue(randDense(2, 2, 1, 1)))
		y, err := ChannelAttention(qkv, temp, 2)
		require.NoError(t, err)
		sq, err := G.Square(y)
		require.NoError(t, err)
		cost, err := G.Sum(sq)
		require.NoError(t, err)
		wrt := G.Nodes{qkv}
		if withTemp {
			wrt = append(wrt, temp)
		}
		_, err = G.Grad(cost, wrt...)
		require.NoError(t, err)
		m := G.NewTapeMachine(g, G.BindDualValues(wrt...))
		defer m.Close()
		require.NoError(t, m.RunAll())
		gv, err := qkv.Grad()
		require.NoError(t, err)
		return append([]float64{}, gv.Data().([]float64)...)
	}
	require.InDeltaSlice(t, run(true), run(false), 1e-12)
}

// With fewer (image, head) pairs than cores the forward attention splits
// the pixels into runs and adds their partial sums; it must give what one
// pass per head gives (float64: to rounding), pixel counts that do and do
// not divide evenly into runs alike.
func TestChannelAttentionChunked(t *testing.T) {
	for _, c := range []struct{ b, ch, h, w, heads int }{{1, 8, 97, 100, 1}, {1, 12, 128, 96, 2}} {
		d := attnDims{B: c.b, C: c.ch, H: c.h, W: c.w, Heads: c.heads}
		qkv := randDense(3, c.b, 3*c.ch, c.h, c.w).Data().([]float64)
		temp := make([]float64, c.heads)
		for i := range temp {
			temp[i] = 0.5 + float64(i)
		}
		old := runtime.GOMAXPROCS(1)
		want := make([]float64, c.b*c.ch*c.h*c.w)
		attnForward(d, want, qkv, temp)
		runtime.GOMAXPROCS(8)
		require.Greater(t, attnChunks(c.b*c.heads, c.h*c.w), 1, "the case must split")
		got := make([]float64, len(want))
		attnForward(d, got, qkv, temp)
		runtime.GOMAXPROCS(old)
		require.InDeltaSlice(t, want, got, 1e-12, "%+v", c)
	}
}
