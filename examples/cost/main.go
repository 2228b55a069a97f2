// Command cost prints the paper's cost tables (Tab. XII and XIII) for this
// library's networks: the parameters in training (the network and, with a
// barycenter map, its latent potentials, one per training source, sized
// for the training patch) and at inference (the network alone), the cost
// of one forward pass on a -size x -size image (the multiply-accumulates of
// every convolution, linear layer and attention product, as layers.MACs
// counts them, and FLOPs, 2 per multiply-accumulate), and the time to
// restore one such image here (baryir.Restorer in one tile, the median of
// -reps runs after a warm-up).
//
//	go run ./examples/cost [-preset paper] [-size 256] [-reps 3] [-json] [-out DIR]
//
// It prints the table as markdown (-json: as JSON) and, with -out, writes
// both to DIR/cost.md and DIR/cost.json. Times are this machine's CPU on
// GOMAXPROCS threads; the paper's are an RTX 4090's.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir"
	"github.com/x/baryir/data"
	"github.com/x/baryir/layers"
	"github.com/x/baryir/ot"
)

// method is one row of the table: a name and the network it measures.
type method struct {
	name string
	net  baryir.Architecture
}

// methods are the table's rows for the preset c, as the paper's Tab. XIII
// lists them: each backbone plain, then with BaryIR's map.
func methods(c baryir.Config) []method {
	return []method{
		{"Restormer", c.Restormer()},
		{"BaryIR", c},
		{"PromptIR", baryir.PromptIR{Net: c.Restormer()}},
		{"BaryIR (PromptIR)", baryir.PromptIR{Net: c}},
	}
}

// Row is one method's costs.
type Row struct {
	Method  string `json:"method"`
	Network string `json:"network"` // the architecture, as its String describes it
	// TrainParams counts the network and its latent potentials;
	// InferParams the network alone.
	TrainParams int `json:"train_params"`
	InferParams int `json:"infer_params"`
	// GMACs are the multiply-accumulates of one forward pass on a Size x
	// Size image, GFLOPs twice that (many papers' "FLOPs" count MACs).
	GMACs   float64 `json:"gmacs"`
	GFLOPs  float64 `json:"gflops"`
	Seconds float64 `json:"seconds"` // median time to restore one Size x Size image
}

// Table is what -json prints and cost.json holds.
type Table struct {
	Preset  string `json:"preset"`
	Size    int    `json:"size"`    // image side of the FLOPs and times
	Patch   int    `json:"patch"`   // training patch the potentials are sized for
	Sources int    `json:"sources"` // training sources, one potential each
	Reps    int    `json:"reps"`
	Threads int    `json:"threads"` // GOMAXPROCS
	Rows    []Row  `json:"rows"`
}

type options struct {
	preset, out          string
	size, patch, sources int
	reps                 int
	asJSON               bool
}

func main() {
	var o options
	flag.StringVar(&o.preset, "preset", "paper", "network size: paper, authors or tiny")
	flag.IntVar(&o.size, "size", 256, "image side for FLOPs and time (a multiple of 8; the paper's 256)")
	flag.IntVar(&o.patch, "patch", 128, "training patch side the potentials are sized for (a multiple of 8; the paper's 128)")
	flag.IntVar(&o.sources, "sources", 5, "training sources, one potential each (the paper's Tab. XIII: five degradations)")
	flag.IntVar(&o.reps, "reps", 3, "timed restorations per method, after one warm-up")
	flag.BoolVar(&o.asJSON, "json", false, "print the table as JSON instead of markdown")
	flag.StringVar(&o.out, "out", "", "also write cost.md and cost.json into this folder")
	flag.Parse()
	if err := run(o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cost:", err)
		os.Exit(1)
	}
}

func run(o options, stdout, log io.Writer) error {
	presets := map[string]func() baryir.Config{"paper": baryir.Paper, "authors": baryir.Authors, "tiny": baryir.Tiny}
	preset, ok := presets[o.preset]
	switch {
	case !ok:
		return fmt.Errorf("-preset %q: want paper, authors or tiny", o.preset)
	case o.size < 8 || o.size%8 != 0 || o.size > 4096:
		return fmt.Errorf("-size %d: want a multiple of 8 from 8 to 4096", o.size)
	case o.patch < 16 || o.patch%8 != 0 || o.patch > 4096:
		return fmt.Errorf("-patch %d: want a multiple of 8 from 16 to 4096", o.patch)
	case o.sources < 1 || o.sources > 64:
		return fmt.Errorf("-sources %d: want 1 to 64", o.sources)
	case o.reps < 1 || o.reps > 1000:
		return fmt.Errorf("-reps %d: want 1 to 1000", o.reps)
	}
	t := Table{Preset: o.preset, Size: o.size, Patch: o.patch, Sources: o.sources, Reps: o.reps, Threads: runtime.GOMAXPROCS(0)}
	for _, m := range methods(preset()) {
		fmt.Fprintf(log, "measuring %s (%s)\n", m.name, describe(m.net))
		r, err := measure(m, o)
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		t.Rows = append(t.Rows, r)
	}
	js, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	md := markdown(t)
	if o.out != "" {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return err
		}
		if err := data.WriteFileAtomic(filepath.Join(o.out, "cost.json"), append(js, '\n')); err != nil {
			return err
		}
		if err := data.WriteFileAtomic(filepath.Join(o.out, "cost.md"), []byte(md)); err != nil {
			return err
		}
	}
	if o.asJSON {
		_, err = fmt.Fprintln(stdout, string(js))
	} else {
		_, err = io.WriteString(stdout, md)
	}
	return err
}

