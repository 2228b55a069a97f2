//go:build baryirgpu

// Command gpubench times a BaryIR training step (network, L1 loss,
// gradients, on-device RMSProp) and inference on the GPU executor of
// internal/gpu, and reports device memory. torch_bench.py beside it times
// PyTorch on the same network; scripts/gpu_check.sh runs both.
//
//	go test -c is not needed: go build -tags baryirgpu ./internal/gpu/cmd/gpubench
//	./gpubench -preset paper -batch 8 -size 128
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
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
	profile := flag.Bool("profile", false, "also profile one training step per op kind")
	jsonOut := flag.String("json", "", "write results as JSON to this file")
	gemm := flag.Bool("gemmbench", false, "also time the SGEMM variants on the network's typical shapes")
	flag.Parse()
	if *gemm {
		if err := gemmBench(); err != nil {
			fmt.Fprintln(os.Stderr, "gpubench:", err)
			os.Exit(1)
		}
	}
	if err := run(*preset, *batch, *size, *steps, *infers, *profile, *jsonOut); err != nil {
		fmt.Fprintln(os.Stderr, "gpubench:", err)
		os.Exit(1)
	}
}

type result struct {
	Device                   string
	Preset                   string
	Batch, Size              int
	Params                   int
	TrainNodes, InferNodes   int
	CompileTrainS            float64
	TrainStepMs, InferMs     float64
	TrainStepsMs, InferAllMs []float64
	TrainPeakMiB             float64
	InferPeakMiB             float64
	DriverUsedMiB            float64
	Loss0, LossN             float64
	Profile                  map[string]float64 `json:",omitempty"`
}

func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func build(cfg baryir.Config, b, hw int, train bool) (g *G.ExprGraph, x, y, cost, out *G.Node, params, grads G.Nodes, err error) {
	g = G.NewGraph()
	net, err := baryir.NewNetwork(layers.NewScope(g, tensor.Float32, 1), cfg)
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
	for _, p := range net.Params() {
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

func run(preset string, b, hw, steps, infers int, profile bool, jsonOut string) error {
	cfg := baryir.Paper()
	if preset == "tiny" {
		cfg = baryir.Tiny()
	}
	d, err := gpu.Open(0)
	if err != nil {
		return err
	}
	res := result{Device: d.Name(), Preset: preset, Batch: b, Size: hw}
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
		return err
	}
	for _, p := range params {
		res.Params += p.Shape().TotalSize()
	}
	e, err := gpu.Compile(d, g, gpu.Options{}, append(G.Nodes{cost}, grads...)...)
	if err != nil {
		return err
	}
	res.CompileTrainS = time.Since(t0).Seconds()
	res.TrainNodes = e.Steps()
	if err := e.LetData(x, xd); err != nil {
		return err
	}
	if err := e.LetData(y, yd); err != nil {
		return err
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
			return err
		}
	}
	l, err := e.Read(cost)
	if err != nil {
		return err
	}
	res.Loss0 = float64(l[0])
	for i := 0; i < steps; i++ {
		s := time.Now()
		if err := step(); err != nil {
			return err
		}
		res.TrainStepsMs = append(res.TrainStepsMs, float64(time.Since(s).Microseconds())/1e3)
	}
	if l, err = e.Read(cost); err != nil {
		return err
	}
	res.LossN = float64(l[0])
	res.TrainStepMs = median(res.TrainStepsMs)
	_, peak, free, total := d.MemStats()
	res.TrainPeakMiB = float64(peak) / (1 << 20)
	res.DriverUsedMiB = float64(total-free) / (1 << 20)
	fmt.Printf("train: %d nodes, compile %.1fs, step median %.1f ms %v, peak %.0f MiB, loss %.4f -> %.4f\n",
		res.TrainNodes, res.CompileTrainS, res.TrainStepMs, res.TrainStepsMs, res.TrainPeakMiB, res.Loss0, res.LossN)
	if profile {
		var nodes []gpu.NodeTime
		if nodes, res.Profile, err = e.ProfileNodes(); err != nil {
			return err
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
	gi, xi, _, _, out, _, _, err := build(cfg, b, hw, false)
	if err != nil {
		return err
	}
	ei, err := gpu.Compile(d, gi, gpu.Options{}, out)
	if err != nil {
		return err
	}
	res.InferNodes = ei.Steps()
	if err := ei.LetData(xi, xd); err != nil {
		return err
	}
	for i := 0; i < 2; i++ {
		if err := ei.Run(); err != nil {
			return err
		}
	}
	for i := 0; i < infers; i++ {
		s := time.Now()
		if err := ei.Run(); err != nil {
			return err
		}
		res.InferAllMs = append(res.InferAllMs, float64(time.Since(s).Microseconds())/1e3)
	}
	res.InferMs = median(res.InferAllMs)
	held, _, _, _ := d.MemStats()
	res.InferPeakMiB = float64(held) / (1 << 20)
	fmt.Printf("infer: %d nodes, median %.1f ms, held %.0f MiB\n", res.InferNodes, res.InferMs, res.InferPeakMiB)
	if jsonOut != "" {
		buf, _ := json.MarshalIndent(res, "", "  ")
		return os.WriteFile(jsonOut, buf, 0o644)
	}
	return nil
}

// gemmBench times each SGEMM variant (and the automatic choice) on shapes
// that dominate the Paper network at batch 8, 128x128.
func gemmBench() error {
	d, err := gpu.Open(0)
	if err != nil {
		return err
	}
	defer d.Close()
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
		for _, v := range append([]string{""}, gpu.GemmVariants()...) {
			if err := d.ForceGemm(v); err != nil {
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
			name := v
			if name == "" {
				name = "auto"
			}
			fmt.Printf("gemm %-16s %-17s %8.3f ms %6.1f TFLOP/s\n", sh.name, name, sec*1e3,
				2*float64(sh.m)*float64(sh.n)*float64(sh.k)*float64(sh.cnt)/sec/1e12)
		}
		d.ForceGemm("")
		d.Free(a)
		d.Free(b)
		d.Free(c)
	}
	return nil
}
