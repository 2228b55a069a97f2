package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/x/baryir"
	"github.com/x/baryir/data"
	"github.com/x/baryir/examples/three_degradation/tsne"
	"github.com/x/baryir/ot"
)

// The latent study of -latents: the paper's t-SNE figure of BaryNet's
// bottleneck, in numbers (probe accuracies, W2 between sources) and as a
// picture. The library gives the latents (Restorer.Latents); this file
// measures them.

// The three latent spaces, in the order of latentSet's fields: the source
// latent s, the barycenter latent b = LN(T(s)) and the residual r = s - b
// (the paper's Eq. 9-10).
const (
	spaceSource = iota
	spaceBary
	spaceResidual
	numSpaces
)

var spaceNames = [numSpaces]string{"source s", "barycenter b", "residual r"}

// latentSet holds one row per patch in each space: the latent's channels
// averaged over its spatial positions (8 x dim values), with the patch's
// class (an index into classes).
type latentSet struct {
	classes []string
	labels  []int
	spaces  [numSpaces][][]float64
}

// collectLatents runs r's network on patches, all the same size (a
// multiple of 8), and returns their pooled latents, labelled.
func collectLatents(r *baryir.Restorer, patches []*data.Image, labels []int, classes []string) (latentSet, error) {
	set := latentSet{classes: classes, labels: labels}
	if len(patches) == 0 || len(patches) != len(labels) {
		return set, fmt.Errorf("latents: %d patches and %d labels", len(patches), len(labels))
	}
	for _, l := range labels {
		if l < 0 || l >= len(classes) {
			return set, fmt.Errorf("latents: label %d outside the %d classes", l, len(classes))
		}
	}
	const batch = 16
	for start := 0; start < len(patches); start += batch {
		lat, err := r.Latents(patches[start:min(start+batch, len(patches))])
		if err != nil {
			return set, err
		}
		for k, v := range [numSpaces][]float32{lat.S, lat.B, lat.R} {
			set.spaces[k] = append(set.spaces[k], poolChannels(v, lat.N, lat.C, lat.H*lat.W)...)
		}
	}
	return set, nil
}

// poolChannels averages each of n images' c channels over its hw positions.
func poolChannels(v []float32, n, c, hw int) [][]float64 {
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = make([]float64, c)
		for ch := range c {
			var s float64
			for _, f := range v[(i*c+ch)*hw : (i*c+ch+1)*hw] {
				s += float64(f)
			}
			rows[i][ch] = s / float64(hw)
		}
	}
	return rows
}

// latentPatches cuts test patches for a latent study: every clean image is
// degraded by every degradation in degs (generator (seed, i) for image i,
// as data.EmbeddedEval does) and cut into patch×patch crops on a grid of
// stride patch/2. The classes are the training sources (Degradation.Group:
// the three noise levels are one source, "denoise"); within a source the
// crops cycle through its degradations so every source gets as many patches.
func latentPatches(degs []data.Degradation, clean []*data.Image, patch int, seed uint64) (patches []*data.Image, labels []int, classes []string, err error) {
	if patch < 8 || patch%8 != 0 {
		return nil, nil, nil, fmt.Errorf("latents: patch %d must be a positive multiple of 8", patch)
	}
	groupOf := map[string]int{}
	var members [][]data.Degradation
	for _, d := range degs {
		g, ok := groupOf[d.Group()]
		if !ok {
			g = len(classes)
			groupOf[d.Group()] = g
			classes = append(classes, d.Group())
			members = append(members, nil)
		}
		members[g] = append(members[g], d)
	}
	for g, ds := range members {
		k := 0
		for i, c := range clean {
			if c.H < patch || c.W < patch {
				return nil, nil, nil, fmt.Errorf("latents: image %s is %dx%d, smaller than the %d patch", c.Name, c.H, c.W, patch)
			}
			degraded := make([]*data.Image, len(ds))
			for j, d := range ds {
				degraded[j] = d.Apply(c, rand.New(rand.NewPCG(seed, uint64(i))))
			}
			for y := 0; y+patch <= c.H; y += patch / 2 {
				for x := 0; x+patch <= c.W; x += patch / 2 {
					p, err := degraded[k%len(ds)].Crop(y, x, patch, patch)
					if err != nil {
						return nil, nil, nil, err
					}
					patches, labels = append(patches, p), append(labels, g)
					k++
				}
			}
		}
	}
	return patches, labels, classes, nil
}

