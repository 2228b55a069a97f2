// Command benchmark times a BaryIR training step and inference in Go, in
// PyTorch and (inference) in ONNX Runtime on the same machine, in the same
// run.
//
//	go run ./examples/benchmark [-json] [-configs tiny,mid] [-reps N] [-chart bars.png] [-ranks 1,2]
//	go run ./examples/benchmark -from rows.json -chart bars.png
//
// For each configuration (tiny: baryir.Tiny(); mid: dim 16, blocks 2,2,2,2,
// heads 1,2,4,8, one refinement and one barycenter block), at 64x64, batch
// 4, float32, it measures:
//
//   - step: baryir.Trainer.StepOn on one fixed batch (baryir.PaperTraining:
//     the network's forward, losses, backward and RMSprop step, then the
//     potentials' step);
//   - fwd and fwdbwd: the network's forward plus the L1 loss, without and
//     with the backward pass to every parameter;
//   - infer: the network's forward alone on its own graph;
//
// and prints the medians of -reps runs after two warm-up runs. The Go side
// runs in a child process per configuration (this binary with -child), so
// its peak memory is that child's peak RSS (ru_maxrss), with the garbage
// collector at GOGC=50 by default (-gogc; a training process holds a large
// live heap of activations, and Go's default GOGC=100 lets the heap reach
// twice that before collecting); PyTorch's is the
// ru_maxrss of its own process (torch_bench.py, run with /usr/bin/python3,
// torch.set_num_threads(2)). Where PyTorch cannot be imported, the PyTorch
// half is skipped with a message.
//
// The FLOP share divides the FLOPs of a training step by the step time and
// the machine's peak FLOP rate. A step is counted as 3x the network's
// forward FLOPs (2 per multiply-accumulate of every convolution, linear
// layer and attention product, as layers.MACs counts them; forward +
// backward of the data and weight gradients); the potentials and the
// potentials' step are not counted. The peak is measured at the start of
// each run: an AVX2 FMA loop of independent chains on every core at once,
// the best of 5 trials of about 0.3 s, each core's FLOPs counted over its
// thread's CPU time so that other processes' time slices do not lower it
// (see measurePeak). Where no such loop runs (no AVX2 and FMA, not amd64)
// it is the nominal cores x clock x FLOPs per cycle from lscpu (see
// peakFLOPS), which every row also records.
//
// ONNX Runtime: for every row that measures inference, torch_bench.py
// exports the PyTorch reference (torch.onnx.export, opset 17, seeded random
// weights) and writes the same weights as a .pth state_dict; ort_bench.js
// runs the model through onnxruntime-node's CPU library (every graph
// optimisation, 2 intra-op threads, sequential) on the row's batch and
// size, with the row's warm-up and repetitions, and reports the median,
// the time to create its InferenceSession (reading the model and
// optimising the graph) and its process's peak RSS. Then each side's
// whole process is timed from outside, load + one image: Go reading the
// .pth (this binary with -child-once) and ORT reading the .onnx file, each
// restoring one image of the row's size in one pass; the row records the
// largest difference between their restored images (the same image and
// weights), so the two sides are seen to run one network. Install the library
// without its install script (it downloads from a host this needs not
// reach):
//
//	npm install --ignore-scripts --prefix .dev/ort onnxruntime-node
//
// Without Node, onnxruntime-node or PyTorch (the exporter), or with
// -ort off, the ONNX Runtime fields stay null and the run goes on.
//
// The paper-scale rows (-configs paper-infer-256,paper-infer-512,paper-step-128)
// use the Paper preset (baryir.Paper(): dim 48, blocks 4,6,6,8, refinement
// 4) at fixed sizes, ignoring -batch and -size, and measure one thing each,
// -paper-reps times after one warm-up run:
//
//   - paper-infer-256, paper-infer-512: baryir.Restorer.Restore of one
//     256x256 or 512x512 image (batch 1) in one tile (Tile = the image side,
//     as PyTorch's single pass), against the network's forward under
//     torch.no_grad; their FLOP share is the forward's FLOPs over the
//     inference time;
//   - paper-step-128: baryir.Trainer.StepOn (PaperTraining) on a batch of
//     2 128x128 patches, against the same step in PyTorch.
//
// The fields a row does not measure are 0 for Go and null for PyTorch, and
// "measured" lists those it does.
//
// -ranks 1,2 also times data-parallel training (see Scaling): the step of
// each world size, steps/s, patches/s and the share of the gradients'
// all-reduce; world sizes above 1 run under mpirun, so build the binary
// with -tags baryirmpi:
//
//	go build -tags baryirmpi -o benchmark ./examples/benchmark && ./benchmark -json -ranks 1,2
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir"
	"github.com/x/baryir/data"
	"github.com/x/baryir/layers"
	"github.com/x/baryir/losses"
)

