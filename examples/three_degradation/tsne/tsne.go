// Package tsne embeds points in 2-D with exact t-SNE (van der Maaten and
// Hinton, "Visualizing Data using t-SNE", JMLR 2008): Gaussian affinities
// calibrated to a perplexity, a Student-t kernel in the plane, gradient
// descent with momentum, per-coordinate gains and early exaggeration. The
// cost is O(n²) per iteration, meant for the few hundred to few thousand
// points of a latent-space picture. No maintained Go implementation was on
// the module proxy when this was written.
package tsne

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Options tune the embedding; zero fields take the defaults in brackets.
type Options struct {
	Perplexity   float64 // effective neighbours per point [30, capped at (n-1)/3]
	Iterations   int     // gradient steps [1000]
	LearningRate float64 // [max(n/12, 50)]
	Seed         uint64  // initial positions
}

// MaxPoints bounds n: the affinity matrices take 16 n² bytes.
const MaxPoints = 5000

const (
	exaggeration     = 12  // P is multiplied by this for the first exaggerated steps
	exaggeratedSteps = 250 // also the steps at momentum 0.5 before 0.8
	minGain          = 0.01
)

// Embed returns a 2-D position for every row of x.
func Embed(x [][]float64, opt Options) ([][2]float64, error) {
	n := len(x)
	if n < 4 {
		return nil, fmt.Errorf("tsne: %d points; need at least 4", n)
	}
	if n > MaxPoints {
		return nil, fmt.Errorf("tsne: %d points; at most %d (exact t-SNE is O(n²))", n, MaxPoints)
	}
	d := len(x[0])
	for i, row := range x {
		if len(row) != d || d == 0 {
			return nil, fmt.Errorf("tsne: row %d has %d values, row 0 has %d", i, len(row), d)
		}
		for _, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("tsne: row %d holds %v", i, v)
			}
		}
	}
	perp := opt.Perplexity
	if perp == 0 {
		perp = math.Min(30, float64(n-1)/3)
	}
	if perp < 1 || perp > float64(n-1) || math.IsNaN(perp) {
		return nil, fmt.Errorf("tsne: perplexity %v must be in [1, %d] for %d points", perp, n-1, n)
	}
	iters := opt.Iterations
	if iters == 0 {
		iters = 1000
	}
	if iters < 0 || iters > 100000 {
		return nil, fmt.Errorf("tsne: %d iterations", iters)
	}
	lr := opt.LearningRate
	if lr == 0 {
		lr = math.Max(float64(n)/12, 50)
	}
	if !(lr > 0) {
		return nil, errors.New("tsne: learning rate must be positive")
	}

	p := affinities(x, perp)
	rng := rand.New(rand.NewPCG(opt.Seed, 0x75e))
	y := make([]float64, 2*n)
	for i := range y {
		y[i] = 1e-4 * rng.NormFloat64()
	}
	update := make([]float64, 2*n)
	gains := make([]float64, 2*n)
	for i := range gains {
		gains[i] = 1
	}
	grad := make([]float64, 2*n)
	num := make([]float64, n*n)
	for it := 0; it < iters; it++ {
		ex, mom := 1.0, 0.8
		if it < exaggeratedSteps {
			ex, mom = exaggeration, 0.5
		}
		gradient(p, y, num, grad, ex)
		for i := range y {
			if (grad[i] > 0) != (update[i] > 0) {
				gains[i] += 0.2
			} else {
				gains[i] = math.Max(gains[i]*0.8, minGain)
			}
			update[i] = mom*update[i] - lr*gains[i]*grad[i]
			y[i] += update[i]
		}
		center(y)
	}
	out := make([][2]float64, n)
	for i := range out {
		out[i] = [2]float64{y[2*i], y[2*i+1]}
	}
	return out, nil
}

// affinities returns the symmetric joint probabilities P (n×n, summing to
// 1) from the conditional ones: P = (P + Pᵀ) / 2n.
func affinities(x [][]float64, perp float64) []float64 {
	n := len(x)
	cond := conditional(x, perp)
	p := make([]float64, n*n)
	for i := range n {
		for j := range n {
			p[i*n+j] = math.Max((cond[i*n+j]+cond[j*n+i])/(2*float64(n)), 1e-12)
		}
	}
	return p
}

