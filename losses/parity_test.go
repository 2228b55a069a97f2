package losses

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/safetensors"
	"github.com/x/baryir/layers"
)

// Fixtures come from testdata/gen_losses.py (PyTorch autograd of the
// authors' loop formulation, float64).
func loadFixture(t *testing.T) map[string]safetensors.Tensor {
	t.Helper()
	ts, err := safetensors.Read("testdata/losses.safetensors")
	require.NoError(t, err)
	return ts
}

var dtypes = []struct {
	dt  tensor.Dtype
	tol float64
}{{tensor.Float64, 1e-6}, {tensor.Float32, 1e-4}}

// input adds a node holding the fixture tensor in dtype dt.
func input(g *G.ExprGraph, dt tensor.Dtype, name string, ts safetensors.Tensor) *G.Node {
	var back any = append([]float64(nil), ts.Data...)
	if dt == tensor.Float32 {
		back = ts.F32()
	}
	v := tensor.New(tensor.WithShape(ts.Shape...), tensor.WithBacking(back))
	return G.NewTensor(g, dt, len(ts.Shape), G.WithShape(ts.Shape...), G.WithValue(v), G.WithName(name))
}

// weighted returns sum(x * proj), so every output element reaches the gradient.
func weighted(b *layers.Builder, g *G.ExprGraph, dt tensor.Dtype, x *G.Node, proj safetensors.Tensor) *G.Node {
	return b.N(G.Sum(b.N(G.HadamardProd(x, input(g, dt, "proj", proj)))))
}

// run differentiates cost wrt the nodes, runs the graph and returns the
// gradients as float64.
func run(t *testing.T, g *G.ExprGraph, cost *G.Node, wrt ...*G.Node) [][]float64 {
	t.Helper()
	_, err := G.Grad(cost, wrt...)
	require.NoError(t, err)
	m := G.NewTapeMachine(g, G.BindDualValues(wrt...))
	defer m.Close()
	require.NoError(t, m.RunAll())
	out := make([][]float64, len(wrt))
	for i, n := range wrt {
		gv, err := n.Grad()
		require.NoError(t, err)
		out[i] = f64(t, gv)
	}
	return out
}

func f64(t *testing.T, v G.Value) []float64 {
	t.Helper()
	switch d := v.Data().(type) {
	case []float64:
		return append([]float64(nil), d...)
	case []float32:
		o := make([]float64, len(d))
		for i, x := range d {
			o[i] = float64(x)
		}
		return o
	case float64:
		return []float64{d}
	case float32:
		return []float64{float64(d)}
	}
	t.Fatalf("unexpected value %T", v.Data())
	return nil
}

// maxErr is the largest absolute difference; it fails on length mismatch.
func maxErr(t *testing.T, got []float64, want safetensors.Tensor) float64 {
	t.Helper()
	require.Len(t, got, len(want.Data))
	e := 0.0
	for i, w := range want.Data {
		if d := math.Abs(got[i] - w); d > e || math.IsNaN(d) {
			e = math.Max(d, e)
			if math.IsNaN(d) {
				return math.Inf(1)
			}
		}
	}
	return e
}

func ids(ts safetensors.Tensor) []int {
	o := make([]int, len(ts.Data))
	for i, v := range ts.Data {
		o[i] = int(v)
	}
	return o
}

var cases = []string{"mixed", "same", "flat", "distinct"}

func TestParityIRCAndBRO(t *testing.T) {
	fx := loadFixture(t)
	for _, c := range cases {
		for _, d := range dtypes {
			t.Run(fmt.Sprintf("%s/%v", c, d.dt), func(t *testing.T) {
				at := func(k string) safetensors.Tensor { return fx[c+"/"+k] }
				g := G.NewGraph()
				r := input(g, d.dt, "r", at("r"))
				bl := input(g, d.dt, "b", at("b"))
				b := &layers.Builder{}
				irc := b.N(ircOf(r, ids(at("ids")), at("tau").Data[0]))
				bro := b.N(BRO(bl, r))
				cost := b.Add(weighted(b, g, d.dt, irc, at("proj")), weighted(b, g, d.dt, bro, at("proj")))
				require.NoError(t, b.Err())
				// in-place ops may reuse the buffers of irc and bro later on
				var ircV, broV G.Value
				G.Read(irc, &ircV)
				G.Read(bro, &broV)
				grads := run(t, g, cost, r, bl)

				errs := map[string]float64{
					"irc": maxErr(t, f64(t, ircV), at("irc")),
					"bro": maxErr(t, f64(t, broV), at("bro")),
					// the cost sums both losses; BRO alone reaches b
					"db": maxErr(t, grads[1], at("bro_db")),
					"dr": maxErr(t, grads[0], sum(at("irc_dr"), at("bro_dr"))),
				}
				for k, e := range errs {
					t.Logf("%s max abs err %.3g", k, e)
					require.LessOrEqual(t, e, d.tol, k)
				}
			})
		}
	}
}

func sum(a, b safetensors.Tensor) safetensors.Tensor {
	o := safetensors.Tensor{Shape: a.Shape, Data: make([]float64, len(a.Data))}
	for i := range a.Data {
		o.Data[i] = a.Data[i] + b.Data[i]
	}
	return o
}

func TestParityIRCGradientAlone(t *testing.T) {
	fx := loadFixture(t)
	for _, c := range cases {
		for _, d := range dtypes {
			t.Run(fmt.Sprintf("%s/%v", c, d.dt), func(t *testing.T) {
				at := func(k string) safetensors.Tensor { return fx[c+"/"+k] }
				g := G.NewGraph()
				r := input(g, d.dt, "r", at("r"))
				b := &layers.Builder{}
				cost := weighted(b, g, d.dt, b.N(ircOf(r, ids(at("ids")), at("tau").Data[0])), at("proj"))
				require.NoError(t, b.Err())
				e := maxErr(t, run(t, g, cost, r)[0], at("irc_dr"))
				t.Logf("irc dr max abs err %.3g", e)
				require.LessOrEqual(t, e, d.tol)
			})
		}
	}
}

func TestParityL1(t *testing.T) {
	fx := loadFixture(t)
	for _, d := range dtypes {
		t.Run(d.dt.String(), func(t *testing.T) {
			g := G.NewGraph()
			out := input(g, d.dt, "out", fx["l1/out"])
			y := input(g, d.dt, "y", fx["l1/y"])
			l1, err := L1(out, y)
			require.NoError(t, err)
			grads := run(t, g, l1, out, y)
			neg := safetensors.Tensor{Shape: fx["l1/dout"].Shape}
			for _, v := range fx["l1/dout"].Data {
				neg.Data = append(neg.Data, -v)
			}
			errs := map[string]float64{
				"value": maxErr(t, f64(t, l1.Value()), fx["l1/value"]),
				"dout":  maxErr(t, grads[0], fx["l1/dout"]),
				"dy":    maxErr(t, grads[1], neg),
			}
			for k, e := range errs {
				t.Logf("%s max abs err %.3g", k, e)
				require.LessOrEqual(t, e, d.tol, k)
			}
		})
	}
}
