package main

import (
	"bytes"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/layers"
)

// A transformer block of dim 8, 2 heads (GDFN hidden int(2.66*8) = 21) on
// one 16x16 image, counted by hand, multiply-accumulates per layer:
//
//	qkv 1x1        256 px * 8 in * 24 out      = 49152
//	qkv_dwconv     256 px * 24 ch * 9 taps     = 55296
//	attention      2 products * 2 heads * 4*4 * 256 = 16384
//	project_out    256 * 8 * 8                 = 16384
//	ffn project_in 256 * 8 * 42                = 86016
//	ffn dwconv     256 * 42 * 9                = 96768
//	ffn project_out 256 * 21 * 8               = 43008
//
// total 363008 MACs; a linear layer (5x32 -> 7) adds 5*32*7 = 1120.
func TestCountFLOPsByHand(t *testing.T) {
	g := G.NewGraph()
	s := layers.NewScope(g, tensor.Float32, 1)
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 8, 16, 16), G.WithName("x"))
	_, err := layers.NewTransformerBlock(s.Sub("tb"), layers.TransformerBlockConfig{Dim: 8, Heads: 2, Hidden: 21}).Forward(x)
	require.NoError(t, err)
	require.Equal(t, int64(2*363008), countFLOPs(g))

	v := G.NewMatrix(g, tensor.Float32, G.WithShape(5, 32), G.WithName("v"))
	_, err = layers.NewLinear(s.Sub("lin"), layers.LinearConfig{In: 32, Out: 7, Bias: true}).Forward(v)
	require.NoError(t, err)
	require.Equal(t, int64(2*(363008+1120)), countFLOPs(g))
}

func TestPeakFLOPS(t *testing.T) {
	const text = `Architecture:            x86_64
CPU(s):                                  2
Model name:                              AMD EPYC
BogoMIPS:                                5192.26
Flags:                                   fpu sse sse2 avx fma avx2 avx512f
`
	p, how := peakFLOPS(text)
	require.InDelta(t, 2*2.59613*32e9, p, 1e6)
	require.Contains(t, how, "BogoMIPS/2")
	p, _ = peakFLOPS("CPU(s): 4\nCPU max MHz: 3000.0000\nBogoMIPS: 100\nFlags: sse avx\n")
	require.InDelta(t, 4*3*16e9, p, 1)
	p, how = peakFLOPS("")
	require.Zero(t, p)
	require.Contains(t, how, "unknown")
}

func TestRowJSON(t *testing.T) {
	g := goResult{StepS: 2, FwdS: 0.5, FwdBwdS: 1.5, InferS: 0.4, FwdFLOPs: 1e9, Params: 10}
	tr := &torchResult{StepS: 1, FwdS: 0.25, FwdBwdS: 0.75, InferS: 0.5, PeakMiB: 300}
	r := makeRow("tiny", g, 200, tr, 100e9)
	require.InDelta(t, 2.0, *r.StepRatio, 1e-12)
	require.InDelta(t, 0.8, *r.InferRatio, 1e-12)
	require.InDelta(t, 3.0, r.StepGFLOP, 1e-12)
	require.InDelta(t, 0.015, r.GoFLOPShare, 1e-12) // 3 GFLOP / 2 s / 100 GFLOP/s
	require.InDelta(t, 0.03, *r.TorchFLOPShare, 1e-12)

	buf, err := json.Marshal([]Row{r, makeRow("mid", g, 200, nil, 100e9)})
	require.NoError(t, err)
	var got []map[string]any
	require.NoError(t, json.Unmarshal(buf, &got))
	for _, k := range []string{"config", "go_step_s", "torch_step_s", "go_infer_s", "torch_infer_s",
		"go_peak_mib", "torch_peak_mib", "go_fwd_s", "torch_fwd_s", "go_fwdbwd_s", "torch_fwdbwd_s"} {
		require.Contains(t, got[0], k)
		require.Contains(t, got[1], k)
	}
	require.Equal(t, "tiny", got[0]["config"])
	require.Equal(t, 300.0, got[0]["torch_peak_mib"])
	require.Nil(t, got[1]["torch_step_s"]) // PyTorch skipped: null
}

func TestMedian(t *testing.T) {
	require.Equal(t, 2.0, median([]float64{3, 1, 2}))
	require.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))
}

// A paper-scale row measures one thing: the rest is 0 for Go, null for
// PyTorch (whatever numbers torch_bench.py's result holds for them), with
// no ratio, and "measured" says which.
func TestPaperRowLeavesUnmeasuredOut(t *testing.T) {
	g := goResult{InferS: 4, FwdFLOPs: 400e9, Params: 10, Measured: []string{"infer"}}
	tr := &torchResult{InferS: 5, StepS: 99, PeakMiB: 1500}
	r := makeRow("paper-infer-256", g, 1200, tr, 100e9)
	require.InDelta(t, 0.8, *r.InferRatio, 1e-12)
	require.InDelta(t, 1.0, r.GoInferFLOPShare, 1e-12) // 400 GFLOP / 4 s / 100 GFLOP/s
	require.InDelta(t, 0.8, *r.TorchInferFLOPShare, 1e-12)
	require.Nil(t, r.TorchStepS)
	require.Nil(t, r.StepRatio)
	require.Nil(t, r.TorchFLOPShare)
	require.Zero(t, r.GoFLOPShare)
	require.Equal(t, 1500.0, *r.TorchPeakMiB)

	buf, err := json.Marshal(r)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(buf, &got))
	require.Equal(t, []any{"infer"}, got["measured"])
	require.Nil(t, got["torch_step_s"])
	require.Nil(t, got["torch_fwd_s"])
	require.Equal(t, 0.0, got["go_step_s"])

	var table bytes.Buffer
	printTable(&table, []Row{r}, "test peak")
	line := strings.Split(table.String(), "\n")[1]
	require.Contains(t, line, "0.80x")
	require.NotContains(t, line, "0.000", "unmeasured Go fields print as -, not zero")
}

