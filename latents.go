package baryir

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/data"
	"github.com/x/baryir/internal/tsne"
	"github.com/x/baryir/layers"
)

// The three latent spaces of BaryNet's bottleneck, in the order of
// LatentSet's fields: the source latent s, the barycenter latent b = T(s)
// and the residual r = s - b (the paper's Eq. 9-10).
const (
	SpaceSource = iota
	SpaceBary
	SpaceResidual
	numSpaces
)

var spaceNames = [numSpaces]string{"source s", "barycenter b", "residual r"}

// LatentSet holds one row per patch in each space: the latent's channels
// averaged over its spatial positions (8 x dim values), with the patch's
// class (an index into Classes).
type LatentSet struct {
	Classes []string
	Labels  []int
	Spaces  [numSpaces][][]float64
}

// CollectLatents runs r's network (BaryNet) on patches, all the same size
// (a multiple of 8), and returns their pooled latents, labelled.
func CollectLatents(r *Restorer, patches []*data.Image, labels []int, classes []string) (LatentSet, error) {
	set := LatentSet{Classes: classes, Labels: labels}
	if len(patches) == 0 || len(patches) != len(labels) {
		return set, errorf("latents: %d patches and %d labels", len(patches), len(labels))
	}
	for _, l := range labels {
		if l < 0 || l >= len(classes) {
			return set, errorf("latents: label %d outside the %d classes", l, len(classes))
		}
	}
	h, w := patches[0].H, patches[0].W
	const batch = 16
	for start := 0; start < len(patches); start += batch {
		chunk := patches[start:min(start+batch, len(patches))]
		for _, p := range chunk {
			if p.H != h || p.W != w {
				return set, errorf("latents: patch %s is %dx%d, the first is %dx%d", p.Name, p.H, p.W, h, w)
			}
		}
		x, err := data.Stack(chunk)
		if err != nil {
			return set, err
		}
		out, err := latentsOf(r.arch, r.weights, x, len(chunk), h, w)
		if err != nil {
			return set, err
		}
		for k := range numSpaces {
			set.Spaces[k] = append(set.Spaces[k], out[k]...)
		}
	}
	return set, nil
}

// latentsOf builds the network for a (b, 3, h, w) batch, runs it and
// returns the pooled s, b, r rows of each sample.
func latentsOf(arch Architecture, weights map[string]*tensor.Dense, x []float32, b, h, w int) ([numSpaces][][]float64, error) {
	var out [numSpaces][][]float64
	g := G.NewGraph()
	net, err := NewNetwork(layers.NewScope(g, tensor.Float32, 0).WithValues(weights), arch)
	if err != nil {
		return out, err
	}
	if err := checkBound(net, weights); err != nil {
		return out, err
	}
	if net.Map == nil {
		return out, errorf("latents: the network %s has no barycenter map, so no barycenter latent", describe(arch))
	}
	net.DropResidual = false // the latents are the same either way; the decoder is not read
	in := G.NewTensor(g, tensor.Float32, 4, G.WithShape(b, 3, h, w), G.WithName("input"))
	o, err := net.Forward(in)
	if err != nil {
		return out, err
	}
	// Kernel outputs are recycled once their consumers have run (the op
	// package's buffer pool), so read copies that nothing consumes.
	var nodes [numSpaces]*G.Node
	for k, n := range [numSpaces]*G.Node{o.Source, o.Bary, o.Residual} {
		if nodes[k], err = layers.Scale(n, 1); err != nil {
			return out, err
		}
	}
	vals, err := runGraph(g, in, tensor.New(tensor.WithShape(b, 3, h, w), tensor.WithBacking(x)), nodes[:])
	if err != nil {
		return out, errorf("latents: %w", err)
	}
	for k, v := range vals {
		shape := nodes[k].Shape() // (b, c, h/8, w/8)
		c, hw := shape[1], shape[2]*shape[3]
		for i := range b {
			row := make([]float64, c)
			for ch := range c {
				var s float64
				for _, f := range v[(i*c+ch)*hw : (i*c+ch+1)*hw] {
					s += float64(f)
				}
				row[ch] = s / float64(hw)
			}
			out[k] = append(out[k], row)
		}
	}
	return out, nil
}

// runGraph binds input to x, runs g once on the CPU and copies out the
// values of nodes. It is the one place that picks the machine (gorgonia's
// tape machine) so it can be swapped for another.
func runGraph(g *G.ExprGraph, x *G.Node, input *tensor.Dense, nodes []*G.Node) ([][]float32, error) {
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := G.Let(x, input); err != nil {
		return nil, err
	}
	if err := m.RunAll(); err != nil {
		return nil, err
	}
	out := make([][]float32, len(nodes))
	for i, n := range nodes {
		d, ok := n.Value().Data().([]float32)
		if !ok {
			return nil, errorf("node %s holds %T, want float32", n.Name(), n.Value().Data())
		}
		out[i] = append([]float32{}, d...)
	}
	return out, nil
}