// configs are the benchmarked networks, by name.
func configs() map[string]baryir.Config {
	mid := baryir.Tiny()
	mid.Dim, mid.Blocks = 16, [4]int{2, 2, 2, 2}
	return map[string]baryir.Config{"tiny": baryir.Tiny(), "mid": mid}
}

type options struct {
	asJSON          bool
	configs         []string
	reps            int
	batch, size     int
	python          string
	script          string
	child           string
	gogc            int
	paperReps       int
	ranks           []int  // world sizes of the data-parallel measurement
	childDP         string // internal: one rank of it
	chart, from     string
	ort, node       string // onnxruntime-node's node_modules folder ("off": skip ONNX Runtime) and the Node binary
	childOnce       string // internal: the Go whole process of one configuration
	weights         string // internal: the weights file of -child-once
	image, restored string // internal: where -child-once writes its image and the restored one
}

func main() {
	var o options
	var cfgs string
	flag.BoolVar(&o.asJSON, "json", false, "print the results as JSON")
	flag.StringVar(&cfgs, "configs", "tiny,mid", "comma-separated configurations (tiny, mid, paper-infer-256, paper-infer-512, paper-step-128)")
	flag.IntVar(&o.reps, "reps", 10, "timed runs per measurement (medians are reported)")
	flag.IntVar(&o.paperReps, "paper-reps", 3, "timed runs of the paper-scale rows (after one warm-up)")
	flag.IntVar(&o.batch, "batch", 4, "batch size")
	flag.IntVar(&o.size, "size", 64, "patch side (a multiple of 8)")
	flag.StringVar(&o.python, "python", "/usr/bin/python3", "Python with PyTorch")
	flag.StringVar(&o.script, "torch-script", "", "path of torch_bench.py (default: beside this source)")
	flag.StringVar(&o.child, "child", "", "internal: run the Go measurements of one configuration and print JSON")
	flag.IntVar(&o.gogc, "gogc", 50, "GOGC of the Go child (garbage-collector target: peak heap ~ live x (1 + GOGC/100); Go's default is 100)")
	var ranks string
	flag.StringVar(&ranks, "ranks", "", "comma-separated world sizes to time data-parallel training at, e.g. 1,2 (above 1 under mpirun: build with -tags baryirmpi)")
	flag.StringVar(&o.childDP, "child-dp", "", "internal: run one rank of the data-parallel measurement and print JSON (rank 0)")
	flag.StringVar(&o.chart, "chart", "", "also draw the results as bars (Go beside PyTorch) into this PNG")
	flag.StringVar(&o.from, "from", "", "draw -chart from the rows an earlier -json run printed, without measuring")
	flag.StringVar(&o.ort, "ort", "", "node_modules folder holding onnxruntime-node (default: $NODE_PATH, else .dev/ort/node_modules of this repository); off skips ONNX Runtime")
	flag.StringVar(&o.node, "node", "node", "Node.js binary that runs ort_bench.js")
	flag.StringVar(&o.childOnce, "child-once", "", "internal: read -weights and restore one image of -size in a fresh process (whole-process time)")
	flag.StringVar(&o.weights, "weights", "", "internal: the weights file of -child-once")
	flag.StringVar(&o.image, "image", "", "internal: where -child-once writes its input image (raw float32)")
	flag.StringVar(&o.restored, "restored", "", "internal: where -child-once writes the restored image (raw float32)")
	flag.Parse()
	o.configs = strings.Split(cfgs, ",")
	for _, f := range strings.Split(ranks, ",") {
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "benchmark: -ranks %q: want positive world sizes\n", ranks)
			os.Exit(2)
		}
		o.ranks = append(o.ranks, n)
	}
	if err := run(o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchmark:", err)
		os.Exit(1)
	}
}

