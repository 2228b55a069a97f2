package baryir

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/layers"
)

// microConfigs are the smallest valid networks of each family: their
// weights, a few kilobytes, seed FuzzInferConfigLoad.
func microConfigs() map[string]Config {
	r := Config{Map: MapNone, Dim: 2, Blocks: [4]int{1, 1, 1, 1}, Heads: [4]int{1, 1, 1, 1}, FFNFactor: 2.66}
	b := r
	b.Map, b.BaryBlocks, b.BiasFree = MapTransformer, 1, true
	return map[string]Config{"restormer": r, "barynet": b}
}

// microArchs are the micro networks editShapes picks from: the Restormer,
// BaryNet, PromptIR and BaryIR on PromptIR, with one-channel prompts.
func microArchs() []Architecture {
	c := microConfigs()
	prompts := func(net Config) PromptIR {
		return PromptIR{Net: net, PromptLen: 2, PromptDims: [3]int{1, 1, 1}, PromptSizes: [3]int{3, 2, 1}}
	}
	return []Architecture{c["restormer"], c["barynet"], prompts(c["restormer"]), prompts(c["barynet"])}
}

// withData makes a safetensors file of a header, its data section zeros as
// long as the header's largest range asks (at most 4 MiB).
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
func microWeights(tb testing.TB, c Architecture) []byte {
	tb.Helper()
	net, err := buildNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 1), c)
	if err != nil {
		tb.Fatal(err)
	}
	sd, err := StateDictOf(net.Scope.Params())
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

// microShapes are the names and shapes of the micro networks' weights.
func microShapes(tb testing.TB) []map[string][]int {
	archs := microArchs()
	out := make([]map[string][]int, len(archs))
	for i, arch := range archs {
		raw := microWeights(tb, arch)
		var h map[string]struct {
			Shape []int `json:"shape"`
		}
		if err := json.Unmarshal(raw[8:8+binary.LittleEndian.Uint64(raw)], &h); err != nil {
			tb.Fatal(err)
		}
		out[i] = map[string][]int{}
		for k, v := range h {
			out[i][k] = v.Shape
		}
	}
	return out
}

// editShapes applies the fuzzer's edits to a micro network's shapes: each
// three bytes pick a tensor and delete it, set one of its dimensions, add a
// dimension, or copy it under another block index. Byte 0 picks the network
// (microArchs).
func editShapes(base []map[string][]int, edits []byte) map[string][]int {
	pick := 0
	if len(edits) > 0 {
		pick, edits = int(edits[0])%len(base), edits[1:]
	}
	shapes := maps.Clone(base[pick])
	for ; len(edits) >= 3; edits = edits[3:] {
		names := slices.Sorted(maps.Keys(shapes))
		if len(names) == 0 {
			break
		}
		name, v := names[int(edits[0])%len(names)], int(edits[2])
		s := slices.Clone(shapes[name])
		switch edits[1] % 4 {
		case 0:
			delete(shapes, name)
		case 1:
			if len(s) > 0 {
				s[int(edits[1]/4)%len(s)] = v
			}
			shapes[name] = s
		case 2:
			shapes[name] = append(s, v%8)
		case 3:
			shapes[strings.Replace(name, ".0.", fmt.Sprintf(".%d.", v%4), 1)] = s
		}
	}
	return shapes
}

// safetensorsOf is a safetensors file of zeros with the given shapes.
func safetensorsOf(shapes map[string][]int) ([]byte, bool) {
	type entry struct {
		Dtype   string `json:"dtype"`
		Shape   []int  `json:"shape"`
		Offsets [2]int `json:"data_offsets"`
	}
	header, off := map[string]entry{}, 0
	for _, name := range slices.Sorted(maps.Keys(shapes)) {
		n := 4
		for _, d := range shapes[name] {
			if n *= d; n > 16<<20 {
				return nil, false
			}
		}
		header[name] = entry{"F32", shapes[name], [2]int{off, off + n}}
		if off += n; off > 16<<20 {
			return nil, false
		}
	}
	h, _ := json.Marshal(header)
	return withData(h), true
}

