//go:build baryirgpu

package gpu_test

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/x/baryir/internal/gpu"
)

// Reduced precision (TF32, BF16 through cuBLASLt) against float32.
//
// Rounding an operand to m mantissa bits (round to nearest) has a relative
// error of at most u = 2^-(m+1), uniform for generic data, so a product's
// relative error is about sqrt(2/3) u and so is a sum of many with random
// signs, relative to its norm: 4.0e-4 for TF32 (u = 2^-11), 3.2e-3 for
// BF16 (u = 2^-8). The tolerances are 2.5 times that for single products
// (gemmTol); for whole ops, whose gradients chain two or three products,
// opTol gives each op its own, and an op without matrix products must give
// float32's result exactly. On the emulator every product must also differ
// from float32's by at least minReduced: plumbing that silently ran float32
// would pass the tolerances but not that. On a GPU, cuBLASLt may pick a
// float32 kernel for a shape (small or misaligned operands) even when allowed
// tensor cores; that is reported (a speed matter), not failed.

const minReduced = 1e-5

func gemmTol(p gpu.Precision) float64 {
	if p == gpu.TF32 {
		return 1e-3
	}
	return 8e-3
}

// opTol is the tolerance of an op's forward and input gradients at p,
// relative to the CPU's float32: gemmTol for convolutions and Linear (one
// product per output or gradient), 1.5 times that for channel attention and
// the transformer block, whose gradients pass through normalised q and k,
// a temperature-scaled softmax and three more products. Measured on the
// emulator (worst over forward and gradients): convolutions and Linear
// 3.7e-4 (TF32) and 2.9e-3 (BF16); attention 4.1e-4 and 3.7e-3.
func opTol(name string, p gpu.Precision) float64 {
	if strings.HasPrefix(name, "attention") || strings.HasPrefix(name, "transformer") ||
		strings.HasPrefix(name, "pixel_attention") || strings.HasPrefix(name, "vit") {
		return 1.5 * gemmTol(p)
	}
	return gemmTol(p)
}

// needsBLAS opens the device and loads cuBLASLt, or fails the test.
func needsBLAS(t *testing.T) *gpu.Device {
	d := device(t)
	name, v, err := d.LoadBLAS()
	if err != nil {
		t.Fatalf("cuBLASLt: %v", err)
	}
	report("cuBLASLt: %s, version %d", name, v)
	return d
}

// TestPrecisionGemm checks Device.Gemm at TF32 and BF16 against GemmFP32 on
// shapes that exercise every mapping of blas.go: each transpose pair, the
// strided batches (one level, two collapsing levels, two levels looped,
// a stride-0 operand as in convolutions), beta with an output wider than
// the product (ldc > n), odd sizes and offsets.
func TestPrecisionGemm(t *testing.T) {
	d := needsBLAS(t)
	defer d.UsePrecision(gpu.FP32)
	type shape struct {
		name         string
		ta, tb       bool
		m, n, k      int
		alpha, beta  float32
		bt           gpu.Batch
		lda, ldb, ld int // 0: dense
		off          int
	}
	shapes := []shape{
		{name: "NN", m: 37, n: 29, k: 53, alpha: 1},
		{name: "TN", ta: true, m: 31, n: 40, k: 17, alpha: 1},
		{name: "NT", tb: true, m: 19, n: 23, k: 300, alpha: 0.5},
		{name: "TT", ta: true, tb: true, m: 8, n: 33, k: 41, alpha: 1},
		{name: "beta ldc", m: 12, n: 10, k: 30, alpha: 1, beta: 0.75, ld: 16},
		{name: "strided", m: 9, n: 14, k: 21, alpha: 1, bt: gpu.Strided(5, 9*21, 21*14, 9*14)},
		{name: "two levels collapse", m: 6, n: 7, k: 8, alpha: 1, bt: gpu.Batch{Outer: 3, Inner: 2,
			AOuter: 2 * 48, AInner: 48, BOuter: 2 * 56, BInner: 56, COuter: 2 * 42, CInner: 42}},
		{name: "two levels looped", m: 6, n: 7, k: 8, alpha: 1, bt: gpu.Batch{Outer: 3, Inner: 2,
			AOuter: 0, AInner: 48, BOuter: 3 * 56, BInner: 56, COuter: 2 * 42, CInner: 42}},
		{name: "stride-0 A (conv)", m: 10, n: 64, k: 27, alpha: 1, bt: gpu.Batch{Outer: 4, Inner: 1,
			AOuter: 0, BOuter: 27 * 64, COuter: 10 * 64}},
		{name: "offset views", m: 13, n: 11, k: 15, alpha: 1, off: 3},
	}
	for _, p := range []gpu.Precision{gpu.TF32, gpu.BF16} {
		for i, s := range shapes {
			name := fmt.Sprintf("%s/%s", p, s.name)
			t.Run(name, func(t *testing.T) {
				lda, ldb, ldc := s.k, s.n, s.n
				if s.ta {
					lda = s.m
				}
				if s.tb {
					ldb = s.k
				}
				if s.ld > 0 {
					ldc = s.ld
				}
				bt := s.bt
				if bt.Outer == 0 {
					bt = gpu.One
				}
				// Sizes that cover every product of the batch.
				span := func(outer, inner, so, si, one int) int {
					return (max(outer, 1)-1)*so + (max(inner, 1)-1)*si + one
				}
				na := span(bt.Outer, bt.Inner, bt.AOuter, bt.AInner, s.m*s.k) + s.off
				nb := span(bt.Outer, bt.Inner, bt.BOuter, bt.BInner, s.k*s.n) + s.off
				nc := span(bt.Outer, bt.Inner, bt.COuter, bt.CInner, s.m*ldc) + s.off
				ha, hb, hc := randData(uint64(10+i), na), randData(uint64(20+i), nb), randData(uint64(30+i), nc)
				a, b, want, got := d.Alloc(na), d.Alloc(nb), d.Alloc(nc), d.Alloc(nc)
				defer func() { d.Free(a); d.Free(b); d.Free(want); d.Free(got) }()
				for _, x := range []struct {
					b Buf
					h []float32
				}{{a, ha}, {b, hb}, {want, hc}, {got, hc}} {
					if err := d.Upload(x.b, x.h); err != nil {
						t.Fatal(err)
					}
				}
				o := s.off
				d.GemmFP32(s.ta, s.tb, s.m, s.n, s.k, s.alpha, a.At(o), lda, b.At(o), ldb, s.beta, want.At(o), ldc, bt)
				if err := d.UsePrecision(p); err != nil {
					t.Fatal(err)
				}
				d.Gemm(s.ta, s.tb, s.m, s.n, s.k, s.alpha, a.At(o), lda, b.At(o), ldb, s.beta, got.At(o), ldc, bt)
				if err := d.UsePrecision(gpu.FP32); err != nil {
					t.Fatal(err)
				}
				w, g := make([]float32, nc), make([]float32, nc)
				if err := d.Download(want, w); err != nil {
					t.Fatal(err)
				}
				if err := d.Download(got, g); err != nil {
					t.Fatal(err)
				}
				// Elements outside the products (ldc padding, gaps), which float32 left as they were, must stay so.
				for j := range g {
					if w[j] == hc[j] && g[j] != hc[j] {
						t.Fatalf("element %d outside the products: %v at %s, input %v", j, g[j], p, hc[j])
					}
				}
				r := relErr(g, w)
				report("gemm %-4s %-22s rel.err vs fp32 %.2e (tol %.0e)", p, s.name, r, gemmTol(p))
				if !(r <= gemmTol(p)) {
					t.Errorf("relative error %.3g > %g", r, gemmTol(p))
				}
				notReduced(t, d, r, p)
			})
		}
	}
}