// goResult is what a child process measures.
type goResult struct {
	StepS, FwdS, FwdBwdS, InferS float64
	StepAll, InferAll            []float64
	FwdFLOPs                     int64
	Params                       int
	// Measured lists what was measured: step, fwd, fwdbwd, infer.
	Measured []string
}

// torchResult is torch_bench.py's output.
type torchResult struct {
	Torch    string    `json:"torch"`
	StepS    float64   `json:"step_s"`
	StepAll  []float64 `json:"step_all_s"`
	FwdS     float64   `json:"fwd_s"`
	FwdBwdS  float64   `json:"fwdbwd_s"`
	InferS   float64   `json:"infer_s"`
	InferAll []float64 `json:"infer_all_s"`
	PeakMiB  float64   `json:"peak_mib"`
	Params   int       `json:"params"`
}

// Row is one configuration's results, the objects of -json. PyTorch's
// fields are null where PyTorch was skipped.
type Row struct {
	Config       string   `json:"config"`
	GoStepS      float64  `json:"go_step_s"`
	TorchStepS   *float64 `json:"torch_step_s"`
	GoInferS     float64  `json:"go_infer_s"`
	TorchInferS  *float64 `json:"torch_infer_s"`
	GoPeakMiB    float64  `json:"go_peak_mib"`
	TorchPeakMiB *float64 `json:"torch_peak_mib"`
	GoFwdS       float64  `json:"go_fwd_s"`
	TorchFwdS    *float64 `json:"torch_fwd_s"`
	GoFwdBwdS    float64  `json:"go_fwdbwd_s"`
	TorchFwdBwdS *float64 `json:"torch_fwdbwd_s"`
	StepRatio    *float64 `json:"step_ratio"`  // go / torch
	InferRatio   *float64 `json:"infer_ratio"` // go / torch
	// ONNX Runtime (CPU, every graph optimisation, the same threads) on the
	// network PyTorch exports, for the rows that measure inference; null
	// where it was skipped. OrtLoadS is creating ONNX Runtime's
	// InferenceSession (reading the model and optimising the graph); OrtInferRatio is Go / ORT.
	OrtVersion        string   `json:"ort_version,omitempty"`
	OrtInferS         *float64 `json:"ort_infer_s"`
	OrtPeakMiB        *float64 `json:"ort_peak_mib"`
	OrtLoadS          *float64 `json:"ort_load_s"`
	OrtInferRatio     *float64 `json:"ort_infer_ratio"`
	OrtInferFLOPShare *float64 `json:"ort_infer_flop_share"`
	// The whole process beside ONNX Runtime: a fresh process that reads the
	// same weights (Go: a .pth state_dict; ORT: the ONNX file), restores
	// one Size x Size image and exits, wall time and peak RSS.
	GoWholeS        *float64 `json:"go_whole_s"`
	GoWholePeakMiB  *float64 `json:"go_whole_peak_mib"`
	OrtWholeS       *float64 `json:"ort_whole_s"`
	OrtWholePeakMiB *float64 `json:"ort_whole_peak_mib"`
	// OrtMaxAbsDiff is the largest |Go - ORT| over that restored image,
	// ORT's clipped to [0, 1] as the Restorer's: both run one network.
	OrtMaxAbsDiff *float64 `json:"ort_max_abs_diff"`
	// FwdGFLOP is the network's forward; StepGFLOP = 3 FwdGFLOP.
	FwdGFLOP  float64 `json:"fwd_gflop"`
	StepGFLOP float64 `json:"step_gflop"`
	// Shares of the machine's peak FLOP rate during a training step, and
	// during inference (the forward's FLOPs over the inference time).
	GoFLOPShare         float64  `json:"go_flop_share"`
	TorchFLOPShare      *float64 `json:"torch_flop_share"`
	GoInferFLOPShare    float64  `json:"go_infer_flop_share"`
	TorchInferFLOPShare *float64 `json:"torch_infer_flop_share"`
	// Measured lists the measurements the row holds (step, fwd, fwdbwd,
	// infer); the others are 0 (Go) and null (PyTorch).
	Measured []string `json:"measured"`
	// Batch and Size are the images' batch and side.
	Batch int `json:"batch"`
	Size  int `json:"size"`
	// PeakGFLOPS is the peak the shares divide by: measured with an
	// FMA-bound loop on every core where it can be (PeakSource says how),
	// else the nominal one, cores x clock x FLOPs per cycle from lscpu.
	PeakGFLOPS        float64 `json:"peak_gflops"`
	NominalPeakGFLOPS float64 `json:"nominal_peak_gflops"`
	PeakSource        string  `json:"peak_source"`
	Params            int     `json:"params"`
	GoPeakSource      string  `json:"go_peak_source"`
	// 1-minute load averages before and after this configuration's runs:
	// timings taken on a busy machine (load above the core count) are noisy,
	// PyTorch's OpenMP threads especially.
	GoGOGC    int     `json:"go_gogc"`
	LoadStart float64 `json:"load1_start"`
	LoadEnd   float64 `json:"load1_end"`
	// DataParallel is the -ranks measurement, one entry per world size.
	DataParallel []Scaling `json:"data_parallel,omitempty"`
}

