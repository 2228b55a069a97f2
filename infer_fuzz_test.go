package baryir

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/layers"
)

// microConfigs are the smallest valid networks of each family: their
// weights, a few kilobytes, seed FuzzInferConfigLoad.
func microConfigs() map[string]Config {
	r := Config{Arch: ArchRestormer, Dim: 2, Blocks: [4]int{1, 1, 1, 1}, Heads: [4]int{1, 1, 1, 1}, FFNFactor: 2.66}
	b := r
	b.Arch, b.BaryBlocks, b.BiasFree = ArchBaryNet, 1, true
	return map[string]Config{"restormer": r, "barynet": b}
}

// microHeader is the safetensors header of c's weights: names, shapes and
// data ranges.
func microHeader(tb testing.TB, c Config) []byte {
	raw := microWeights(tb, c)
	return raw[8 : 8+binary.LittleEndian.Uint64(raw)]
}

// withData makes a safetensors file of a header, its data section zeros as
// long as the header's largest range asks (at most 4 MiB), so that the
// fuzzer spends its work on names and shapes.
func withData(header []byte) []byte {
	var ranges map[string]struct {
		Offsets [2]int `json:"data_offsets"`
	}
	_ = json.Unmarshal(header, &ranges)
	end := 0
	for _, r := range ranges {
		end = max(end, r.Offsets[1])
	}
	raw := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(raw, header...), make([]byte, min(end, 4<<20))...)
}

// microWeights is a safetensors file of c's freshly initialised weights.
func microWeights(tb testing.TB, c Config) []byte {
	tb.Helper()
	net, err := NewNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 1), c)
	if err != nil {
		tb.Fatal(err)
	}
	sd, err := Save(net.Params())
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(tb.TempDir(), "w.safetensors")
	if err := WriteWeights(p, sd); err != nil {
		tb.Fatal(err)
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// FuzzInferConfigLoad reads damaged weights the way OpenRestorer does:
// ReadWeights, InferConfig, NewNetwork, Load. Whatever InferConfig accepts
// must be buildable from values the file holds. The fuzzer mutates the
// header (see withData); FuzzSafetensors covers the rest of the file.
func FuzzInferConfigLoad(f *testing.F) {
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, header []byte) {
		raw := withData(header)
		p := filepath.Join(dir, "w.safetensors")
		if err := os.WriteFile(p, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		sd, err := ReadWeights(p)
		if err != nil {
			return
		}
		cfg, err := InferConfig(sd.Shapes())
		if err != nil {
			return
		}
		if n := cfg.Parameters(); n > float64(len(raw)/4) {
			t.Fatalf("accepted %+v of %.0f parameters from %d bytes", cfg, n, len(raw))
		}
		net, err := NewNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 1), cfg)
		if err != nil {
			t.Fatalf("InferConfig accepted %+v, NewNetwork refused it: %v", cfg, err)
		}
		_ = Load(net, sd) // an error is fine; a panic is not
	})
}

// TestWriteInferFuzzSeeds writes the micro networks' headers as the
// committed seed corpus of FuzzInferConfigLoad (BARYIR_WRITE_SEEDS=1).
func TestWriteInferFuzzSeeds(t *testing.T) {
	if os.Getenv("BARYIR_WRITE_SEEDS") == "" {
		t.Skip("set BARYIR_WRITE_SEEDS=1 to rewrite testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzInferConfigLoad")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, c := range microConfigs() {
		seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", microHeader(t, c))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(seed), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
