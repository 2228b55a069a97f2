//go:build baryirgpu

// Command gpubench times a BaryIR training step (network, L1 loss,
// gradients, on-device RMSProp) and inference on the GPU executor of
// internal/gpu, and reports device memory. torch_bench.py beside it times
// PyTorch on the same network; scripts/gpu_check.sh runs both.
//
//	go test -c is not needed: go build -tags baryirgpu ./internal/cmd/gpubench
//	./gpubench -preset paper -batch 8 -size 128
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir"
	"github.com/x/baryir/internal/gpu"
	"github.com/x/baryir/layers"
	"github.com/x/baryir/losses"
)

func main() {
	preset := flag.String("preset", "paper", "paper or tiny")
	batch := flag.Int("batch", 8, "batch size")
	size := flag.Int("size", 128, "patch side")
	steps := flag.Int("steps", 5, "timed training steps")
	infers := flag.Int("infer", 10, "timed inference runs")
	inferSize := flag.Int("infersize", 512, "side of the one image timed for inference")
	precs := flag.String("precision", "fp32,tf32,bf16", "comma-separated precisions to run, each in turn")
	trainer := flag.Bool("trainer", true, "also time baryir's whole Trainer step (AuthorsTraining: both phases and the penalty step)")
	track := flag.Int("track", 0, "also train this many Trainer steps at each precision from the same start and compare the L1 curves and the restored photos' PSNR")
	profile := flag.Bool("profile", false, "also profile one training step per op kind")
	jsonOut := flag.String("json", "", "write results as JSON to this file")
	gemm := flag.Bool("gemmbench", false, "also time the SGEMM variants (and cuBLASLt at each precision) on the network's typical shapes")
	flag.Parse()
	var ps []baryir.Precision
	for _, name := range strings.Split(*precs, ",") {
		p, err := baryir.ParsePrecision(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gpubench:", err)
			os.Exit(2)
		}
		ps = append(ps, p)
	}
	cfg := baryir.Paper()
	switch *preset {
	case "paper":
	case "tiny":
		cfg = baryir.Tiny()
	default:
		fmt.Fprintf(os.Stderr, "gpubench: unknown preset %q (want paper or tiny)\n", *preset)
		os.Exit(2)
	}
	if *batch < 1 || *size < 8 || *size%8 != 0 || *inferSize < 8 || *inferSize%8 != 0 || *steps < 1 || *infers < 1 {
		fmt.Fprintln(os.Stderr, "gpubench: batch, steps and infer must be positive; size and infersize multiples of 8")
		os.Exit(2)
	}
	d, err := gpu.Open(0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gpubench:", err)
		os.Exit(1)
	}
	rep := report{Device: d.Name(), Preset: *preset, Batch: *batch, Size: *size, InferSize: *inferSize}
	if name, v, err := d.LoadBLAS(); err != nil {
		rep.BLAS = err.Error()
	} else {
		rep.BLAS = fmt.Sprintf("%s (version %d)", name, v)
	}
	fmt.Printf("device %s; cuBLASLt: %s\n", rep.Device, rep.BLAS)
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "gpubench:", err)
		if *jsonOut != "" {
			rep.Error = err.Error()
			writeJSON(*jsonOut, rep)
		}
		os.Exit(1)
	}
	if *gemm {
		if err := gemmBench(d, ps); err != nil {
			fail(err)
		}
	}
	for _, p := range ps {
		res, err := run(d, cfg, p, *batch, *size, *inferSize, *steps, *infers, *profile)
		if err == nil && *trainer {
			err = trainerBench(&res, cfg, p, *batch, *size, *steps)
		}
		rep.Runs = append(rep.Runs, res)
		if err != nil {
			fail(fmt.Errorf("%s: %w", p, err))
		}
	}
	if *track > 0 {
		t, err := trackBench(cfg, ps, *batch, *size, *track)
		rep.Track = t
		if err != nil {
			fail(fmt.Errorf("track: %w", err))
		}
	}
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, rep); err != nil {
			fail(err)
		}
	}
}