// SpaceStudy is what one latent space shows.
type SpaceStudy struct {
	Space string `json:"space"`
	// Probe is the cross-validated accuracy of a nearest-centroid classifier
	// telling the class from the latent; Shuffled is the same probe trained
	// on permuted labels, a control that should sit at Chance (1 / classes).
	Probe    float64 `json:"probe_accuracy"`
	Shuffled float64 `json:"shuffled_accuracy"`
	Chance   float64 `json:"chance"`
	// Linear and LinearShuffled are the same for a linear probe
	// (multinomial logistic regression on standardised latents), which can
	// find a class that differs in a direction the centroids do not show.
	Linear         float64 `json:"linear_probe_accuracy"`
	LinearShuffled float64 `json:"linear_shuffled_accuracy"`
	// W2 is the mean 2-Wasserstein distance between the classes' Gaussian
	// fits (closed form, ot.W2Squared) over all class pairs; Spread is the
	// root mean total variance of a class, sqrt(mean_k tr C_k), and
	// W2/Spread a scale-free reading of W2 that can be compared across spaces.
	W2     float64     `json:"w2_mean"`
	Spread float64     `json:"within_class_spread"`
	W2Pair [][]float64 `json:"w2"`
	// Embedding is the t-SNE position of each patch.
	Embedding [][2]float64 `json:"-"`
}

// LatentStudy is the latent-space analysis of the paper's t-SNE figure, in
// numbers: the paper reads b as degradation-agnostic (probe near chance,
// small W2 between classes) and r as degradation-specific.
type LatentStudy struct {
	Classes []string              `json:"classes"`
	Counts  []int                 `json:"counts"`
	Spaces  [numSpaces]SpaceStudy `json:"spaces"`
	Labels  []int                 `json:"-"`
}

// latentOptions tune studyLatents; zero fields take the defaults.
type latentOptions struct {
	Folds int    // cross-validation folds of the probe [5]
	Seed  uint64 // fold assignment, shuffled control and t-SNE start
	TSNE  tsne.Options
}

