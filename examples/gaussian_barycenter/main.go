// Command gaussian_barycenter learns the Wasserstein barycenter of three 2-D
// Gaussians with the MWB objective (per-source MLP maps, congruent MLP
// potentials) and compares it with the closed form: mean, covariance, the
// objective's value and the W2 distance between learned and true barycenter.
// It draws the sources, the pushed samples and the barycenter's ellipse.
//
//	go run ./examples/gaussian_barycenter [-json] [-out DIR|FILE.png] [-steps N]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/internal/plot"
	"github.com/x/baryir/ot"
)

type gaussianJSON struct {
	Mean []float64   `json:"mean"`
	Cov  [][]float64 `json:"cov"`
}

type report struct {
	Weights    []float64      `json:"weights"`
	Sources    []gaussianJSON `json:"sources"`
	ClosedForm struct {
		gaussianJSON
		Cost float64 `json:"cost"`
	} `json:"closed_form"`
	Learned struct {
		gaussianJSON
		Objective     float64 `json:"objective"`
		Transport     float64 `json:"transport"`
		Potential     float64 `json:"potential"`
		W2ToClosed    float64 `json:"w2_to_closed_form"`
		W2SqToClosed  float64 `json:"w2_squared_to_closed_form"`
		TrainSeconds  float64 `json:"train_seconds"`
		Steps         int     `json:"steps"`
		SamplesPerSrc int     `json:"eval_samples_per_source"`
	} `json:"learned"`
	Plot string `json:"plot,omitempty"`
}

func main() {
	asJSON := flag.Bool("json", false, "print the results as JSON")
	out := flag.String("out", ".", "folder for gaussian_barycenter.png, or a .png file; empty: no plot")
	steps := flag.Int("steps", 300, "training steps (each: 10 map updates, 1 potential update)")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if err := run(os.Stdout, *asJSON, *out, *steps, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "gaussian_barycenter:", err)
		os.Exit(1)
	}
}

func run(stdout io.Writer, asJSON bool, out string, steps int, seed uint64) error {
	if steps <= 0 {
		return fmt.Errorf("steps must be positive, got %d", steps)
	}
	var sources []ot.Gaussian
	for _, s := range []struct {
		mean []float64
		cov  [][]float64
	}{
		{[]float64{-2, 0}, [][]float64{{1, 0.3}, {0.3, 0.5}}},
		{[]float64{2, 1}, [][]float64{{0.4, -0.2}, {-0.2, 1.2}}},
		{[]float64{0, -2}, [][]float64{{2, 0}, {0, 0.3}}},
	} {
		g, err := ot.NewGaussian(s.mean, s.cov)
		if err != nil {
			return err
		}
		sources = append(sources, g)
	}
	w := []float64{0.2, 0.3, 0.5}
	bary, err := ot.GaussianBarycenter(sources, w, ot.BarycenterOptions{})
	if err != nil {
		return err
	}

	const batch, hidden, d = 64, 16, 2
	k := len(sources)
	g := G.NewGraph()
	xs, ys := make(G.Nodes, k), make(G.Nodes, k)
	var mapParams G.Nodes
	nets := make([]ot.Net, k)
	for i := range k {
		xs[i] = G.NewMatrix(g, tensor.Float64, G.WithShape(batch, d), G.WithName(fmt.Sprintf("x%d", i)))
		// One map per source (as Kolesov et al.), starting at the identity.
		m, err := ot.NewMLP(g, tensor.Float64, ot.MLPConfig{Sizes: []int{d, hidden, hidden, d}, Residual: true, Seed: seed + uint64(i), Name: fmt.Sprintf("T%d", i)})
		if err != nil {
			return err
		}
		mapParams = append(mapParams, m.Learnables()...)
		if ys[i], err = m.Forward(xs[i]); err != nil {
			return err
		}
		if nets[i], err = ot.NewMLP(g, tensor.Float64, ot.MLPConfig{Sizes: []int{d, hidden, hidden, 1}, Seed: seed + 100 + uint64(i), Name: fmt.Sprintf("f%d", i)}); err != nil {
			return err
		}
	}
	pot, err := ot.NewPotentials(nets, ot.PotentialsConfig{Weights: w})
	if err != nil {
		return err
	}
	terms, err := ot.ObjectiveBySource(pot, xs, ys, ot.HalfSquared)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	feed := func() error {
		for i, src := range sources {
			s, err := src.Sample(rng, batch)
			if err != nil {
				return err
			}
			if err := G.Let(xs[i], tensor.New(tensor.WithShape(batch, d), tensor.WithBacking(s.RawMatrix().Data))); err != nil {
				return err
			}
		}
		return nil
	}
	tr, err := ot.NewTrainer(ot.TrainerConfig{
		MapLoss: terms.Loss, PotentialLoss: terms.PotentialLoss,
		MapParams: mapParams, PotentialParams: pot.Learnables(),
		MapSolver:       ot.GorgoniaSolver(G.NewAdamSolver(G.WithLearnRate(2e-3))),
		PotentialSolver: ot.GorgoniaSolver(G.NewAdamSolver(G.WithLearnRate(2e-3))),
		Watch:           append(G.Nodes{terms.Transport, terms.Potential}, ys...),
		MapIters:        10,
		Feed:            feed,
	})
	if err != nil {
		return err
	}
	defer tr.Close()
	start := time.Now()
	for range steps {
		if _, err := tr.Step(); err != nil {
			return err
		}
	}
	trainTime := time.Since(start)

	// Evaluate on fresh samples: average the objective, pool the pushed
	// samples with weights w_k (a w_k share of each source's images).
	const evalBatches = 100
	var rep report
	rep.Weights = w
	src := make([]*mat.Dense, k)
	pushed := make([]*mat.Dense, k)
	for range evalBatches {
		l, vals, err := tr.Eval(append(G.Nodes{terms.Transport, terms.Potential}, append(xs, ys...)...)...)
		if err != nil {
			return err
		}
		rep.Learned.Objective += l.Map / evalBatches
		rep.Learned.Transport += scalar(vals[0]) / evalBatches
		rep.Learned.Potential += scalar(vals[1]) / evalBatches
		for i := range k {
			src[i] = stack(src[i], mat.NewDense(batch, d, vals[2+i].Data().([]float64)))
			pushed[i] = stack(pushed[i], mat.NewDense(batch, d, vals[2+k+i].Data().([]float64)))
		}
	}
	var pool *mat.Dense
	for i := range k {
		n := int(w[i] * float64(batch*evalBatches))
		pool = stack(pool, pushed[i].Slice(0, n, 0, d).(*mat.Dense))
	}
	learned, err := ot.Fit(pool)
	if err != nil {
		return err
	}
	w2, err := ot.W2Squared(learned, bary.Gaussian)
	if err != nil {
		return err
	}
	for _, s := range sources {
		rep.Sources = append(rep.Sources, toJSON(s))
	}
	rep.ClosedForm.gaussianJSON = toJSON(bary.Gaussian)
	rep.ClosedForm.Cost = bary.Cost
	rep.Learned.gaussianJSON = toJSON(learned)
	rep.Learned.W2SqToClosed = w2
	rep.Learned.W2ToClosed = math.Sqrt(w2)
	rep.Learned.TrainSeconds = trainTime.Seconds()
	rep.Learned.Steps = steps
	rep.Learned.SamplesPerSrc = batch * evalBatches

	if out != "" {
		path := out
		if !strings.HasSuffix(strings.ToLower(out), ".png") {
			path = filepath.Join(out, "gaussian_barycenter.png")
		}
		if err := drawPlot(path, src, pushed, bary.Gaussian, learned); err != nil {
			return err
		}
		rep.Plot = path
	}

	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(stdout, "weights %v, %d steps in %.1fs\n\n", w, steps, trainTime.Seconds())
	fmt.Fprintf(stdout, "%-22s %-24s %s\n", "", "closed form", "learned")
	fmt.Fprintf(stdout, "%-22s %-24s %s\n", "mean", vec(bary.Mean), vec(learned.Mean))
	for r := range d {
		name := ""
		if r == 0 {
			name = "covariance"
		}
		fmt.Fprintf(stdout, "%-22s %-24s %s\n", name, vec(mat.Row(nil, r, bary.Cov)), vec(mat.Row(nil, r, learned.Cov)))
	}
	fmt.Fprintf(stdout, "%-22s %-24.4f %.4f (transport %.4f, potential %.4f)\n", "objective", bary.Cost, rep.Learned.Objective, rep.Learned.Transport, rep.Learned.Potential)
	fmt.Fprintf(stdout, "%-22s %.4f\n", "W2(learned, true)", rep.Learned.W2ToClosed)
	if rep.Plot != "" {
		fmt.Fprintf(stdout, "\nplot: %s\n", rep.Plot)
	}
	return nil
}

