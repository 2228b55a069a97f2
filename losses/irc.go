package losses

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/op"
)

// IRC builds the inter-residual contrastive loss of each sample of the batch
// r (B,F), (B,N,F) or (B,C,H,W), whose sources are the values of ids, a (B)
// input node of r's dtype (set it with G.Let before each run, so that one
// graph serves batches whose sources change from step to step; only
// equality of ids matters):
//
//	z_i = r_i / max(|r_i|, 1e-12)      (r_i flattened)
//	pos_i = sum_{j: ids_j = ids_i} exp(<z_i,z_j>/tau)   (j = i included)
//	neg_i = sum_{j: ids_j != ids_i} exp(<z_i,z_j>/tau)
//	IRC_i = -log(pos_i / (pos_i + neg_i))
//
// It returns a vector of B losses, because the trainer weights each sample by
// the weight of its source. A sample whose source fills the whole batch has
// neg = 0 and a loss (and gradient) of exactly 0. Both sums are computed as
// log-sum-exps, so any tau > 0 is safe from overflow; the result equals the
// authors' direct formula. Their multi-GPU trainer instead uses
// -log((pos+1e-6)/(pos+neg+1e-6)), a difference below 1e-6/pos that this
// function does not reproduce.
func IRC(r, ids *G.Node, tau float64) (*G.Node, error) {
	b, f, err := batchShape("IRC", "r", r)
	if err != nil {
		return nil, err
	}
	switch {
	case ids == nil:
		return nil, fmt.Errorf("losses.IRC: no source ids (IRC needs a non-empty batch)")
	case ids.Dims() != 1 || ids.Dtype() != r.Dtype():
		return nil, fmt.Errorf("losses.IRC: source ids must be a vector of %d %v values", b, r.Dtype())
	case ids.Shape()[0] != b:
		return nil, fmt.Errorf("losses.IRC: %d source ids for a batch of %d", ids.Shape()[0], b)
	}
	if !(tau > 0) || math.IsInf(tau, 1) {
		return nil, fmt.Errorf("losses.IRC: temperature %v, want a finite tau > 0", tau)
	}
	return op.Apply(ircKernel{shape: r.Shape().Clone(), b: b, f: f, tau: tau}, r, ids)
}

// ircKernel's inputs are r and the ids; ids is filled from the ids input on each run.
type ircKernel struct {
	shape tensor.Shape
	b, f  int
	tau   float64
	ids   []int
}

func (k ircKernel) Name() string {
	return fmt.Sprintf("IRC%v_tau%g", k.shape, k.tau)
}
func (k ircKernel) OutShape() tensor.Shape { return tensor.Shape{k.b} }
func (k ircKernel) Forward32(o []float32, in [][]float32) {
	k.ids = idsOf(in[1])
	ircForward(k, o, in[0])
}
func (k ircKernel) Forward64(o []float64, in [][]float64) {
	k.ids = idsOf(in[1])
	ircForward(k, o, in[0])
}
func (k ircKernel) DiffWRT() []bool { return []bool{true, false} }

func (k ircKernel) Grad(in G.Nodes, _, dOut *G.Node) (G.Nodes, error) {
	g, err := op.Apply(ircGrad(k), in[0], in[1], dOut)
	return G.Nodes{g, nil}, err
}

func idsOf[T float](v []T) []int {
	ids := make([]int, len(v))
	for i, x := range v {
		ids[i] = int(x)
	}
	return ids
}

// ircStats returns the cosine matrix of r and, per sample, the log-sum-exps
// of S_ij = C_ij/tau over all j and over the j of the same source.
func ircStats[T float](k ircKernel, r []T) (c, norms, lseAll, lsePos []float64) {
	norms = rowNorms(r, k.b, k.f)
	c = cosines(r, r, norms, norms, k.b, k.f)
	lseAll, lsePos = make([]float64, k.b), make([]float64, k.b)
	for i := range k.b {
		row := c[i*k.b : (i+1)*k.b]
		mAll, mPos := math.Inf(-1), math.Inf(-1)
		for j, v := range row {
			mAll = math.Max(mAll, v)
			if k.ids[j] == k.ids[i] {
				mPos = math.Max(mPos, v)
			}
		}
		sAll, sPos := 0.0, 0.0
		for j, v := range row {
			sAll += math.Exp((v - mAll) / k.tau)
			if k.ids[j] == k.ids[i] {
				sPos += math.Exp((v - mPos) / k.tau)
			}
		}
		lseAll[i] = mAll/k.tau + math.Log(sAll)
		lsePos[i] = mPos/k.tau + math.Log(sPos)
	}
	return c, norms, lseAll, lsePos
}

func ircForward[T float](k ircKernel, out, r []T) {
	_, _, lseAll, lsePos := ircStats(k, r)
	for i := range out {
		if k.allSame(i) {
			continue // neg = 0: the loss is exactly 0, whatever rounding says
		}
		out[i] = T(lseAll[i] - lsePos[i])
	}
}

// allSame reports whether every sample shares the source of sample i.
func (k ircKernel) allSame(i int) bool {
	for _, id := range k.ids {
		if id != k.ids[i] {
			return false
		}
	}
	return true
}

// ircGrad maps (r, dIRC) to dr. With p = softmax of row i over all j and q
// the softmax over the same-source j, dIRC_i/dS_ij = p_ij - q_ij; S is
// symmetric, so dC = (A + A^T)/tau with A_ij = dIRC_i (p_ij - q_ij).
type ircGrad ircKernel

func (k ircGrad) Name() string           { return "grad" + ircKernel(k).Name() }
func (k ircGrad) OutShape() tensor.Shape { return k.shape }
func (k ircGrad) Forward32(o []float32, in [][]float32) {
	k.ids = idsOf(in[1])
	ircBackward(ircKernel(k), o, in[0], in[2])
}
func (k ircGrad) Forward64(o []float64, in [][]float64) {
	k.ids = idsOf(in[1])
	ircBackward(ircKernel(k), o, in[0], in[2])
}

func ircBackward[T float](k ircKernel, dr, r, dl []T) {
	c, norms, lseAll, lsePos := ircStats(k, r)
	a := make([]float64, k.b*k.b)
	for i := range k.b {
		if k.allSame(i) {
			continue
		}
		for j := range k.b {
			s := c[i*k.b+j] / k.tau
			p := math.Exp(s - lseAll[i])
			if k.ids[j] == k.ids[i] {
				p -= math.Exp(s - lsePos[i])
			}
			a[i*k.b+j] = float64(dl[i]) * p / k.tau
		}
	}
	at := transpose(a, k.b)
	for i := range a {
		a[i] += at[i]
	}
	backRows(dr, r, r, a, c, norms, norms, k.b, k.f)
}