// measure counts m's parameters and FLOPs and times its restorations.
func measure(m method, o options) (Row, error) {
	r := Row{Method: m.name, Network: describe(m.net)}
	g := G.NewGraph()
	net, err := m.net.Build(layers.NewScope(g, tensor.Float32, 1))
	if err != nil {
		return r, err
	}
	for _, p := range net.Scope.Params() {
		r.InferParams += p.Node.Shape().TotalSize()
	}
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 3, o.size, o.size), G.WithName("x"))
	if _, err := net.Forward(x); err != nil {
		return r, err
	}
	r.GMACs = float64(layers.MACs(g)) / 1e9
	r.GFLOPs = 2 * r.GMACs
	r.TrainParams = r.InferParams
	if net.Map != nil {
		n, err := potentialParams(m.net, o)
		if err != nil {
			return r, err
		}
		r.TrainParams += n
	}
	sd, err := baryir.StateDictOf(net.Scope.Params())
	if err != nil {
		return r, err
	}
	// One tile: the image in one pass.
	res, err := baryir.NewRestorer(m.net, sd, baryir.RestorerOptions{Tile: o.size, Overlap: min(32, o.size/2)})
	if err != nil {
		return r, err
	}
	defer res.Close()
	img := data.NewImage("random", o.size, o.size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = rng.Float32()
	}
	var times []float64
	for i := range o.reps + 1 {
		start := time.Now()
		if _, err := res.Restore(img); err != nil {
			return r, err
		}
		if i > 0 { // the first is the warm-up
			times = append(times, time.Since(start).Seconds())
		}
	}
	slices.Sort(times)
	r.Seconds = times[len(times)/2]
	if len(times)%2 == 0 {
		r.Seconds = (times[len(times)/2-1] + times[len(times)/2]) / 2
	}
	return r, nil
}

// potentialParams counts the latent potentials of arch trained on
// o.patch-sized patches of o.sources sources.
func potentialParams(arch baryir.Architecture, o options) (int, error) {
	g := G.NewGraph()
	net, err := arch.Build(layers.NewScope(g, tensor.Float32, 1))
	if err != nil {
		return 0, err
	}
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 3, o.patch, o.patch), G.WithName("x"))
	out, err := net.Forward(x)
	if err != nil {
		return 0, err
	}
	w := make([]float64, o.sources)
	for k := range w {
		w[k] = 1 / float64(o.sources)
	}
	lat := out.Source.Shape()
	pots, err := baryir.NewLatentPotentials(layers.NewScope(g, tensor.Float32, 2), ot.PotentialsConfig{Weights: w, Mode: ot.Exact}, lat[1], lat[2], lat[3])
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range pots.Learnables() {
		n += p.Shape().TotalSize()
	}
	return n, nil
}

// describe names an architecture: its String, if it has one.
func describe(a baryir.Architecture) string {
	if s, ok := a.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", a)
}

// markdown is t as the paper's Tab. XII/XIII columns.
func markdown(t Table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Cost, preset %s: FLOPs and time per %dx%d image (time: median of %d restorations on %d CPU threads); "+
		"training parameters include %d latent potentials sized for %dx%d patches.\n\n", t.Preset, t.Size, t.Size, t.Reps, t.Threads, t.Sources, t.Patch, t.Patch)
	b.WriteString("| Method | #Param (training) | #Param (inference) | MACs | FLOPs | Time |\n|---|---|---|---|---|---|\n")
	for _, r := range t.Rows {
		fmt.Fprintf(&b, "| %s | %.1fM | %.1fM | %.1fG | %.1fG | %.2fs |\n", r.Method, float64(r.TrainParams)/1e6, float64(r.InferParams)/1e6,
			r.GMACs, r.GFLOPs, r.Seconds)
	}
	return b.String()
}