// notReduced fails (on the emulator) or reports (on a GPU) a result that
// differs from float32's by less than minReduced.
func notReduced(t *testing.T, d *gpu.Device, r float64, p gpu.Precision) {
	if r >= minReduced {
		return
	}
	if d.Name() == "FakeGPU" {
		t.Errorf("relative error %.3g < %g: the products did not run at %s", r, minReduced, p)
		return
	}
	report("  (%s: relative error %.3g: cuBLASLt ran this at float32 accuracy, no tensor cores)", p, r)
}

// Buf is gpu.Buf, for the table above.
type Buf = gpu.Buf

// runCase returns the forward value and input gradients of c computed on
// the GPU with opts.
func runCase(t *testing.T, d *gpu.Device, c opCase, opts gpu.Options) [][]float32 {
	gb := buildCase(t, c)
	keep := append(G.Nodes{gb.y}, gb.grads...)
	e, err := gpu.Compile(d, gb.g, opts, keep...)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	defer e.Close()
	if err := e.Run(); err != nil {
		t.Fatalf("gpu run: %v", err)
	}
	var out [][]float32
	for _, n := range keep {
		v, err := e.Read(n)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		out = append(out, v)
	}
	return out
}

// cpuCase is the CPU tape machine's forward value and input gradients.
func cpuCase(t *testing.T, c opCase) [][]float32 {
	cpu := buildCase(t, c)
	m := G.NewTapeMachine(cpu.g, G.BindDualValues(cpu.in...))
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatalf("cpu run: %v", err)
	}
	want := [][]float32{f32(t, cpu.y.Value())}
	for _, n := range cpu.in {
		if c.noGrad {
			break
		}
		gv, err := n.Grad()
		if err != nil {
			t.Fatalf("cpu grad: %v", err)
		}
		want = append(want, f32(t, gv))
	}
	return want
}

// gemmOps are the op cases that run matrix products (the others must not
// change with the precision).
var gemmOps = map[string]bool{"conv3x3": true, "conv1x1": true, "conv1x1_longK": true, "conv1x1_big": true, "conv3x3_big": true,
	"conv_k4s4g4": true, "attention_h1": true, "attention_h4_long": true, "linear_bias": true, "transformer_block": true,
	"pixel_attention_h2": true, "vit_block": true, "gdfn": true}