// load1 is the 1-minute load average, or -1 where /proc/loadavg is missing.
func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

func run(o options, stdout, stderr io.Writer) error {
	if o.from != "" {
		if o.chart == "" {
			return errors.New("-from needs -chart FILE.png")
		}
		rows, err := readRows(o.from)
		if err != nil {
			return err
		}
		return writeChart(o.chart, rows)
	}
	all, paper := configs(), paperBenches()
	for _, name := range o.configs {
		_, ok := all[name]
		if _, isPaper := paper[name]; !ok && !isPaper {
			return fmt.Errorf("-configs: unknown configuration %q (want tiny, mid, paper-infer-256, paper-infer-512 or paper-step-128)", name)
		}
	}
	if o.reps < 1 || o.paperReps < 1 {
		return fmt.Errorf("-reps %d -paper-reps %d: need at least 1", o.reps, o.paperReps)
	}
	if o.batch < 1 || o.size < 16 || o.size%8 != 0 {
		return fmt.Errorf("-batch %d -size %d: want a positive batch and a multiple of 8 of at least 16", o.batch, o.size)
	}
	if o.childDP != "" {
		if o.gogc != 0 {
			debug.SetGCPercent(o.gogc)
		}
		r, rank, err := measureParallel(all[o.childDP], o)
		if err != nil || rank != 0 {
			return err
		}
		return json.NewEncoder(stdout).Encode(r)
	}
	if o.childOnce != "" {
		net, ok := all[o.childOnce]
		if p, isPaper := paper[o.childOnce]; isPaper && p.what == "infer" {
			net, ok = baryir.Paper(), true
		}
		if !ok {
			return fmt.Errorf("-child-once: no inference row %q", o.childOnce)
		}
		if o.gogc != 0 {
			debug.SetGCPercent(o.gogc)
		}
		return restoreOnce(net, o.weights, o.size, o.image, o.restored)
	}
	if o.child != "" {
		if o.gogc != 0 {
			debug.SetGCPercent(o.gogc)
		}
		var r goResult
		var err error
		if p, ok := paper[o.child]; ok {
			r, err = measurePaper(p, o.paperReps)
		} else {
			r, err = measureGo(all[o.child], o)
		}
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(r)
	}

	nominal, nominalHow := peakFLOPS(lscpu())
	peak, how := measurePeak(5)
	if peak == 0 {
		peak, how = nominal, nominalHow+"; not measured: "+how
	}
	fmt.Fprintf(stderr, "benchmark: machine peak %s\n", how)
	torchOK, why := torchAvailable(o)
	if !torchOK {
		fmt.Fprintf(stderr, "benchmark: skipping PyTorch: %s\n", why)
	}
	ortOK, why := ortAvailable(o, torchOK)
	if !ortOK {
		fmt.Fprintf(stderr, "benchmark: skipping ONNX Runtime: %s\n", why)
	}
	var rows []Row
	for _, name := range o.configs {
		start := load1()
		fmt.Fprintf(stderr, "benchmark: %s: Go...\n", name)
		g, rss, err := runChild(name, o)
		if err != nil {
			return fmt.Errorf("%s: Go: %w", name, err)
		}
		var tr *torchResult
		p, isPaper := paper[name]
		if torchOK {
			fmt.Fprintf(stderr, "benchmark: %s: PyTorch...\n", name)
			if isPaper {
				tr, err = runTorch(baryir.Paper(), torchArgs{batch: p.batch, size: p.size, reps: o.paperReps, warmup: 1, only: p.what}, o)
			} else {
				tr, err = runTorch(all[name], torchArgs{batch: o.batch, size: o.size, reps: o.reps, warmup: 2}, o)
			}
			if err != nil {
				return fmt.Errorf("%s: PyTorch: %w", name, err)
			}
		}
		r := makeRow(name, g, rss, tr, peak)
		r.Batch, r.Size = o.batch, o.size
		if isPaper {
			r.Batch, r.Size = p.batch, p.size
		}
		r.NominalPeakGFLOPS, r.PeakSource = nominal/1e9, how
		if ortOK && slices.Contains(r.Measured, "infer") {
			fmt.Fprintf(stderr, "benchmark: %s: ONNX Runtime...\n", name)
			net, reps, warmup := all[name], o.reps, 2
			if isPaper {
				net, reps, warmup = baryir.Paper(), o.paperReps, 1
			}
			m, err := measureORT(name, net, r.Batch, r.Size, reps, warmup, o)
			if err != nil {
				return fmt.Errorf("%s: ONNX Runtime: %w", name, err)
			}
			addORT(&r, m, peak)
		}
		if len(o.ranks) > 0 && isPaper {
			fmt.Fprintf(stderr, "benchmark: %s: no data-parallel measurement for paper-scale rows\n", name)
		} else if len(o.ranks) > 0 {
			fmt.Fprintf(stderr, "benchmark: %s: data parallel on %v rank(s)...\n", name, o.ranks)
			if r.DataParallel, err = measureScaling(name, o.ranks, o); err != nil {
				return fmt.Errorf("%s: data parallel: %w", name, err)
			}
		}
		r.LoadStart, r.LoadEnd, r.GoGOGC = start, load1(), o.gogc
		rows = append(rows, r)
	}
	if o.chart != "" {
		if err := writeChart(o.chart, rows); err != nil {
			return err
		}
	}
	if o.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	printTable(stdout, rows, how)
	return nil
}

