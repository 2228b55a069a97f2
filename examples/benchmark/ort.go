package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/x/baryir"
	"github.com/x/baryir/data"
)

// ortResult is ort_bench.js's output.
type ortResult struct {
	Version  string    `json:"ort"`
	LoadS    float64   `json:"load_s"`
	InferS   float64   `json:"infer_s"`
	InferAll []float64 `json:"infer_all_s"`
	PeakMiB  float64   `json:"peak_mib"`
}

// ortMeasure is what one inference row measures of ONNX Runtime, and of
// Go's whole process beside it.
type ortMeasure struct {
	steady *ortResult
	// whole process: wall time from starting a fresh process to its exit
	// after reading the weights and restoring one image, and its peak RSS
	goWholeS, goWholeMiB   float64
	ortWholeS, ortWholeMiB float64
	// maxDiff is the largest |Go - ORT| over the whole-process image, ORT's
	// output clipped to [0, 1] as the Restorer clips: both restore the same
	// image with the same weights.
	maxDiff float64
}

// ortModules is the node_modules folder the benchmark looks for
// onnxruntime-node in: -ort, else NODE_PATH, else the repository's
// .dev/ort/node_modules (where the package documentation installs it).
func ortModules(o options) string {
	if o.ort != "" {
		return o.ort
	}
	if p := os.Getenv("NODE_PATH"); p != "" {
		return p
	}
	return filepath.Join(filepath.Dir(scriptPath(o)), "..", "..", ".dev", "ort", "node_modules")
}

// ortAvailable reports whether Node can load onnxruntime-node, and why not.
// The models come from PyTorch's exporter, so ONNX Runtime needs torchOK.
func ortAvailable(o options, torchOK bool) (bool, string) {
	switch {
	case o.ort == "off":
		return false, "-ort off"
	case !torchOK:
		return false, "the ONNX models are exported from PyTorch, which is skipped"
	}
	if _, err := exec.LookPath(o.node); err != nil {
		return false, fmt.Sprintf("%s not found", o.node)
	}
	cmd := exec.Command(o.node, "-e", `require("onnxruntime-node")`)
	cmd.Env = append(os.Environ(), "NODE_PATH="+ortModules(o))
	if out, err := cmd.CombinedOutput(); err != nil {
		return false, fmt.Sprintf("node cannot load onnxruntime-node from %s (install it with npm install --ignore-scripts --prefix .dev/ort onnxruntime-node, or pass -ort DIR): %s",
			ortModules(o), firstLine(string(out)))
	}
	return true, ""
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// netArgs are torch_bench.py's flags for net.
func netArgs(net baryir.Config) []string {
	ints := func(v [4]int) string { return fmt.Sprintf("%d,%d,%d,%d", v[0], v[1], v[2], v[3]) }
	return []string{"--dim", strconv.Itoa(net.Dim), "--blocks", ints(net.Blocks), "--heads", ints(net.Heads),
		"--refinement", strconv.Itoa(net.Refinement), "--bary-blocks", strconv.Itoa(net.BaryBlocks)}
}

// measureORT exports net from the PyTorch reference (one set of seeded
// random weights as ONNX and as a state_dict), times ONNX Runtime's
// steady state on a batch x size x size input, then the whole process of
// each side on one size x size image: ORT reading the ONNX file and Go
// reading the same weights as a .pth file.
func measureORT(name string, net baryir.Config, batch, size, reps, warmup int, o options) (ortMeasure, error) {
	var m ortMeasure
	dir, err := os.MkdirTemp("", "baryir-ort-")
	if err != nil {
		return m, err
	}
	defer os.RemoveAll(dir)
	model, weights := filepath.Join(dir, name+".onnx"), filepath.Join(dir, name+".pth")
	args := append([]string{scriptPath(o)}, netArgs(net)...)
	args = append(args, "--batch", strconv.Itoa(batch), "--size", strconv.Itoa(size), "--export-onnx", model, "--export-pth", weights)
	if _, err := output(exec.Command(o.python, args...)); err != nil {
		return m, fmt.Errorf("export: %w", err)
	}
	ortCmd := func(batch, reps, warmup int, more ...string) *exec.Cmd {
		cmd := exec.Command(o.node, append([]string{filepath.Join(filepath.Dir(scriptPath(o)), "ort_bench.js"), "--model", model,
			"--batch", strconv.Itoa(batch), "--size", strconv.Itoa(size), "--reps", strconv.Itoa(reps),
			"--warmup", strconv.Itoa(warmup), "--threads", "2"}, more...)...)
		cmd.Env = append(os.Environ(), "NODE_PATH="+ortModules(o))
		return cmd
	}
	out, err := output(ortCmd(batch, reps, warmup))
	if err != nil {
		return m, err
	}
	m.steady = new(ortResult)
	if err := json.Unmarshal([]byte(lastLine(out)), m.steady); err != nil {
		return m, fmt.Errorf("ort_bench.js output: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return m, err
	}
	img, goOut, ortOut := filepath.Join(dir, "image.f32"), filepath.Join(dir, "go.f32"), filepath.Join(dir, "ort.f32")
	goOnce := exec.Command(exe, "-child-once", name, "-weights", weights, "-size", strconv.Itoa(size),
		"-gogc", strconv.Itoa(o.gogc), "-image", img, "-restored", goOut)
	if m.goWholeS, m.goWholeMiB, err = wholeProcess(goOnce); err != nil {
		return m, fmt.Errorf("Go whole process: %w", err)
	}
	if m.ortWholeS, m.ortWholeMiB, err = wholeProcess(ortCmd(1, 0, 0, "--input", img, "--output", ortOut)); err != nil {
		return m, fmt.Errorf("ONNX Runtime whole process: %w", err)
	}
	m.maxDiff, err = maxAbsDiff(goOut, ortOut)
	return m, err
}

// maxAbsDiff is the largest |a - clip(b)| between two raw float32 files of
// the same length, b clipped to [0, 1].
func maxAbsDiff(pa, pb string) (float64, error) {
	a, err := readF32(pa)
	if err != nil {
		return 0, err
	}
	b, err := readF32(pb)
	if err != nil {
		return 0, err
	}
	if len(a) != len(b) || len(a) == 0 {
		return 0, fmt.Errorf("restored images of %d and %d values", len(a), len(b))
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-min(1, max(0, float64(b[i])))))
	}
	return d, nil
}

