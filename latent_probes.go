package baryir

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/x/baryir/ot"
)

// The measurements of the latent study: how well a class can be told from a
// latent (cross-validated probes) and how far apart the classes' Gaussian
// fits lie (W2).

// stratifiedFolds deals each class's samples to folds in a seeded random order.
func stratifiedFolds(labels []int, classes, folds int, seed uint64) []int {
	fold := make([]int, len(labels))
	rng := rand.New(rand.NewPCG(seed, 0xf0))
	for c := range classes {
		var idx []int
		for i, l := range labels {
			if l == c {
				idx = append(idx, i)
			}
		}
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		for r, i := range idx {
			fold[i] = r % folds
		}
	}
	return fold
}

// probeAccuracy is the stratified k-fold accuracy of a nearest-centroid
// classifier (Euclidean).
func probeAccuracy(x [][]float64, labels []int, classes, folds int, seed uint64) (float64, error) {
	fold := stratifiedFolds(labels, classes, folds, seed)
	d := len(x[0])
	correct := 0
	for f := range folds {
		cent := make([][]float64, classes)
		cnt := make([]float64, classes)
		for c := range cent {
			cent[c] = make([]float64, d)
		}
		for i, row := range x {
			if fold[i] == f {
				continue
			}
			cnt[labels[i]]++
			for j, v := range row {
				cent[labels[i]][j] += v
			}
		}
		for c := range cent {
			if cnt[c] == 0 {
				return 0, errorf("latents: fold %d leaves class %d without training samples", f, c)
			}
			for j := range cent[c] {
				cent[c][j] /= cnt[c]
			}
		}
		for i, row := range x {
			if fold[i] != f {
				continue
			}
			best, bestD := -1, math.Inf(1)
			for c := range cent {
				var s float64
				for j, v := range row {
					s += (v - cent[c][j]) * (v - cent[c][j])
				}
				if s < bestD {
					best, bestD = c, s
				}
			}
			if best == labels[i] {
				correct++
			}
		}
	}
	return float64(correct) / float64(len(x)), nil
}

// Linear probe training: full-batch gradient descent on the L2-regularised
// softmax cross-entropy of standardised features.
const (
	linearSteps = 300
	linearRate  = 0.5
	linearL2    = 1e-3
)

// linearProbeAccuracy is the stratified k-fold accuracy of a multinomial
// logistic regression, features standardised with the training fold's
// mean and deviation.
func linearProbeAccuracy(x [][]float64, labels []int, classes, folds int, seed uint64) float64 {
	fold := stratifiedFolds(labels, classes, folds, seed)
	d := len(x[0])
	correct := 0
	for f := range folds {
		mean, dev := make([]float64, d), make([]float64, d)
		var train []int
		for i := range x {
			if fold[i] != f {
				train = append(train, i)
			}
		}
		for _, i := range train {
			for j, v := range x[i] {
				mean[j] += v / float64(len(train))
			}
		}
		for _, i := range train {
			for j, v := range x[i] {
				dev[j] += (v - mean[j]) * (v - mean[j]) / float64(len(train))
			}
		}
		for j := range dev {
			dev[j] = math.Sqrt(dev[j]) + 1e-8
		}
		z := func(i int) []float64 {
			out := make([]float64, d+1)
			for j, v := range x[i] {
				out[j] = (v - mean[j]) / dev[j]
			}
			out[d] = 1 // bias
			return out
		}
		feats := make([][]float64, len(x))
		for i := range x {
			feats[i] = z(i)
		}
		w := make([][]float64, classes)
		grad := make([][]float64, classes)
		for c := range w {
			w[c], grad[c] = make([]float64, d+1), make([]float64, d+1)
		}
		p := make([]float64, classes)
		for range linearSteps {
			for c := range grad {
				for j := range grad[c] {
					grad[c][j] = linearL2 * w[c][j]
				}
			}
			for _, i := range train {
				softmax(w, feats[i], p)
				for c := range p {
					g := p[c]
					if c == labels[i] {
						g--
					}
					g /= float64(len(train))
					for j, v := range feats[i] {
						grad[c][j] += g * v
					}
				}
			}
			for c := range w {
				for j := range w[c] {
					w[c][j] -= linearRate * grad[c][j]
				}
			}
		}
		for i := range x {
			if fold[i] != f {
				continue
			}
			softmax(w, feats[i], p)
			best := 0
			for c := range p {
				if p[c] > p[best] {
					best = c
				}
			}
			if best == labels[i] {
				correct++
			}
		}
	}
	return float64(correct) / float64(len(x))
}

func softmax(w [][]float64, x, p []float64) {
	top := math.Inf(-1)
	for c := range w {
		var s float64
		for j, v := range x {
			s += w[c][j] * v
		}
		p[c] = s
		top = math.Max(top, s)
	}
	var sum float64
	for c := range p {
		p[c] = math.Exp(p[c] - top)
		sum += p[c]
	}
	for c := range p {
		p[c] /= sum
	}
}

// classW2 fits a Gaussian to each class and returns the pairwise W2
// distances, their mean over pairs and the within-class spread. A ridge of
// 1e-6 of the mean variance keeps covariances of fewer samples than
// dimensions positive definite.
func classW2(x [][]float64, labels []int, classes int) ([][]float64, float64, float64, error) {
	d := len(x[0])
	fits := make([]ot.Gaussian, classes)
	var spread float64
	for c := range classes {
		var rows []float64
		n := 0
		for i, l := range labels {
			if l == c {
				rows = append(rows, x[i]...)
				n++
			}
		}
		g, err := ot.Fit(mat.NewDense(n, d, rows))
		if err != nil {
			return nil, 0, 0, err
		}
		tr := mat.Trace(g.Cov)
		ridge := 1e-6*tr/float64(d) + 1e-12
		for j := range d {
			g.Cov.SetSym(j, j, g.Cov.At(j, j)+ridge)
		}
		fits[c] = g
		spread += tr / float64(classes)
	}
	w2 := make([][]float64, classes)
	var mean float64
	pairs := 0
	for a := range classes {
		w2[a] = make([]float64, classes)
	}
	for a := range classes {
		for b := a + 1; b < classes; b++ {
			s, err := ot.W2Squared(fits[a], fits[b])
			if err != nil {
				return nil, 0, 0, err
			}
			w2[a][b], w2[b][a] = math.Sqrt(s), math.Sqrt(s)
			mean += math.Sqrt(s)
			pairs++
		}
	}
	return w2, mean / float64(pairs), math.Sqrt(spread), nil
}