// LatentPatches cuts test patches for a latent study: every clean image is
// degraded by every degradation in degs (generator (seed, i) for image i,
// as data.EmbeddedEval does) and cut into patch×patch crops on a grid of
// stride patch/2. The classes are the training sources (Degradation.Group:
// the three noise levels are one source, "denoise"); within a source the
// crops cycle through its degradations so every source gets as many patches.
func LatentPatches(degs []data.Degradation, clean []*data.Image, patch int, seed uint64) (patches []*data.Image, labels []int, classes []string, err error) {
	if patch < 8 || patch%8 != 0 {
		return nil, nil, nil, errorf("latents: patch %d must be a positive multiple of 8", patch)
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
				return nil, nil, nil, errorf("latents: image %s is %dx%d, smaller than the %d patch", c.Name, c.H, c.W, patch)
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

// LatentOptions tune StudyLatents; zero fields take the defaults.
type LatentOptions struct {
	Folds int    // cross-validation folds of the probe [5]
	Seed  uint64 // fold assignment, shuffled control and t-SNE start
	TSNE  tsne.Options
}

// StudyLatents measures every space of set: probe accuracy (and its
// shuffled control), W2 between the classes' Gaussian fits, and a t-SNE
// embedding for the picture.
func StudyLatents(set LatentSet, opt LatentOptions) (LatentStudy, error) {
	st := LatentStudy{Classes: set.Classes, Labels: set.Labels, Counts: make([]int, len(set.Classes))}
	if len(set.Classes) < 2 {
		return st, errorf("latents: %d classes; need at least 2", len(set.Classes))
	}
	for _, l := range set.Labels {
		if l < 0 || l >= len(set.Classes) {
			return st, errorf("latents: label %d outside the %d classes", l, len(set.Classes))
		}
		st.Counts[l]++
	}
	folds := opt.Folds
	if folds == 0 {
		folds = 5
	}
	for c, n := range st.Counts {
		if n < max(folds, 3) {
			return st, errorf("latents: class %s has %d patches; need at least %d", set.Classes[c], n, max(folds, 3))
		}
	}
	shuffled := append([]int{}, set.Labels...)
	rand.New(rand.NewPCG(opt.Seed, 0x5f)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	topt := opt.TSNE
	if topt.Seed == 0 {
		topt.Seed = opt.Seed
	}
	for k := range numSpaces {
		x := set.Spaces[k]
		if len(x) != len(set.Labels) {
			return st, errorf("latents: %s has %d rows for %d labels", spaceNames[k], len(x), len(set.Labels))
		}
		s := SpaceStudy{Space: spaceNames[k], Chance: 1 / float64(len(set.Classes))}
		var err error
		if s.Probe, err = probeAccuracy(x, set.Labels, len(set.Classes), folds, opt.Seed); err != nil {
			return st, err
		}
		if s.Shuffled, err = probeAccuracy(x, shuffled, len(set.Classes), folds, opt.Seed); err != nil {
			return st, err
		}
		s.Linear = linearProbeAccuracy(x, set.Labels, len(set.Classes), folds, opt.Seed)
		s.LinearShuffled = linearProbeAccuracy(x, shuffled, len(set.Classes), folds, opt.Seed)
		if s.W2Pair, s.W2, s.Spread, err = classW2(x, set.Labels, len(set.Classes)); err != nil {
			return st, errorf("latents: %s: %w", spaceNames[k], err)
		}
		if s.Embedding, err = tsne.Embed(x, topt); err != nil {
			return st, errorf("latents: %s: %w", spaceNames[k], err)
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

// Picture draws the t-SNE embeddings of s, b and r side by side, each point
// coloured by its class, each panel titled with its probe accuracy and W2.
func (st LatentStudy) Picture(title string) (image.Image, error) {
	row := make([]*plot.Plot, numSpaces)
	for k, s := range st.Spaces {
		if len(s.Embedding) != len(st.Labels) {
			return nil, errorf("latents: %s has no embedding", s.Space)
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

// WritePicture writes Picture as a PNG, atomically (temporary file, rename).
func (st LatentStudy) WritePicture(path, title string) error {
	im, err := st.Picture(title)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, im); err != nil {
		return err
	}
	return data.WriteFileAtomic(path, buf.Bytes())
}
