package layers

import (
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestPixelShuffleGradients(t *testing.T) {
	up := func(r int) func(in []*G.Node) (*G.Node, error) {
		return func(in []*G.Node) (*G.Node, error) { return PixelShuffle(in[0], r) }
	}
	down := func(r int) func(in []*G.Node) (*G.Node, error) {
		return func(in []*G.Node) (*G.Node, error) { return PixelUnshuffle(in[0], r) }
	}
	runGradCases(t, []gradCase{
		{"unshuffle r2 2x3x4x6", down(2), []*tensor.Dense{randDense(1, 2, 3, 4, 6)}},
		{"unshuffle r3 1x2x3x6", down(3), []*tensor.Dense{randDense(2, 1, 2, 3, 6)}},
		{"shuffle r2 2x8x3x1", up(2), []*tensor.Dense{randDense(3, 2, 8, 3, 1)}},
		{"shuffle r3 1x9x2x3", up(3), []*tensor.Dense{randDense(4, 1, 9, 2, 3)}},
	})
}

func TestPixelShuffleParity(t *testing.T) {
	checkOpsParity(t, "unshuffle", []string{"x"}, func(in []*G.Node) (*G.Node, error) { return PixelUnshuffle(in[0], 2) })
	checkOpsParity(t, "shuffle", []string{"x"}, func(in []*G.Node) (*G.Node, error) { return PixelShuffle(in[0], 2) })
	checkOpsParity(t, "shuffle3", []string{"x"}, func(in []*G.Node) (*G.Node, error) { return PixelShuffle(in[0], 3) })
}

// The spec's index formula, on a 1x1x4x4 ramp, and the round trip.
func TestPixelUnshuffleLayout(t *testing.T) {
	g := G.NewGraph()
	ramp := make([]float32, 2*16)
	for i := range ramp {
		ramp[i] = float32(i)
	}
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 2, 4, 4), G.WithValue(tensor.New(tensor.WithShape(1, 2, 4, 4), tensor.WithBacking(ramp))))
	y, err := PixelUnshuffle(x, 2)
	require.NoError(t, err)
	z, err := PixelShuffle(y, 2)
	require.NoError(t, err)
	m := G.NewTapeMachine(g)
	defer m.Close()
	require.NoError(t, m.RunAll())
	require.Equal(t, tensor.Shape{1, 8, 2, 2}, y.Shape())
	out := y.Value().Data().([]float32)
	for c := range 2 {
		for i := range 2 {
			for j := range 2 {
				for h := range 2 {
					for w := range 2 {
						require.Equal(t, ramp[c*16+(2*h+i)*4+2*w+j], out[((c*4+2*i+j)*2+h)*2+w])
					}
				}
			}
		}
	}
	require.Equal(t, ramp, z.Value().Data())
}

func TestPixelShuffleErrors(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 6, 4, 5))
	_, err := PixelUnshuffle(x, 2)
	require.Error(t, err, "odd width")
	_, err = PixelShuffle(x, 2)
	require.Error(t, err, "channels not divisible by 4")
	_, err = PixelShuffle(x, 0)
	require.Error(t, err, "zero factor")
	_, err = PixelUnshuffle(G.NewTensor(g, tensor.Float32, 3, G.WithShape(4, 4, 4)), 2)
	require.Error(t, err, "wrong rank")
}

func BenchmarkPixelUnshuffle(b *testing.B) {
	k := shuffle{big: tensor.Shape{4, 24, 64, 64}, r: 2, down: true}
	x := benchData(k.big.TotalSize())
	b.Run("unshuffle", func(b *testing.B) { benchKernel(b, k, x) })
	k.down = false
	b.Run("shuffle", func(b *testing.B) { benchKernel(b, k, x) })
}
