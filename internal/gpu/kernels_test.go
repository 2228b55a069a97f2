package gpu

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestPTXHasEveryKernel checks, without a GPU, that the committed PTX was
// regenerated after the CUDA source changed: every kernel the Go code
// launches by name and every kernel of baryir.cu is an entry of baryir.ptx.
func TestPTXHasEveryKernel(t *testing.T) {
	ptx, err := os.ReadFile("kernels/baryir.ptx")
	if os.IsNotExist(err) {
		t.Skip("not run from the package directory (a test binary run elsewhere)")
	}
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]bool{}
	for _, m := range regexp.MustCompile(`\.entry\s+([A-Za-z0-9_]+)`).FindAllSubmatch(ptx, -1) {
		entries[string(m[1])] = true
	}
	cu, err := os.ReadFile("kernels/baryir.cu")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, m := range regexp.MustCompile(`__global__ void(?: __launch_bounds__\(\d+\))? ([a-z][a-z0-9_]*)\(`).FindAllSubmatch(cu, -1) {
		want[string(m[1])] = "baryir.cu"
	}
	for _, m := range regexp.MustCompile(`SGEMM_BIG\(([a-z0-9_]+),`).FindAllSubmatch(cu, -1) {
		want[string(m[1])] = "baryir.cu"
	}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`"([a-z0-9_]+_f32)"`).FindAllSubmatch(src, -1) {
			want[string(m[1])] = f
		}
	}
	if len(want) < 30 {
		t.Fatalf("found only %d kernel names; the patterns are stale", len(want))
	}
	for name, from := range want {
		if !entries[name] {
			t.Errorf("kernel %s (named in %s) is not in kernels/baryir.ptx: run go generate -tags baryirgpu ./internal/gpu/", name, from)
		}
	}
}
