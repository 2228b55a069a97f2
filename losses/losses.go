// Package losses builds the training losses of BaryIR as Gorgonia graph nodes:
// the L1 restoration loss, the inter-residual contrastive loss (IRC), the
// barycenter-residual orthogonal loss (BRO). The trainer (package baryir)
// combines them with the MWB objective of package ot.
//
// IRC and BRO are fused kernels (internal/op): each sample is flattened, the
// B×B Gram matrix of the normalised samples is formed in one pass, and an
// explicit backward kernel recomputes that small matrix instead of keeping
// B×B×F intermediates in the graph. Sums run in float64 whatever the working
// type, so float32 graphs lose precision only at their inputs and outputs.
//
// Source ids are an input node set before each run; only equality of ids
// matters. Note that the authors' trainer (xl-tang3/BaryIR) compares the
// raw degradation type in IRC, so Gaussian noise levels 15/25/50 count as
// three different sources there, while their weights w_k and potentials f_k
// treat them as one source. Callers choose which ids they pass.
//
// IRC and BRO return per-sample vectors because the trainer weights sample i
// by w_{k_i}; G.Mean of either gives the batch mean. To log them,
// read them with G.Read: Gorgonia's tape machine may later reuse their
// buffers in place, so Node.Value after a run is not reliable for them.
package losses

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// DefaultTau is the IRC temperature of the paper and of the authors' code.
const DefaultTau = 0.07

// normEps is the floor of a sample's norm when it is normalised, as in
// torch.nn.functional.normalize: z = x / max(|x|, 1e-12).
const normEps = 1e-12

type float interface{ float32 | float64 }

// batchShape checks that x is a batch of samples (rank 2 to 4, float32 or
// float64, non-empty) and returns the batch size and the per-sample size.
func batchShape(fn, what string, x *G.Node) (b, f int, err error) {
	if x == nil {
		return 0, 0, fmt.Errorf("losses.%s: %s is nil", fn, what)
	}
	if dt := x.Dtype(); dt != tensor.Float32 && dt != tensor.Float64 {
		return 0, 0, fmt.Errorf("losses.%s: %s has dtype %v, want float32 or float64", fn, what, dt)
	}
	s := x.Shape()
	if len(s) < 2 || len(s) > 4 {
		return 0, 0, fmt.Errorf("losses.%s: %s has shape %v, want (B,F), (B,N,F) or (B,C,H,W)", fn, what, s)
	}
	b, f = s[0], s.TotalSize()/max(s[0], 1)
	if b <= 0 || s.TotalSize() <= 0 {
		return 0, 0, fmt.Errorf("losses.%s: %s has shape %v, want a non-empty batch", fn, what, s)
	}
	return b, f, nil
}

// rowNorms returns max(|x_i|, eps) for the B rows of length F of x.
func rowNorms[T float](x []T, b, f int) []float64 {
	n := make([]float64, b)
	for i := range b {
		s := 0.0
		for _, v := range x[i*f : (i+1)*f] {
			s += float64(v) * float64(v)
		}
		n[i] = math.Max(math.Sqrt(s), normEps)
	}
	return n
}

// cosines returns the B×B matrix C_ij = <x_i/nx_i, y_j/ny_j>.
func cosines[T float](x, y []T, nx, ny []float64, b, f int) []float64 {
	c := make([]float64, b*b)
	for i := range b {
		xi := x[i*f : (i+1)*f]
		for j := range b {
			yj := y[j*f : (j+1)*f]
			s := 0.0
			for k, v := range xi {
				s += float64(v) * float64(yj[k])
			}
			c[i*b+j] = s / (nx[i] * ny[j])
		}
	}
	return c
}

// backRows adds to dx the gradient with respect to x of sum_ij A_ij C_ij,
// C = cosines(x, y): with z = x/|x|, dz_i = sum_j A_ij y_j/ny_j and
// dx_i = (dz_i - z_i <z_i, dz_i>)/nx_i. Where the norm was floored at eps
// the floor is a constant, so the projection term is dropped (as torch does).
func backRows[T float](dx, x, y []T, a, c, nx, ny []float64, b, f int) {
	acc := make([]float64, f)
	for i := range b {
		clear(acc)
		proj := 0.0
		for j := range b {
			w := a[i*b+j] / ny[j]
			if w == 0 {
				continue
			}
			for k, v := range y[j*f : (j+1)*f] {
				acc[k] += w * float64(v)
			}
			proj += a[i*b+j] * c[i*b+j]
		}
		if nx[i] <= normEps {
			proj = 0
		}
		xi, dxi := x[i*f:(i+1)*f], dx[i*f:(i+1)*f]
		for k := range acc {
			dxi[k] += T((acc[k] - proj*float64(xi[k])/nx[i]) / nx[i])
		}
	}
}

// transpose returns the transpose of the B×B matrix m.
func transpose(m []float64, b int) []float64 {
	t := make([]float64, len(m))
	for i := range b {
		for j := range b {
			t[j*b+i] = m[i*b+j]
		}
	}
	return t
}

// DefaultBeta is the weight of BRO + IRC in the generator loss of the
// authors' single-GPU trainer (their multi-GPU trainer uses 0.02).
const DefaultBeta = 0.05

// constVec returns an input node holding v in dtype dt. Gorgonia merges input
// nodes by name, so the name carries the values.
func constVec(g *G.ExprGraph, dt tensor.Dtype, v []float64) (*G.Node, error) {
	var t *tensor.Dense
	switch dt {
	case tensor.Float32:
		d := make([]float32, len(v))
		for i, x := range v {
			d[i] = float32(x)
		}
		t = tensor.New(tensor.WithShape(len(v)), tensor.WithBacking(d))
	case tensor.Float64:
		t = tensor.New(tensor.WithShape(len(v)), tensor.WithBacking(append([]float64(nil), v...)))
	default:
		return nil, fmt.Errorf("losses: dtype %v, want float32 or float64", dt)
	}
	return G.NewTensor(g, dt, 1, G.WithShape(len(v)), G.WithValue(t), G.WithName(fmt.Sprintf("losses.const%v", t.Data()))), nil
}
