package optim

import (
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/safetensors"
)

// param is a parameter value with a settable gradient.
type param struct{ v, g *tensor.Dense }

func (p param) Value() G.Value         { return p.v }
func (p param) Grad() (G.Value, error) { return p.g, nil }

func TestMatchesPyTorch(t *testing.T) {
	fix, err := safetensors.Read("testdata/optim.safetensors")
	require.NoError(t, err)
	p0, grads := fix["p0"], fix["grads"]
	n := len(p0.Data)
	for name, make := range map[string]func() Optimizer{
		"rmsprop": func() Optimizer { return NewRMSProp(0.01) },
		"adam":    func() Optimizer { return NewAdam(0.01) },
	} {
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			t.Run(name+"/"+dt.String(), func(t *testing.T) {
				o := make()
				p := param{v: dense(dt, p0.Data), g: dense(dt, make64(n))}
				want := fix[name].Data
				for step := range grads.Shape[0] {
					p.g = dense(dt, grads.Data[step*n:(step+1)*n])
					require.NoError(t, o.Step([]G.ValueGrad{p}))
					for j := range n {
						got := toF64(p.v)[j]
						require.InDelta(t, want[step*n+j], got, 1e-6, "step %d value %d", step, j)
					}
				}
			})
		}
	}
}

func TestStateRoundTrip(t *testing.T) {
	grad := func() *tensor.Dense { return dense(tensor.Float64, []float64{0.5, 0.1, -1}) }
	for name, make := range map[string]func() Optimizer{
		"rmsprop": func() Optimizer { return NewRMSProp(0.1) },
		"adam":    func() Optimizer { return NewAdam(0.1) },
	} {
		t.Run(name, func(t *testing.T) {
			a := make()
			p := param{v: dense(tensor.Float64, []float64{1, -2, 3}), g: grad()}
			require.NoError(t, a.Step([]G.ValueGrad{p}))
			require.Equal(t, []float64{0, 0, 0}, p.g.Data(), "the gradient is zeroed for the next accumulation")
			bufs, steps := a.State()
			b := make()
			require.NoError(t, b.SetState(copyBufs(bufs), steps))
			q := param{v: p.v.Clone().(*tensor.Dense), g: grad()}
			r := param{v: p.v.Clone().(*tensor.Dense), g: grad()}
			p.g = grad()
			require.NoError(t, a.Step([]G.ValueGrad{p}))
			require.NoError(t, b.Step([]G.ValueGrad{q}))
			require.Equal(t, p.v.Data(), q.v.Data(), "a restored optimiser continues exactly")
			require.NoError(t, make().Step([]G.ValueGrad{r}))
			require.NotEqual(t, p.v.Data(), r.v.Data(), "a fresh optimiser would not: the state matters")
		})
	}
}

func TestStateMismatch(t *testing.T) {
	o := NewRMSProp(0.1)
	require.NoError(t, o.SetState([][]float64{{0, 0}}, 1))
	p := param{v: dense(tensor.Float64, []float64{1, 2, 3}), g: dense(tensor.Float64, []float64{1, 1, 1})}
	require.ErrorContains(t, o.Step([]G.ValueGrad{p}), "want 3")
}

func dense(dt tensor.Dtype, v []float64) *tensor.Dense {
	if dt == tensor.Float32 {
		f := make([]float32, len(v))
		for i := range v {
			f[i] = float32(v[i])
		}
		return tensor.New(tensor.WithShape(len(v)), tensor.WithBacking(f))
	}
	return tensor.New(tensor.WithShape(len(v)), tensor.WithBacking(append([]float64{}, v...)))
}

func make64(n int) []float64 { return make([]float64, n) }

func toF64(v *tensor.Dense) []float64 {
	if d, ok := v.Data().([]float64); ok {
		return d
	}
	f := v.Data().([]float32)
	o := make([]float64, len(f))
	for i := range f {
		o[i] = float64(f[i])
	}
	return o
}

func copyBufs(b [][]float64) [][]float64 {
	o := make([][]float64, len(b))
	for i := range b {
		o[i] = append([]float64{}, b[i]...)
	}
	return o
}