func makeRow(name string, g goResult, rssMiB float64, tr *torchResult, peak float64) Row {
	r := Row{Config: name, GoStepS: g.StepS, GoInferS: g.InferS, GoFwdS: g.FwdS, GoFwdBwdS: g.FwdBwdS,
		GoPeakMiB: rssMiB, FwdGFLOP: float64(g.FwdFLOPs) / 1e9, Params: g.Params, PeakGFLOPS: peak / 1e9,
		GoPeakSource: "peak RSS (ru_maxrss) of the Go child process", Measured: g.Measured}
	if r.Measured == nil {
		r.Measured = []string{"step", "fwd", "fwdbwd", "infer"}
	}
	has := func(m string) bool { return slices.Contains(r.Measured, m) }
	r.StepGFLOP = 3 * r.FwdGFLOP
	share := func(gflop, s float64) float64 {
		if s <= 0 || peak <= 0 {
			return 0
		}
		return gflop * 1e9 / s / peak
	}
	r.GoFLOPShare = share(r.StepGFLOP, g.StepS)
	r.GoInferFLOPShare = share(r.FwdGFLOP, g.InferS)
	if tr != nil {
		// only what both sides measured; the rest stays null
		p := func(m string, v float64) *float64 {
			if !has(m) {
				return nil
			}
			return &v
		}
		ratio := func(m string, a, b float64) *float64 {
			if !has(m) || b <= 0 {
				return nil
			}
			v := a / b
			return &v
		}
		r.TorchPeakMiB = &tr.PeakMiB
		r.TorchStepS, r.TorchInferS = p("step", tr.StepS), p("infer", tr.InferS)
		r.TorchFwdS, r.TorchFwdBwdS = p("fwd", tr.FwdS), p("fwdbwd", tr.FwdBwdS)
		r.StepRatio, r.InferRatio = ratio("step", g.StepS, tr.StepS), ratio("infer", g.InferS, tr.InferS)
		r.TorchFLOPShare = p("step", share(r.StepGFLOP, tr.StepS))
		r.TorchInferFLOPShare = p("infer", share(r.FwdGFLOP, tr.InferS))
	}
	return r
}