// report is everything one run of gpubench measured.
type report struct {
	Device, Preset         string
	Batch, Size, InferSize int
	BLAS                   string // the cuBLASLt loaded, or why none
	Runs                   []result
	Track                  *track `json:",omitempty"`
	Error                  string `json:",omitempty"`
}

func writeJSON(path string, v any) error {
	buf, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, buf, 0o644)
}

// gpuPrecision is the executor's name for p (the enums share their order;
// package baryir's machine_gpu.go maps them the same way).
func gpuPrecision(p baryir.Precision) gpu.Precision { return gpu.Precision(p) }

// result is one precision's figures: the executor's network step
// (forward, L1, backward, RMSProp) and inference, and the Trainer's step.
type result struct {
	Precision                string
	Params                   int
	TrainNodes, InferNodes   int
	CompileTrainS            float64
	TrainStepMs, InferMs     float64
	TrainStepsMs, InferAllMs []float64
	TrainPeakMiB             float64
	InferPeakMiB             float64
	DriverUsedMiB            float64
	Loss0, LossN             float64
	// The whole Trainer step (AuthorsTraining(preset): network step,
	// potentials' step, penalty step), through package baryir's Machine.
	TrainerStepMs  float64   `json:",omitempty"`
	TrainerStepsMs []float64 `json:",omitempty"`
	TrainerPeakMiB float64   `json:",omitempty"`
	TrainerMakeS   float64   `json:",omitempty"`
	// BLASFallbacks are the products cuBLASLt had no algorithm for (run in
	// float32 instead), over this and the earlier precisions' runs.
	BLASFallbacks []string           `json:",omitempty"`
	Profile       map[string]float64 `json:",omitempty"`
}

func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func build(cfg baryir.Config, b, hw int, train bool) (g *G.ExprGraph, x, y, cost, out *G.Node, params, grads G.Nodes, err error) {
	g = G.NewGraph()
	net, err := cfg.Build(layers.NewScope(g, tensor.Float32, 1))
	if err != nil {
		return
	}
	x = G.NewTensor(g, tensor.Float32, 4, G.WithShape(b, 3, hw, hw), G.WithName("x"))
	y = G.NewTensor(g, tensor.Float32, 4, G.WithShape(b, 3, hw, hw), G.WithName("y"))
	o, err := net.Forward(x)
	if err != nil {
		return
	}
	out = o.Restored
	for _, p := range net.Scope.Params() {
		params = append(params, p.Node)
	}
	if !train {
		return
	}
	if cost, err = losses.L1(out, y); err != nil {
		return
	}
	grads, err = G.Grad(cost, params...)
	return
}