// conditional returns p(j|i) (row i, n×n): a Gaussian of x_i whose
// bandwidth is found by bisection so that the row's perplexity is perp.
func conditional(x [][]float64, perp float64) []float64 {
	n := len(x)
	d2 := make([]float64, n*n)
	for i := range n {
		for j := i + 1; j < n; j++ {
			var s float64
			for k := range x[i] {
				v := x[i][k] - x[j][k]
				s += v * v
			}
			d2[i*n+j], d2[j*n+i] = s, s
		}
	}
	target := math.Log(perp)
	cond := make([]float64, n*n)
	for i := range n {
		row := d2[i*n : (i+1)*n]
		lo, hi, beta := 0.0, math.Inf(1), 1.0
		// scale-free start: 1 / the row's mean squared distance
		var mean float64
		for j, v := range row {
			if j != i {
				mean += v / float64(n-1)
			}
		}
		if mean > 0 {
			beta = 1 / mean
		}
		pr := cond[i*n : (i+1)*n]
		for range 100 {
			h := rowEntropy(row, i, beta, pr)
			if math.Abs(h-target) < 1e-5 {
				break
			}
			if h > target { // too flat: narrow the kernel
				lo = beta
				if math.IsInf(hi, 1) {
					beta *= 2
				} else {
					beta = (beta + hi) / 2
				}
			} else {
				hi = beta
				beta = (beta + lo) / 2
			}
		}
	}
	return cond
}

// rowEntropy fills pr with the conditional probabilities of row i at
// precision beta and returns their entropy (nats). Distances are shifted by
// the row's smallest so the exponentials cannot all underflow.
func rowEntropy(d2 []float64, i int, beta float64, pr []float64) float64 {
	minD := math.Inf(1)
	for j, v := range d2 {
		if j != i && v < minD {
			minD = v
		}
	}
	var sum float64
	for j, v := range d2 {
		if j == i {
			pr[j] = 0
			continue
		}
		pr[j] = math.Exp(-beta * (v - minD))
		sum += pr[j]
	}
	var h float64
	for j := range pr {
		pr[j] /= sum
		if pr[j] > 0 {
			h -= pr[j] * math.Log(pr[j])
		}
	}
	return h
}

// gradient of KL(P || Q) with respect to y, P multiplied by ex:
// dC/dy_i = 4 Σ_j (ex p_ij - q_ij) (y_i - y_j) / (1 + |y_i - y_j|²).
func gradient(p, y, num, grad []float64, ex float64) {
	n := len(y) / 2
	var z float64
	for i := range n {
		num[i*n+i] = 0
		for j := i + 1; j < n; j++ {
			dx, dy := y[2*i]-y[2*j], y[2*i+1]-y[2*j+1]
			v := 1 / (1 + dx*dx + dy*dy)
			num[i*n+j], num[j*n+i] = v, v
			z += 2 * v
		}
	}
	for i := range n {
		var gx, gy float64
		for j := range n {
			if j == i {
				continue
			}
			v := num[i*n+j]
			m := (ex*p[i*n+j] - v/z) * v
			gx += m * (y[2*i] - y[2*j])
			gy += m * (y[2*i+1] - y[2*j+1])
		}
		grad[2*i], grad[2*i+1] = 4*gx, 4*gy
	}
}

func center(y []float64) {
	n := len(y) / 2
	var mx, my float64
	for i := range n {
		mx += y[2*i] / float64(n)
		my += y[2*i+1] / float64(n)
	}
	for i := range n {
		y[2*i] -= mx
		y[2*i+1] -= my
	}
}

// KL is the t-SNE cost KL(P || Q) of an embedding y of x at perplexity perp
// (0: Embed's default); tests and callers use it to compare embeddings.
func KL(x [][]float64, y [][2]float64, perp float64) (float64, error) {
	n := len(x)
	if n != len(y) || n < 4 {
		return 0, fmt.Errorf("tsne: %d points and %d positions", n, len(y))
	}
	if perp == 0 {
		perp = math.Min(30, float64(n-1)/3)
	}
	p := affinities(x, perp)
	var z float64
	q := make([]float64, n*n)
	for i := range n {
		for j := range n {
			if i != j {
				dx, dy := y[i][0]-y[j][0], y[i][1]-y[j][1]
				q[i*n+j] = 1 / (1 + dx*dx + dy*dy)
				z += q[i*n+j]
			}
		}
	}
	var kl float64
	for i := range n {
		for j := range n {
			if i != j {
				kl += p[i*n+j] * math.Log(p[i*n+j]/math.Max(q[i*n+j]/z, 1e-300))
			}
		}
	}
	return kl, nil
}