func printTable(w io.Writer, rows []Row, peakHow string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "config\tGo step s\ttorch step s\tratio\tGo infer s\ttorch infer s\tratio\tGo fwd s\ttorch fwd s\tGo fwd+bwd s\ttorch fwd+bwd s\tGo peak MiB\ttorch peak MiB\tGFLOP/step\tGo peak%\ttorch peak%\tGFLOP/infer\tGo infer peak%\ttorch infer peak%\t")
	f := func(v *float64, format string) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprintf(format, *v)
	}
	pct := func(v *float64) *float64 {
		if v == nil {
			return nil
		}
		x := 100 * *v
		return &x
	}
	for _, r := range rows {
		// Go's unmeasured fields are zero: print them as "-" too.
		g := func(m string, v float64) *float64 {
			if !slices.Contains(r.Measured, m) {
				return nil
			}
			return &v
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\t%.2f\t%s\t%s\t%.2f\t%s\t%s\t\n",
			r.Config, f(g("step", r.GoStepS), "%.3f"), f(r.TorchStepS, "%.3f"), f(r.StepRatio, "%.2fx"),
			f(g("infer", r.GoInferS), "%.3f"), f(r.TorchInferS, "%.3f"), f(r.InferRatio, "%.2fx"),
			f(g("fwd", r.GoFwdS), "%.3f"), f(r.TorchFwdS, "%.3f"), f(g("fwdbwd", r.GoFwdBwdS), "%.3f"), f(r.TorchFwdBwdS, "%.3f"),
			r.GoPeakMiB, f(r.TorchPeakMiB, "%.0f"), r.StepGFLOP,
			f(pct(g("step", r.GoFLOPShare)), "%.1f%%"), f(pct(r.TorchFLOPShare), "%.1f%%"),
			r.FwdGFLOP, f(pct(g("infer", r.GoInferFLOPShare)), "%.1f%%"), f(pct(r.TorchInferFLOPShare), "%.1f%%"))
	}
	tw.Flush()
	fmt.Fprintln(w, "medians; ratio = Go / PyTorch; Go peak = peak RSS of a child process, torch peak = ru_maxrss of its process; - = not measured")
	if len(rows) > 0 {
		fmt.Fprintf(w, "the Go child runs with GOGC=%d (-gogc; Go's default is 100)\n", rows[0].GoGOGC)
	}
	fmt.Fprintln(w, "GFLOP/step = 3 x the network's forward (2 per MAC of convolutions, linear layers and attention products); GFLOP/infer = the forward")
	fmt.Fprintf(w, "machine peak: %s\n", peakHow)
	if len(rows) > 0 && rows[0].NominalPeakGFLOPS > 0 {
		fmt.Fprintf(w, "nominal peak (lscpu's clock x 32 FLOPs per cycle): %.1f GFLOP/s\n", rows[0].NominalPeakGFLOPS)
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%s: batch %d of %dx%d; 1-minute load average %.2f before, %.2f after (timings are noisy above %d)\n",
			r.Config, r.Batch, r.Size, r.Size, r.LoadStart, r.LoadEnd, runtime.NumCPU())
		if r.OrtInferS != nil {
			fmt.Fprintf(w, "%s ONNX Runtime %s: infer %.3f s (Go / ORT %.2fx), %.1f%% of peak, InferenceSession created in %.2f s, peak %.0f MiB; whole process (weights + one %dx%d image): Go %.2f s %.0f MiB, ORT %.2f s %.0f MiB; outputs %.1e apart\n",
				r.Config, r.OrtVersion, *r.OrtInferS, *r.OrtInferRatio, 100*orZero(r.OrtInferFLOPShare), *r.OrtLoadS, *r.OrtPeakMiB,
				r.Size, r.Size, *r.GoWholeS, *r.GoWholePeakMiB, *r.OrtWholeS, *r.OrtWholePeakMiB, orZero(r.OrtMaxAbsDiff))
		}
		for _, s := range r.DataParallel {
			fmt.Fprintf(w, "%s data parallel, %d rank(s) of GOMAXPROCS %d: %.3f s/step, %.2f steps/s, %.1f patches/s, all-reduce %.1f%% of a step\n",
				r.Config, s.Ranks, s.Procs, s.StepS, s.StepsPerS, s.PatchesPerS, 100*s.CommShare)
		}
	}
}

