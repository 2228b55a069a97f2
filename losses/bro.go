package losses

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
	"github.com/x/baryir/layers"
)

// BRO builds the barycenter-residual orthogonal loss of each sample: with
// barycenter latents b and residuals r (same batch size B and the same number
// of elements per sample, any shape (B,F), (B,N,F) or (B,C,H,W)),
//
//	BRO_i = sum_j <b_i/max(|b_i|,1e-12), r_j/max(|r_j|,1e-12)>^2
//
// over all j of the batch, j = i included, as in the authors' trainer. It
// returns a vector of B losses so the trainer can weight each sample.
func BRO(b, r *G.Node) (*G.Node, error) {
	nb, fb, err := batchShape("BRO", "b", b)
	if err != nil {
		return nil, err
	}
	nr, fr, err := batchShape("BRO", "r", r)
	if err != nil {
		return nil, err
	}
	if nb != nr || fb != fr {
		return nil, fmt.Errorf("losses.BRO: b %v and r %v differ in batch size or sample size", b.Shape(), r.Shape())
	}
	if b.Dtype() != r.Dtype() {
		return nil, fmt.Errorf("losses.BRO: b is %v but r is %v", b.Dtype(), r.Dtype())
	}
	k := broKernel{bShape: b.Shape().Clone(), rShape: r.Shape().Clone(), b: nb, f: fb}
	return op.Apply(k, b, r)
}

type broKernel struct {
	bShape, rShape tensor.Shape
	b, f           int
}

func (k broKernel) Name() string                          { return fmt.Sprintf("BRO%v%v", k.bShape, k.rShape) }
func (k broKernel) OutShape() tensor.Shape                { return tensor.Shape{k.b} }
func (k broKernel) Forward32(o []float32, in [][]float32) { broForward(k, o, in[0], in[1]) }
func (k broKernel) Forward64(o []float64, in [][]float64) { broForward(k, o, in[0], in[1]) }
func (k broKernel) DiffWRT() []bool                       { return []bool{true, true} }

func (k broKernel) Grad(in G.Nodes, _, dOut *G.Node) (G.Nodes, error) {
	bld := &layers.Builder{}
	db := bld.N(op.Apply(broGrad{k, 0}, in[0], in[1], dOut))
	dr := bld.N(op.Apply(broGrad{k, 1}, in[0], in[1], dOut))
	return G.Nodes{db, dr}, bld.Err()
}

func broForward[T float](k broKernel, out, b, r []T) {
	m := cosines(b, r, rowNorms(b, k.b, k.f), rowNorms(r, k.b, k.f), k.b, k.f)
	for i := range out {
		s := 0.0
		for _, v := range m[i*k.b : (i+1)*k.b] {
			s += v * v
		}
		out[i] = T(s)
	}
}

// broGrad maps (b, r, dBRO) to db (wrt 0) or dr (wrt 1): with M the cosine
// matrix, dBRO_i/dM_ij = 2 M_ij.
type broGrad struct {
	bro broKernel
	wrt int
}

func (k broGrad) Name() string { return fmt.Sprintf("grad%d%s", k.wrt, k.bro.Name()) }
func (k broGrad) OutShape() tensor.Shape {
	if k.wrt == 0 {
		return k.bro.bShape
	}
	return k.bro.rShape
}
func (k broGrad) Forward32(o []float32, in [][]float32) { broBackward(k, o, in[0], in[1], in[2]) }
func (k broGrad) Forward64(o []float64, in [][]float64) { broBackward(k, o, in[0], in[1], in[2]) }

func broBackward[T float](g broGrad, d, b, r, dl []T) {
	k := g.bro
	nb, nr := rowNorms(b, k.b, k.f), rowNorms(r, k.b, k.f)
	m := cosines(b, r, nb, nr, k.b, k.f)
	a := make([]float64, len(m))
	for i := range k.b {
		for j := range k.b {
			a[i*k.b+j] = 2 * m[i*k.b+j] * float64(dl[i])
		}
	}
	if g.wrt == 0 {
		backRows(d, b, r, a, m, nb, nr, k.b, k.f)
		return
	}
	backRows(d, r, b, transpose(a, k.b), transpose(m, k.b), nr, nb, k.b, k.f)
}