func run(d *gpu.Device, cfg baryir.Config, prec baryir.Precision, b, hw, inferSize, steps, infers int, profile bool) (result, error) {
	p := gpuPrecision(prec)
	res := result{Precision: p.String()}
	d.Release()
	d.ResetPeak()
	n := b * 3 * hw * hw
	xd, yd := make([]float32, n), make([]float32, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range xd {
		yd[i] = r.Float32()
		xd[i] = yd[i] + 0.1*float32(r.NormFloat64())
	}

	// Training step.
	t0 := time.Now()
	g, x, y, cost, _, params, grads, err := build(cfg, b, hw, true)
	if err != nil {
		return res, err
	}
	for _, p := range params {
		res.Params += p.Shape().TotalSize()
	}
	e, err := gpu.Compile(d, g, gpu.Options{Precision: p}, append(G.Nodes{cost}, grads...)...)
	if err != nil {
		return res, err
	}
	res.CompileTrainS = time.Since(t0).Seconds()
	res.TrainNodes = e.Steps()
	if err := e.LetData(x, xd); err != nil {
		return res, err
	}
	if err := e.LetData(y, yd); err != nil {
		return res, err
	}
	opt := &gpu.RMSProp{LR: 1e-4, Decay: 0.99, Eps: 1e-8, TorchEps: true}
	step := func() error {
		if err := e.Enqueue(); err != nil {
			return err
		}
		if err := opt.Step(e, params, grads); err != nil {
			return err
		}
		return d.Sync()
	}
	for i := 0; i < 2; i++ { // warm-up: first launches JIT the PTX and fill the pool
		if err := step(); err != nil {
			return res, err
		}
	}
	l, err := e.Read(cost)
	if err != nil {
		return res, err
	}
	res.Loss0 = float64(l[0])
	for i := 0; i < steps; i++ {
		s := time.Now()
		if err := step(); err != nil {
			return res, err
		}
		res.TrainStepsMs = append(res.TrainStepsMs, float64(time.Since(s).Microseconds())/1e3)
	}
	if l, err = e.Read(cost); err != nil {
		return res, err
	}
	res.LossN = float64(l[0])
	res.TrainStepMs = median(res.TrainStepsMs)
	_, peak, free, total := d.MemStats()
	res.TrainPeakMiB = float64(peak) / (1 << 20)
	res.DriverUsedMiB = float64(total-free) / (1 << 20)
	fmt.Printf("%s train: %d nodes, compile %.1fs, step median %.1f ms %v, peak %.0f MiB, loss %.4f -> %.4f\n",
		p, res.TrainNodes, res.CompileTrainS, res.TrainStepMs, res.TrainStepsMs, res.TrainPeakMiB, res.Loss0, res.LossN)
	if profile {
		var nodes []gpu.NodeTime
		if nodes, res.Profile, err = e.ProfileNodes(); err != nil {
			return res, err
		}
		byOp, count := map[string]float64{}, map[string]int{}
		for _, nt := range nodes {
			byOp[nt.Op] += nt.Seconds
			count[nt.Op]++
		}
		type ot struct {
			op string
			s  float64
		}
		var ops []ot
		for k, v := range byOp {
			ops = append(ops, ot{k, v})
		}
		sort.Slice(ops, func(i, j int) bool { return ops[i].s > ops[j].s })
		fmt.Println("slowest ops (total over identical nodes):")
		for _, o := range ops[:min(30, len(ops))] {
			fmt.Printf("  %8.2f ms  x%-3d %s\n", o.s*1e3, count[o.op], o.op)
		}
		type kv struct {
			k string
			v float64
		}
		var all []kv
		tot := 0.0
		for k, v := range res.Profile {
			all = append(all, kv{k, v})
			tot += v
		}
		sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v })
		fmt.Printf("profile (synchronised per node, total %.1f ms):\n", tot*1e3)
		for _, a := range all {
			fmt.Printf("  %-40s %8.2f ms\n", a.k, a.v*1e3)
		}
	}
	e.Close()
	d.Release()

	// Inference.
	d.ResetPeak()
	gi, xi, _, _, out, _, _, err := build(cfg, 1, inferSize, false)
	if err != nil {
		return res, err
	}
	ei, err := gpu.Compile(d, gi, gpu.Options{Precision: p}, out)
	if err != nil {
		return res, err
	}
	res.InferNodes = ei.Steps()
	xin := make([]float32, 3*inferSize*inferSize)
	for i := range xin {
		xin[i] = r.Float32()
	}
	if err := ei.LetData(xi, xin); err != nil {
		return res, err
	}
	for i := 0; i < 2; i++ {
		if err := ei.Run(); err != nil {
			return res, err
		}
	}
	for i := 0; i < infers; i++ {
		s := time.Now()
		if err := ei.Run(); err != nil {
			return res, err
		}
		res.InferAllMs = append(res.InferAllMs, float64(time.Since(s).Microseconds())/1e3)
	}
	res.InferMs = median(res.InferAllMs)
	_, ipeak, _, _ := d.MemStats()
	res.InferPeakMiB = float64(ipeak) / (1 << 20)
	fmt.Printf("%s infer 1x%dx%d: %d nodes, median %.1f ms, peak %.0f MiB\n", p, inferSize, inferSize, res.InferNodes, res.InferMs, res.InferPeakMiB)
	ei.Close()
	d.Release()
	if res.BLASFallbacks = d.BLASFallbacks(); len(res.BLASFallbacks) > 0 {
		fmt.Printf("%s: %d product shapes ran in float32 (no cuBLASLt algorithm): %v\n", p, len(res.BLASFallbacks), res.BLASFallbacks)
	}
	return res, nil
}