// runChild measures one configuration in a child process and returns its
// results and peak RSS in MiB.
func runChild(name string, o options) (goResult, float64, error) {
	exe, err := os.Executable()
	if err != nil {
		return goResult{}, 0, err
	}
	cmd := exec.Command(exe, "-child", name, "-reps", strconv.Itoa(o.reps), "-paper-reps", strconv.Itoa(o.paperReps),
		"-batch", strconv.Itoa(o.batch), "-size", strconv.Itoa(o.size), "-gogc", strconv.Itoa(o.gogc))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return goResult{}, 0, err
	}
	var r goResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return r, 0, fmt.Errorf("child output: %w", err)
	}
	var rss float64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return r, rss, nil
}

// stepTrainer is the PaperTraining trainer of net for batches of batch
// size x size patches of the embedded photos, and the one fixed batch
// the benchmark steps on.
func stepTrainer(net baryir.Config, batch, size int) (*baryir.Trainer, *data.Batch, error) {
	cfg := baryir.PaperTraining(net)
	cfg.Batch, cfg.Patch, cfg.Seed = batch, size, 1
	src, err := data.EmbeddedSources(data.ThreeDegradations())
	if err != nil {
		return nil, nil, err
	}
	s, err := data.NewSampler(src, cfg.Patch, cfg.Seed)
	if err != nil {
		return nil, nil, err
	}
	b, err := s.Next(cfg.Batch)
	if err != nil {
		return nil, nil, err
	}
	tr, err := baryir.NewTrainer(cfg, s)
	return tr, b, err
}

// measureGo times one configuration in this process.
func measureGo(net baryir.Config, o options) (goResult, error) {
	var r goResult
	tr, batch, err := stepTrainer(net, o.batch, o.size)
	if err != nil {
		return r, err
	}
	r.StepS, r.StepAll, err = timed(o.reps, func() error { _, err := tr.StepOn(batch); return err })
	tr.Close()
	if err != nil {
		return r, err
	}

	// Forward (+ backward) of the network with the L1 loss.
	g := G.NewGraph()
	nw, err := net.Build(layers.NewScope(g, tensor.Float32, 1))
	if err != nil {
		return r, err
	}
	img := []int{o.batch, 3, o.size, o.size}
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(img...), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(img...), tensor.WithBacking(batch.Degraded))))
	y := G.NewTensor(g, tensor.Float32, 4, G.WithShape(img...), G.WithName("y"),
		G.WithValue(tensor.New(tensor.WithShape(img...), tensor.WithBacking(batch.Clean))))
	out, err := nw.Forward(x)
	if err != nil {
		return r, err
	}
	l1, err := losses.L1(out.Restored, y)
	if err != nil {
		return r, err
	}
	params := make(G.Nodes, 0, len(nw.Scope.Params()))
	for _, p := range nw.Scope.Params() {
		params = append(params, p.Node)
		r.Params += p.Node.Shape().TotalSize()
	}
	grads, err := G.Grad(l1, params...)
	if err != nil {
		return r, err
	}
	fwd := G.NewTapeMachine(g.SubgraphRoots(l1))
	r.FwdS, _, err = timed(o.reps, func() error { fwd.Reset(); return fwd.RunAll() })
	fwd.Close()
	if err != nil {
		return r, err
	}
	fb := G.NewTapeMachine(g.SubgraphRoots(append(G.Nodes{l1}, grads...)...))
	r.FwdBwdS, _, err = timed(o.reps, func() error { fb.Reset(); return fb.RunAll() })
	fb.Close()
	if err != nil {
		return r, err
	}

	// Inference: the forward alone on its own graph.
	gi := G.NewGraph()
	ni, err := net.Build(layers.NewScope(gi, tensor.Float32, 1))
	if err != nil {
		return r, err
	}
	xi := G.NewTensor(gi, tensor.Float32, 4, G.WithShape(img...), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(img...), tensor.WithBacking(batch.Degraded))))
	oi, err := ni.Forward(xi)
	if err != nil {
		return r, err
	}
	r.FwdFLOPs = countFLOPs(gi)
	inf := G.NewTapeMachine(gi.SubgraphRoots(oi.Restored))
	r.InferS, r.InferAll, err = timed(o.reps, func() error { inf.Reset(); return inf.RunAll() })
	inf.Close()
	return r, err
}

// timed runs f twice to warm up, then reps times, and returns the median
// and every time in seconds.
func timed(reps int, f func() error) (float64, []float64, error) { return timedWarm(2, reps, f) }