// TestPrecisionOps runs every op case at TF32 and BF16: the ops with
// matrix products within opTol of the CPU's float32 (forward and every input
// gradient) and measurably reduced; the others (LayerNorm, GELU, the losses,
// Gorgonia's plain ops, depthwise convolutions) identical to the GPU's FP32.
func TestPrecisionOps(t *testing.T) {
	d := needsBLAS(t)
	for _, p := range []gpu.Precision{gpu.TF32, gpu.BF16} {
		for _, c := range opCases() {
			t.Run(p.String()+"/"+c.name, func(t *testing.T) {
				got := runCase(t, d, c, gpu.Options{Precision: p})
				if !gemmOps[c.name] {
					fp32 := runCase(t, d, c, gpu.Options{})
					for i := range got {
						if r := relErr(got[i], fp32[i]); r != 0 {
							t.Errorf("output %d: %s differs from fp32 by %.3g; this op has no matrix product", i, p, r)
						}
					}
					return
				}
				want := cpuCase(t, c)
				tol := opTol(c.name, p)
				worst := 0.0
				for i := range want {
					what := "forward"
					if i > 0 {
						what = fmt.Sprintf("grad in%d", i-1)
					}
					r := relErr(got[i], want[i])
					worst = math.Max(worst, r)
					report("op %-4s %-22s %-10s rel.err vs cpu fp32 %.2e (tol %.1e)", p, c.name, what, r, tol)
					if !(r <= tol) {
						t.Errorf("%s: relative error %.3g > %g", what, r, tol)
					}
				}
				notReduced(t, d, worst, p)
			})
		}
	}
}

// TestPrecisionWithoutBLAS runs only where the script hides cuBLASLt
// (BARYIR_EXPECT_NO_CUBLASLT=1): Compile at TF32 and BF16 must then fail
// with an error naming the library and every name tried; FP32 still compiles.
func TestPrecisionWithoutBLAS(t *testing.T) {
	if os.Getenv("BARYIR_EXPECT_NO_CUBLASLT") != "1" {
		t.Skip("set BARYIR_EXPECT_NO_CUBLASLT=1 where no libcublasLt can load")
	}
	d := device(t)
	c := opCases()[0]
	for _, p := range []gpu.Precision{gpu.TF32, gpu.BF16} {
		b := buildCase(t, c)
		_, err := gpu.Compile(d, b.g, gpu.Options{Precision: p}, b.y)
		if err == nil {
			t.Fatalf("%s compiled without cuBLASLt", p)
		}
		report("%s without cuBLASLt: %v", p, err)
		for _, want := range append([]string{"cuBLASLt", "precision " + p.String()}, gpu.LtLibraries()...) {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		if err := d.UsePrecision(p); err == nil {
			t.Errorf("UsePrecision(%s) succeeded without cuBLASLt", p)
		}
	}
	b := buildCase(t, c)
	e, err := gpu.Compile(d, b.g, gpu.Options{}, b.y)
	if err != nil {
		t.Fatalf("fp32 without cuBLASLt: %v", err)
	}
	e.Close()
}

// TestPrecisionFallback: where cuBLASLt has no algorithm for a product (the
// fake library refuses batched ones under FAKE_LT_NO_BATCHED=1), Gemm
// computes it with the float32 kernels, exactly, and BLASFallbacks names it.
func TestPrecisionFallback(t *testing.T) {
	if os.Getenv("FAKE_LT_NO_BATCHED") != "1" {
		t.Skip("set FAKE_LT_NO_BATCHED=1 with the emulator's cuBLASLt")
	}
	d := needsBLAS(t)
	defer d.UsePrecision(gpu.FP32)
	const m, n, k, cnt = 5, 6, 7, 3
	ha, hb := randData(1, cnt*m*k), randData(2, cnt*k*n)
	a, b, want, got := d.Alloc(len(ha)), d.Alloc(len(hb)), d.Alloc(cnt*m*n), d.Alloc(cnt*m*n)
	defer func() { d.Free(a); d.Free(b); d.Free(want); d.Free(got) }()
	if err := d.Upload(a, ha); err != nil {
		t.Fatal(err)
	}
	if err := d.Upload(b, hb); err != nil {
		t.Fatal(err)
	}
	bt := gpu.Strided(cnt, m*k, k*n, m*n)
	d.GemmFP32(false, false, m, n, k, 1, a, k, b, n, 0, want, n, bt)
	if err := d.UsePrecision(gpu.BF16); err != nil {
		t.Fatal(err)
	}
	d.Gemm(false, false, m, n, k, 1, a, k, b, n, 0, got, n, bt)
	w, g := make([]float32, cnt*m*n), make([]float32, cnt*m*n)
	if err := d.Download(want, w); err != nil {
		t.Fatal(err)
	}
	if err := d.Download(got, g); err != nil {
		t.Fatal(err)
	}
	if r := relErr(g, w); r != 0 {
		t.Errorf("fallback differs from float32 by %.3g", r)
	}
	fb := d.BLASFallbacks()
	report("fallbacks: %v", fb)
	if len(fb) == 0 || !strings.Contains(fb[len(fb)-1], "batch 3") {
		t.Errorf("fallbacks %q do not name the batched product", fb)
	}
}