// studyLatents measures every space of set: probe accuracy (and its
// shuffled control), W2 between the classes' Gaussian fits, and a t-SNE
// embedding for the picture.
func studyLatents(set latentSet, opt latentOptions) (LatentStudy, error) {
	st := LatentStudy{Classes: set.classes, Labels: set.labels, Counts: make([]int, len(set.classes))}
	if len(set.classes) < 2 {
		return st, fmt.Errorf("latents: %d classes; need at least 2", len(set.classes))
	}
	for _, l := range set.labels {
		if l < 0 || l >= len(set.classes) {
			return st, fmt.Errorf("latents: label %d outside the %d classes", l, len(set.classes))
		}
		st.Counts[l]++
	}
	folds := opt.Folds
	if folds == 0 {
		folds = 5
	}
	for c, n := range st.Counts {
		if n < max(folds, 3) {
			return st, fmt.Errorf("latents: class %s has %d patches; need at least %d", set.classes[c], n, max(folds, 3))
		}
	}
	shuffled := append([]int{}, set.labels...)
	rand.New(rand.NewPCG(opt.Seed, 0x5f)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	topt := opt.TSNE
	if topt.Seed == 0 {
		topt.Seed = opt.Seed
	}
	for k := range numSpaces {
		x := set.spaces[k]
		if len(x) != len(set.labels) {
			return st, fmt.Errorf("latents: %s has %d rows for %d labels", spaceNames[k], len(x), len(set.labels))
		}
		s := SpaceStudy{Space: spaceNames[k], Chance: 1 / float64(len(set.classes))}
		var err error
		if s.Probe, err = probeAccuracy(x, set.labels, len(set.classes), folds, opt.Seed); err != nil {
			return st, err
		}
		if s.Shuffled, err = probeAccuracy(x, shuffled, len(set.classes), folds, opt.Seed); err != nil {
			return st, err
		}
		s.Linear = linearProbeAccuracy(x, set.labels, len(set.classes), folds, opt.Seed)
		s.LinearShuffled = linearProbeAccuracy(x, shuffled, len(set.classes), folds, opt.Seed)
		if s.W2Pair, s.W2, s.Spread, err = classW2(x, set.labels, len(set.classes)); err != nil {
			return st, fmt.Errorf("latents: %s: %w", spaceNames[k], err)
		}
		if s.Embedding, err = tsne.Embed(x, topt); err != nil {
			return st, fmt.Errorf("latents: %s: %w", spaceNames[k], err)
		}
		st.Spaces[k] = s
	}
	return st, nil
}

// classColors are the classes' colours in the picture (colour-blind safe).
var classColors = []color.RGBA{
	{0, 114, 178, 255}, {213, 94, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255},
	{230, 159, 0, 255}, {86, 180, 233, 255}, {0, 0, 0, 255},
}

// picture draws the t-SNE embeddings of s, b and r side by side, each point
// coloured by its class, each panel titled with its probe accuracy and W2.
func (st LatentStudy) picture(title string) (image.Image, error) {
	row := make([]*plot.Plot, numSpaces)
	for k, s := range st.Spaces {
		if len(s.Embedding) != len(st.Labels) {
			return nil, fmt.Errorf("latents: %s has no embedding", s.Space)
		}
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s\nprobes: centroid %.0f%%, linear %.0f%% (chance %.0f%%); W2/spread %.2f",
			s.Space, 100*s.Probe, 100*s.Linear, 100*s.Chance, s.W2/s.Spread)
		p.HideAxes()
		for c, name := range st.Classes {
			var pts plotter.XYs
			for i, l := range st.Labels {
				if l == c {
					pts = append(pts, plotter.XY{X: s.Embedding[i][0], Y: s.Embedding[i][1]})
				}
			}
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return nil, err
			}
			sc.GlyphStyle.Color = classColors[c%len(classColors)]
			sc.GlyphStyle.Radius = vg.Points(2.2)
			sc.GlyphStyle.Shape = draw.CircleGlyph{}
			p.Add(sc)
			if k == 0 {
				p.Legend.Add(name, sc)
			}
		}
		// room on the right for the legend, so it covers no point
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, e := range s.Embedding {
			lo, hi = math.Min(lo, e[0]), math.Max(hi, e[0])
		}
		p.X.Min, p.X.Max = lo, hi+0.3*(hi-lo)
		p.Legend.Top = true
		row[k] = p
	}
	const width, height = 14 * vg.Inch, 5.2 * vg.Inch
	img := vgimg.New(width, height)
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	top := vg.Millimeter * 2
	if title != "" {
		top = vg.Millimeter * 12
		sty := draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, 16),
			Handler: plot.DefaultTextHandler, XAlign: draw.XCenter, YAlign: draw.YTop}
		dc.FillText(sty, vg.Point{X: width / 2, Y: height - vg.Millimeter*3}, title)
	}
	tiles := draw.Tiles{Rows: 1, Cols: numSpaces, PadX: vg.Millimeter * 4, PadTop: top,
		PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align([][]*plot.Plot{row}, tiles, dc)
	for k, p := range row {
		p.Draw(canvases[0][k])
	}
	return img.Image(), nil
}

// writePicture writes picture as a PNG, atomically (temporary file, rename).
func (st LatentStudy) writePicture(path, title string) error {
	im, err := st.picture(title)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, im); err != nil {
		return err
	}
	return data.WriteFileAtomic(path, buf.Bytes())
}

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
				return 0, fmt.Errorf("latents: fold %d leaves class %d without training samples", f, c)
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