// timedWarm is timed with warm warm-up runs.
func timedWarm(warm, reps int, f func() error) (float64, []float64, error) {
	for range warm {
		if err := f(); err != nil {
			return 0, nil, err
		}
	}
	all := make([]float64, reps)
	for i := range all {
		t := time.Now()
		if err := f(); err != nil {
			return 0, nil, err
		}
		all[i] = time.Since(t).Seconds()
	}
	return median(all), all, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// countFLOPs is 2 x the multiply-accumulates of g's kernels.
func countFLOPs(g *G.ExprGraph) int64 { return 2 * layers.MACs(g) }

// torchAvailable reports whether the Python can import torch, and why not.
func torchAvailable(o options) (bool, string) {
	if _, err := exec.LookPath(o.python); err != nil {
		return false, fmt.Sprintf("%s not found", o.python)
	}
	if _, err := os.Stat(scriptPath(o)); err != nil {
		return false, fmt.Sprintf("torch_bench.py not found (%v); pass -torch-script", err)
	}
	out, err := exec.Command(o.python, "-c", "import torch").CombinedOutput()
	if err != nil {
		return false, fmt.Sprintf("%s cannot import torch: %s", o.python, strings.TrimSpace(lastLine(string(out))))
	}
	return true, ""
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func scriptPath(o options) string {
	if o.script != "" {
		return o.script
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		p := filepath.Join(filepath.Dir(file), "torch_bench.py")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return filepath.Join("examples", "benchmark", "torch_bench.py")
}

// torchArgs are the sizes and repetitions of one torch_bench.py run; only
// ("step" or "infer") restricts it to one measurement.
type torchArgs struct {
	batch, size, reps, warmup int
	only                      string
}

func runTorch(net baryir.Config, a torchArgs, o options) (*torchResult, error) {
	args := append([]string{scriptPath(o)}, netArgs(net)...)
	args = append(args, "--batch", strconv.Itoa(a.batch), "--size", strconv.Itoa(a.size), "--reps", strconv.Itoa(a.reps),
		"--warmup", strconv.Itoa(a.warmup), "--threads", "2")
	if a.only != "" {
		args = append(args, "--only", a.only)
	}
	cmd := exec.Command(o.python, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: %s", err, lastLine(errb.String()))
	}
	var r torchResult
	if err := json.Unmarshal([]byte(lastLine(out.String())), &r); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	return &r, nil
}

// lscpu returns lscpu's output, or "" where it cannot run.
func lscpu() string {
	out, err := exec.Command("lscpu").Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// peakFLOPS estimates the machine's peak float32 FLOP rate from lscpu's
// output: cores x clock x FLOPs per cycle. The clock is "CPU max MHz" where
// lscpu gives it, else the BogoMIPS / 2 (the TSC rate on x86); FLOPs per
// cycle are 32 with AVX2 and FMA (two 8-wide FMA pipes), 16 with AVX, 8
// otherwise. AVX-512 is not counted higher: AMD's Zen 4 runs it as two
// 256-bit halves. It returns the rate and how it was estimated.
func peakFLOPS(lscpu string) (float64, string) {
	fields := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(lscpu))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	cpus, err := strconv.Atoi(fields["CPU(s)"])
	if err != nil || cpus < 1 {
		cpus = runtime.NumCPU()
	}
	var ghz float64
	var clock string
	if v, err := strconv.ParseFloat(fields["CPU max MHz"], 64); err == nil && v > 0 {
		ghz, clock = v/1000, "CPU max MHz"
	} else if v, err := strconv.ParseFloat(fields["BogoMIPS"], 64); err == nil && v > 0 {
		ghz, clock = v/2000, "BogoMIPS/2"
	}
	if ghz == 0 {
		return 0, "unknown (lscpu gave no clock)"
	}
	flags := " " + fields["Flags"] + " "
	has := func(f string) bool { return strings.Contains(flags, " "+f+" ") }
	perCycle, simd := 8.0, "no AVX"
	switch {
	case has("avx2") && has("fma"):
		perCycle, simd = 32, "AVX2+FMA float32: 2 FMA x 8 lanes x 2"
	case has("avx"):
		perCycle, simd = 16, "AVX float32"
	}
	peak := float64(cpus) * ghz * 1e9 * perCycle
	return peak, fmt.Sprintf("%.1f GFLOP/s = %d cores x %.2f GHz (%s) x %g FLOPs/cycle (%s)",
		peak/1e9, cpus, ghz, clock, perCycle, simd)
}