// readF32 reads raw little-endian float32 values.
func readF32(path string) ([]float32, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(raw)%4 != 0 {
		return nil, fmt.Errorf("%s: %d bytes, not float32 values", path, len(raw))
	}
	v := make([]float32, len(raw)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return v, nil
}

// writeF32 writes v as raw little-endian float32 values, atomically.
func writeF32(path string, v []float32) error {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return data.WriteFileAtomic(path, raw)
}

// output runs cmd and returns its stdout, or an error ending in the last
// line of its stderr.
func output(cmd *exec.Cmd) (string, error) {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w: %s", filepath.Base(cmd.Path), err, lastLine(errb.String()))
	}
	return out.String(), nil
}

// wholeProcess runs cmd and returns its wall time from start to exit, in
// seconds, and its peak RSS in MiB.
func wholeProcess(cmd *exec.Cmd) (float64, float64, error) {
	t := time.Now()
	if _, err := output(cmd); err != nil {
		return 0, 0, err
	}
	s := time.Since(t).Seconds()
	var rss float64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return s, rss, nil
}

// restoreOnce is the Go whole process (the child of -child-once): it reads
// the weights at path for net, restores one size x size image in one tile
// and exits, writing that image and the restored one (raw float32) to
// image and restored, after the timed part ends for ONNX Runtime too.
func restoreOnce(net baryir.Config, path string, size int, image, restored string) error {
	sd, err := baryir.ReadWeights(path)
	if err != nil {
		return err
	}
	r, err := baryir.NewRestorer(net, sd, baryir.RestorerOptions{Tile: size}) // one pass, as ONNX Runtime's
	if err != nil {
		return err
	}
	defer r.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	img := make([]float32, 3*size*size)
	for i := range img {
		img[i] = rng.Float32()
	}
	res, err := r.Restore(&data.Image{Name: "random", H: size, W: size, Pix: img})
	if err != nil {
		return err
	}
	out := res.Pix
	if image == "" {
		return nil
	}
	if err := writeF32(image, img); err != nil {
		return err
	}
	return writeF32(restored, out)
}

// addORT puts m into r: ONNX Runtime's steady state beside Go's inference
// (ratio Go / ORT, ORT's FLOP share of peak), and both whole processes.
func addORT(r *Row, m ortMeasure, peak float64) {
	if m.steady == nil {
		return
	}
	v := func(x float64) *float64 { return &x }
	r.OrtVersion = m.steady.Version
	r.OrtInferS, r.OrtLoadS, r.OrtPeakMiB = v(m.steady.InferS), v(m.steady.LoadS), v(m.steady.PeakMiB)
	if m.steady.InferS > 0 {
		r.OrtInferRatio = v(r.GoInferS / m.steady.InferS)
		if peak > 0 {
			r.OrtInferFLOPShare = v(r.FwdGFLOP * 1e9 / m.steady.InferS / peak)
		}
	}
	r.GoWholeS, r.GoWholePeakMiB = v(m.goWholeS), v(m.goWholeMiB)
	r.OrtWholeS, r.OrtWholePeakMiB = v(m.ortWholeS), v(m.ortWholeMiB)
	r.OrtMaxAbsDiff = v(m.maxDiff)
}