// Every paper-scale row names a measurement measurePaper knows.
func TestPaperBenches(t *testing.T) {
	for name, p := range paperBenches() {
		require.Contains(t, []string{"infer", "step"}, p.what, name)
		require.Zero(t, p.size%8, name)
	}
	require.Error(t, run(options{configs: []string{"paper-infer-1"}, reps: 1, paperReps: 1, batch: 1, size: 64}, io.Discard, io.Discard))
}

// The FMA loop's rate on every core lies between a tenth of the nominal
// peak (lscpu's clock x 32 FLOPs per cycle) and twice it: what it measures
// is FLOPs of this machine, not a constant.
func TestMeasurePeak(t *testing.T) {
	if fmaKernel() == nil {
		t.Skip("no FMA loop on this machine")
	}
	p, how := measurePeak(1)
	require.Contains(t, how, "measured")
	nominal, _ := peakFLOPS(lscpu())
	if nominal == 0 {
		t.Skip("lscpu gave no clock to compare with")
	}
	require.Greater(t, p, nominal/10, how)
	require.Less(t, p, 2*nominal, how)
}

// ONNX Runtime's figures go into an inference row beside Go's: the ratio is
// Go's time over ORT's, the share ORT's FLOP rate over the peak; a row
// without them keeps the fields, null.
func TestRowORT(t *testing.T) {
	g := goResult{InferS: 4, FwdFLOPs: 400e9, Measured: []string{"infer"}}
	r := makeRow("paper-infer-256", g, 1200, nil, 100e9)
	addORT(&r, ortMeasure{steady: &ortResult{Version: "1.31.1", InferS: 8, LoadS: 2, PeakMiB: 3000},
		goWholeS: 5, goWholeMiB: 900, ortWholeS: 11, ortWholeMiB: 3100}, 100e9)
	require.InDelta(t, 0.5, *r.OrtInferRatio, 1e-12)
	require.InDelta(t, 0.5, *r.OrtInferFLOPShare, 1e-12) // 400 GFLOP / 8 s / 100 GFLOP/s
	require.Equal(t, 11.0, *r.OrtWholeS)

	skipped := makeRow("tiny", g, 200, nil, 100e9)
	addORT(&skipped, ortMeasure{}, 100e9)
	buf, err := json.Marshal([]Row{r, skipped})
	require.NoError(t, err)
	var got []map[string]any
	require.NoError(t, json.Unmarshal(buf, &got))
	for _, k := range []string{"ort_infer_s", "ort_peak_mib", "ort_load_s", "ort_infer_ratio", "ort_infer_flop_share",
		"go_whole_s", "go_whole_peak_mib", "ort_whole_s", "ort_whole_peak_mib", "ort_max_abs_diff"} {
		require.NotNil(t, got[0][k], k)
		require.Contains(t, got[1], k)
		require.Nil(t, got[1][k], k)
	}
	require.Equal(t, "1.31.1", got[0]["ort_version"])

	var table bytes.Buffer
	printTable(&table, []Row{r, skipped}, "test peak")
	require.Contains(t, table.String(), "paper-infer-256 ONNX Runtime 1.31.1: infer 8.000 s (Go / ORT 0.50x)")
	require.NotContains(t, table.String(), "tiny ONNX Runtime")
}

// Without ONNX Runtime the benchmark says why and goes on.
func TestORTSkipped(t *testing.T) {
	for _, tt := range []struct {
		o       options
		torchOK bool
		want    string
	}{
		{options{ort: "off", node: "node"}, true, "-ort off"},
		{options{ort: t.TempDir(), node: "node"}, false, "exported from PyTorch"},
		{options{ort: t.TempDir(), node: "no-such-node-binary"}, true, "no-such-node-binary not found"},
	} {
		ok, why := ortAvailable(tt.o, tt.torchOK)
		require.False(t, ok)
		require.Contains(t, why, tt.want)
	}
}

// Go's restored image is compared with ONNX Runtime's clipped to [0, 1],
// as the Restorer clips; files of different lengths are an error.
func TestMaxAbsDiff(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	require.NoError(t, writeF32(a, []float32{0, 1, 0.5, 0.25}))
	require.NoError(t, writeF32(b, []float32{-3, 7, 0.5, 0.125}))
	require.NoError(t, writeF32(c, []float32{0}))
	d, err := maxAbsDiff(a, b)
	require.NoError(t, err)
	require.Equal(t, 0.125, d)
	_, err = maxAbsDiff(a, c)
	require.ErrorContains(t, err, "4 and 1 values")
}