// FuzzInferConfigLoad reads damaged weights the way OpenRestorer does:
// ReadWeights, inferArchitecture, Architecture.Build, Load. Whatever it accepts
// must be buildable from values the file holds. The fuzzer edits a micro
// network's names and shapes (editShapes), so that every mutation is one a
// file could make; FuzzSafetensors covers the file format itself.
func FuzzInferConfigLoad(f *testing.F) {
	base := microShapes(f)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, edits []byte) {
		raw, ok := safetensorsOf(editShapes(base, edits))
		if !ok {
			return
		}
		p := filepath.Join(dir, "w.safetensors")
		if err := os.WriteFile(p, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		sd, err := ReadWeights(p)
		if err != nil {
			return
		}
		arch, err := inferArchitecture(sd.shapes())
		if err != nil {
			return
		}
		n := 0.0
		switch a := arch.(type) {
		case Config:
			n = a.parameters()
		case PromptIR:
			n = a.parameters()
		}
		if n > float64(len(raw)/4) {
			t.Fatalf("accepted %+v of %.0f parameters from %d bytes", arch, n, len(raw))
		}
		net, err := buildNetwork(layers.NewScope(G.NewGraph(), tensor.Float32, 1), arch)
		if err != nil {
			t.Fatalf("inferArchitecture accepted %+v, Build refused it: %v", arch, err)
		}
		_ = Load(net, sd) // an error is fine; a panic is not
	})
}

// TestWriteInferFuzzSeeds writes edits for FuzzInferConfigLoad as its
// committed seed corpus (BARYIR_WRITE_SEEDS=1): each network as it is, and
// crafted edits: a patch_embed claiming a huge dim, a block count
// that no longer matches, a missing tensor.
func TestWriteInferFuzzSeeds(t *testing.T) {
	if os.Getenv("BARYIR_WRITE_SEEDS") == "" {
		t.Skip("set BARYIR_WRITE_SEEDS=1 to rewrite testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzInferConfigLoad")
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	base := microShapes(t)
	index := func(net int, name string) byte {
		return byte(slices.Index(slices.Sorted(maps.Keys(base[net])), name))
	}
	seeds := map[string][]byte{
		"restormer":     {0},
		"barynet":       {1},
		"huge_dim":      {0, index(0, "patch_embed.proj.weight"), 1, 255},
		"extra_block":   {1, index(1, "latent.0.attn.temperature"), 3, 1},
		"missing":       {0, index(0, "output.weight"), 0, 0},
		"wrong_heads":   {0, index(0, "encoder_level1.0.attn.temperature"), 1, 3},
		"bary_bad_norm": {1, index(1, "LN.body.weight"), 1, 7},
		"promptir":      {2},
		"bary_promptir": {3},
		"prompt_len":    {2, index(2, "prompt2.prompt_param"), 5, 3},
		"prompt_dim":    {3, index(3, "prompt3.prompt_param"), 9, 40},
		"no_prompt":     {2, index(2, "prompt1.prompt_param"), 0, 0},
	}
	for name, edits := range seeds {
		seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", edits)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(seed), 0o644))
	}
}

// TestEditShapes checks the fuzzer's starting points: the unedited micro
// networks load, and a patch_embed claiming dim 255 is refused by its
// parameter count.
func TestEditShapes(t *testing.T) {
	base := microShapes(t)
	for pick, want := range microArchs() {
		arch, err := inferArchitecture(editShapes(base, []byte{byte(pick)}))
		require.NoError(t, err)
		require.Equal(t, want, arch)
	}
	pe := byte(slices.Index(slices.Sorted(maps.Keys(base[0])), "patch_embed.proj.weight"))
	_, err := inferConfig(editShapes(base, []byte{0, pe, 1, 255}))
	require.ErrorContains(t, err, "dim 255")
	require.ErrorContains(t, err, "tensors hold only")
}
