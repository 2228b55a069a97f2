// Command gaussian_barycenter learns the Wasserstein barycenter of three 2-D
// Gaussians with the MWB objective (per-source MLP maps, congruent MLP
// potentials) and compares it with the closed form: mean, covariance, the
// objective's value and the W2 distance between learned and true barycenter.
// It draws the sources, the pushed samples and the barycenter's ellipse.
//
//	go run ./examples/gaussian_barycenter [-json] [-out DIR|FILE.png] [-steps N]
package main

import (
	"bytes"
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
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/data"
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

// drawPlot draws, through gonum.org/v1/plot, the source samples (light),
// the samples each learned map pushed to the barycenter (dark, same hue) and
// the 2-sigma ellipses of the closed-form and the learned barycenter.
func drawPlot(path string, src, pushed []*mat.Dense, bary, learned ot.Gaussian) error {
	const show = 300 // points per series
	p := plot.New()
	p.Title.Text = "W2 barycenter of three Gaussians"
	p.X.Label.Text, p.Y.Label.Text = "x1", "x2"
	p.Add(plotter.NewGrid())
	for i := range src {
		c := plotutil.Color(i)
		for _, s := range []struct {
			name string
			m    *mat.Dense
			c    color.Color
			r    vg.Length
		}{{fmt.Sprintf("source P%d", i+1), src[i], lighten(c), 1.6}, {fmt.Sprintf("T%d pushes P%d", i+1, i+1), pushed[i], c, 1.8}} {
			sc, err := plotter.NewScatter(points(s.m, show))
			if err != nil {
				return err
			}
			sc.GlyphStyle = draw.GlyphStyle{Color: s.c, Radius: s.r, Shape: draw.CircleGlyph{}}
			p.Add(sc)
			p.Legend.Add(s.name, sc)
		}
	}
	for _, e := range []struct {
		name   string
		g      ot.Gaussian
		c      color.Color
		dashes []vg.Length
	}{{"closed form, 2 sigma", bary, color.Black, nil}, {"learned, 2 sigma", learned, color.RGBA{214, 39, 40, 255}, []vg.Length{vg.Points(5), vg.Points(3)}}} {
		l, err := plotter.NewLine(ellipse(e.g, 2))
		if err != nil {
			return fmt.Errorf("%s ellipse: %w", e.name, err)
		}
		l.Color, l.Width, l.Dashes = e.c, vg.Points(2), e.dashes
		p.Add(l)
		p.Legend.Add(e.name, l)
	}
	p.Legend.Top, p.Legend.Left = true, true
	png, err := p.WriterTo(7.5*vg.Inch, 6*vg.Inch, "png")
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := png.WriteTo(&buf); err != nil {
		return err
	}
	return data.WriteFileAtomic(path, buf.Bytes()) // a crash never leaves half a picture
}

// points returns the first n rows of m as (x, y) points.
func points(m *mat.Dense, n int) plotter.XYs {
	r, _ := m.Dims()
	xy := make(plotter.XYs, min(n, r))
	for i := range xy {
		xy[i] = plotter.XY{X: m.At(i, 0), Y: m.At(i, 1)}
	}
	return xy
}

// ellipse returns the closed contour of a 2-D Gaussian at Mahalanobis
// distance k: mean + k * V sqrt(L) (cos t, sin t) for Cov = V L V^T.
func ellipse(g ot.Gaussian, k float64) plotter.XYs {
	var eig mat.EigenSym
	cov := mat.NewSymDense(2, []float64{g.Cov.At(0, 0), g.Cov.At(0, 1), g.Cov.At(0, 1), g.Cov.At(1, 1)})
	if !eig.Factorize(cov, true) {
		return nil // NewLine then reports no points
	}
	var v mat.Dense
	eig.VectorsTo(&v)
	l := eig.Values(nil)
	const n = 120
	out := make(plotter.XYs, n+1)
	for i := range out {
		t := 2 * math.Pi * float64(i) / n
		a, b := k*math.Sqrt(max(l[0], 0))*math.Cos(t), k*math.Sqrt(max(l[1], 0))*math.Sin(t)
		out[i] = plotter.XY{X: g.Mean[0] + v.At(0, 0)*a + v.At(0, 1)*b, Y: g.Mean[1] + v.At(1, 0)*a + v.At(1, 1)*b}
	}
	return out
}

// lighten mixes c three fifths of the way to white.
func lighten(c color.Color) color.Color {
	r, g, b, _ := c.RGBA()
	l := func(v uint32) uint8 { return uint8(int(v>>8) + (255-int(v>>8))*3/5) }
	return color.RGBA{l(r), l(g), l(b), 255}
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