func drawPlot(path string, src, pushed []*mat.Dense, bary, learned ot.Gaussian) error {
	const show = 300 // points per series
	var series []plot.Series
	for i := range src {
		series = append(series, points(fmt.Sprintf("P%d", i+1), src[i], show, lighten(plot.Palette(i))))
	}
	for i := range pushed {
		series = append(series, points(fmt.Sprintf("T%d#P%d", i+1, i+1), pushed[i], show, plot.Palette(i)))
	}
	img, err := plot.Scatter{
		Title: "W2 barycenter of three Gaussians", XLabel: "x1", YLabel: "x2",
		Series: series,
		Ellipses: []plot.Ellipse{
			ellipse("closed form 2 sigma", bary, color.RGBA{0, 0, 0, 255}),
			ellipse("learned 2 sigma", learned, color.RGBA{214, 39, 40, 255}),
		},
		Width: 720, Height: 560,
	}.Image()
	if err != nil {
		return err
	}
	return plot.WritePNG(path, img)
}

func points(name string, m *mat.Dense, n int, c color.Color) plot.Series {
	r, _ := m.Dims()
	n = min(n, r)
	s := plot.Series{Name: name, Color: c, X: make([]float64, n), Y: make([]float64, n)}
	for i := range n {
		s.X[i], s.Y[i] = m.At(i, 0), m.At(i, 1)
	}
	return s
}

func ellipse(name string, g ot.Gaussian, c color.Color) plot.Ellipse {
	return plot.Ellipse{Name: name, Center: [2]float64{g.Mean[0], g.Mean[1]},
		Cov: [2][2]float64{{g.Cov.At(0, 0), g.Cov.At(0, 1)}, {g.Cov.At(1, 0), g.Cov.At(1, 1)}}, Color: c}
}

func lighten(c color.RGBA) color.RGBA {
	l := func(v uint8) uint8 { return uint8(int(v) + (255-int(v))*3/5) }
	return color.RGBA{l(c.R), l(c.G), l(c.B), 255}
}

func stack(a, b *mat.Dense) *mat.Dense {
	if a == nil {
		return b
	}
	var s mat.Dense
	s.Stack(a, b)
	return &s
}

func toJSON(g ot.Gaussian) gaussianJSON {
	d := g.Dim()
	j := gaussianJSON{Mean: g.Mean, Cov: make([][]float64, d)}
	for r := range d {
		j.Cov[r] = mat.Row(nil, r, g.Cov)
	}
	return j
}

func scalar(v G.Value) float64 {
	switch v := v.Data().(type) {
	case float64:
		return v
	case float32:
		return float64(v)
	}
	return 0
}

func vec(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%7.4f", x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