// gemmBench times each SGEMM variant (and the automatic choice), and
// cuBLASLt at each reduced precision asked for, on shapes
// that dominate the Paper network at batch 8, 128x128.
func gemmBench(d *gpu.Device, ps []baryir.Precision) error {
	type variant struct {
		name, sgemm string
		prec        gpu.Precision
	}
	variants := []variant{{"auto", "", gpu.FP32}}
	for _, v := range gpu.GemmVariants() {
		variants = append(variants, variant{v, v, gpu.FP32})
	}
	for _, p := range ps {
		if p != baryir.PrecisionFP32 {
			variants = append(variants, variant{"cublasLt " + p.String(), "", gpuPrecision(p)})
		}
	}
	defer d.UsePrecision(gpu.FP32)
	type shape struct {
		name         string
		ta, tb       bool
		m, n, k, cnt int
	}
	shapes := []shape{
		{"fwd qkv 1x1 L1", false, false, 144, 16384, 48, 8},
		{"fwd ffn_in L1", false, false, 254, 16384, 48, 8},
		{"fwd ffn_out L1", false, false, 48, 16384, 127, 8},
		{"fwd L4 ffn_in", false, false, 2042, 256, 384, 8},
		{"dX qkv L1 (Aᵀ)", true, false, 48, 16384, 144, 8},
		{"dW qkv L1 (Bᵀ)", false, true, 144, 48, 16384, 8},
		{"square 4096", false, false, 4096, 4096, 4096, 1},
	}
	for _, sh := range shapes {
		lda, ldb := sh.k, sh.n
		if sh.ta {
			lda = sh.m
		}
		if sh.tb {
			ldb = sh.k
		}
		a, b, c := d.Alloc(sh.cnt*sh.m*sh.k), d.Alloc(sh.cnt*sh.k*sh.n), d.Alloc(sh.cnt*sh.m*sh.n)
		d.Fill(a, a.N, 0.5)
		d.Fill(b, b.N, 0.25)
		bt := gpu.Strided(sh.cnt, sh.m*sh.k, sh.k*sh.n, sh.m*sh.n)
		for _, v := range variants {
			if err := d.ForceGemm(v.sgemm); err != nil {
				return err
			}
			if err := d.UsePrecision(v.prec); err != nil {
				return err
			}
			d.Gemm(sh.ta, sh.tb, sh.m, sh.n, sh.k, 1, a, lda, b, ldb, 0, c, sh.n, bt)
			if err := d.Sync(); err != nil {
				return err
			}
			const reps = 10
			t := time.Now()
			for i := 0; i < reps; i++ {
				d.Gemm(sh.ta, sh.tb, sh.m, sh.n, sh.k, 1, a, lda, b, ldb, 0, c, sh.n, bt)
			}
			if err := d.Sync(); err != nil {
				return err
			}
			sec := time.Since(t).Seconds() / reps
			name := v.name
			fmt.Printf("gemm %-16s %-17s %8.3f ms %6.1f TFLOP/s\n", sh.name, name, sec*1e3,
				2*float64(sh.m)*float64(sh.n)*float64(sh.k)*float64(sh.cnt)/sec/1e12)
		}
		d.ForceGemm("")
		d.UsePrecision(gpu.FP32)
		d.Free(a)
		d.Free(b)
		d.Free(c)
	}
	return nil
}
