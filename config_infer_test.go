package baryir

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// shapeFixture is a state_dict's names and shapes written by
// testdata/shapes/gen_shapes.py from the PyTorch reference model, with the
// Config it was built from.
type shapeFixture struct {
	Config Config
	Shapes map[string][]int
}

func readShapes(t *testing.T, name string) shapeFixture {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "shapes", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var f shapeFixture
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestInferConfig(t *testing.T) {
	biasFree := Tiny()
	biasFree.BiasFree = true
	cases := []struct {
		fixture string
		preset  *Config // the Go preset the fixture stands for, if any
	}{
		{"paper", new(Paper())},
		{"authors", new(Authors())},
		{"restormer48", new(Paper().Restormer())},
		{"tiny", new(Tiny())},
		{"tiny_biasfree", &biasFree},
		{"odd_barynet", nil},
		{"restormer_ffn2", nil},
	}
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			f := readShapes(t, c.fixture)
			got, err := inferConfig(f.Shapes)
			if err != nil {
				t.Fatal(err)
			}
			if got != f.Config {
				t.Errorf("inferred %+v\nbuilt from %+v", got, f.Config)
			}
			if c.preset != nil && got != *c.preset {
				t.Errorf("inferred %+v\npreset     %+v", got, *c.preset)
			}
		})
	}
}

func TestInferConfigErrors(t *testing.T) {
	tiny := readShapes(t, "tiny").Shapes
	restormer := readShapes(t, "restormer_ffn2").Shapes
	// edit returns a copy of tiny changed by f.
	edit := func(f func(m map[string][]int)) map[string][]int {
		m := maps.Clone(tiny)
		f(m)
		return m
	}
	// move renames every name under prefix from to prefix to.
	move := func(m map[string][]int, from, to string) {
		for k, v := range maps.Clone(m) {
			if rest, ok := strings.CutPrefix(k, from); ok {
				delete(m, k)
				if to != "" {
					m[to+rest] = v
				}
			}
		}
	}
	cases := []struct {
		name   string
		shapes map[string][]int
		says   string
	}{
		{"empty", map[string][]int{}, "empty"},
		{"no patch embed", edit(func(m map[string][]int) { delete(m, "patch_embed.proj.weight") }), "no patch_embed.proj.weight"},
		{"patch embed rank", edit(func(m map[string][]int) { m["patch_embed.proj.weight"] = []int{8, 3} }), "want (dim, in, 3, 3)"},
		{"no encoder level 2", edit(func(m map[string][]int) { move(m, "encoder_level2.", "") }), "no encoder_level2 blocks"},
		{"block gap", edit(func(m map[string][]int) { move(m, "decoder_level1.0.", "decoder_level1.1.") }), "no block 0"},
		{"block index", edit(func(m map[string][]int) { m["refinement.x.norm1.body.weight"] = []int{16} }), "not a block index"},
		{"decoder count", edit(func(m map[string][]int) {
			for k, v := range maps.Clone(m) {
				if rest, ok := strings.CutPrefix(k, "resdecoder_level3.0."); ok {
					m["resdecoder_level3.1."+rest] = v
				}
			}
		}), "resdecoder_level3 has 2 blocks"},
		{"decoder heads", edit(func(m map[string][]int) { m["decoder_level2.0.attn.temperature"] = []int{4, 1, 1} }), "decoder_level2 has 4 heads"},
		{"noise block heads", edit(func(m map[string][]int) { m["noise_level1.attn.temperature"] = []int{2, 1, 1} }), "noise_level1 has 2 heads"},
		{"temperature shape", edit(func(m map[string][]int) { m["latent.0.attn.temperature"] = []int{8, 2} }), "want (heads, 1, 1)"},
		{"heads not dividing", func() map[string][]int {
			m := maps.Clone(restormer)
			m["latent.0.attn.temperature"] = []int{3, 1, 1}
			return m
		}(), "not divisible by 3 heads"},
		{"PromptIR module", edit(func(m map[string][]int) { m["prompt1.prompt_param"] = []int{1, 5, 64, 64, 64} }), `["prompt1"]`},
		{"DataParallel prefix", edit(func(m map[string][]int) { move(m, "", "module.") }), "strip the DataParallel"},
		{"ffn widths", edit(func(m map[string][]int) {
			m["encoder_level2.0.ffn.project_in.weight"] = []int{2 * 20, 16, 1, 1}
		}), "no FFN factor"},
		{"ffn shape", edit(func(m map[string][]int) { m["refinement.0.ffn.project_in.weight"] = []int{7, 16, 1, 1} }), "want (2*hidden, C, 1, 1)"},
		{"no barycenter blocks", edit(func(m map[string][]int) { move(m, "barylatent.", "") }), "at least one barycenter block"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := inferConfig(c.shapes)
			if err == nil {
				t.Fatalf("no error; inferred %+v", cfg)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q does not say %q", err, c.says)
			}
		})
	}
}

// TestParameters checks the parameter count against the PyTorch reference
// models of the shape fixtures (the authors' unused tensors aside).
func TestParameters(t *testing.T) {
	unused := map[string]bool{}
	for _, n := range unusedAuthorTensors {
		unused[n] = true
	}
	for _, name := range []string{"paper", "authors", "restormer48", "tiny", "tiny_biasfree", "odd_barynet", "restormer_ffn2"} {
		f := readShapes(t, name)
		want := 0
		for k, s := range f.Shapes {
			if unused[k] {
				continue
			}
			n := 1
			for _, d := range s {
				n *= d
			}
			want += n
		}
		if got := f.Config.parameters(); got != float64(want) {
			t.Errorf("%s: Parameters() = %.0f, the reference model has %d", name, got, want)
		}
	}
}

// TestInferConfigRefusesMissingParameters is the 9 MB file whose
// patch_embed claims dim 65536: everything else is Tiny's, so a network of
// that dim would need far more values than the tensors hold.
func TestInferConfigRefusesMissingParameters(t *testing.T) {
	f := readShapes(t, "tiny")
	shapes := maps.Clone(f.Shapes)
	shapes["patch_embed.proj.weight"] = []int{65536, 3, 3, 3}
	_, err := inferConfig(shapes)
	if err == nil || !strings.Contains(err.Error(), "dim 65536") || !strings.Contains(err.Error(), "tensors hold only") {
		t.Fatalf("error %v, want the parameter count refused", err)
	}
}
