package pth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/x/baryir/internal/safetensors"
)

func td(name string) string { return filepath.Join("testdata", name) }

func want(t *testing.T, name string) map[string]safetensors.Tensor {
	t.Helper()
	w, err := safetensors.Read(td(name))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// same reports the first difference between two sets of named tensors.
// Values must agree exactly: both sides hold the same float32/float64 numbers.
func same(t *testing.T, got, want map[string]safetensors.Tensor) {
	t.Helper()
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("missing %q", name)
		}
	}
	for name, g := range got {
		w, ok := want[name]
		if !ok {
			t.Errorf("unexpected %q", name)
			continue
		}
		if len(g.Shape) != len(w.Shape) || g.Size() != w.Size() || len(g.Data) != len(w.Data) {
			t.Errorf("%s: shape %v, want %v", name, g.Shape, w.Shape)
			continue
		}
		for i := range g.Shape {
			if g.Shape[i] != w.Shape[i] {
				t.Errorf("%s: shape %v, want %v", name, g.Shape, w.Shape)
			}
		}
		for i := range w.Data {
			if g.Data[i] != w.Data[i] {
				t.Errorf("%s[%d] = %v, want %v", name, i, g.Data[i], w.Data[i])
				break
			}
		}
	}
}

func TestLoad(t *testing.T) {
	tiny := want(t, "tiny.safetensors")
	cases := []struct {
		file, key string
		want      map[string]safetensors.Tensor
	}{
		{"state_dict.pth", "", tiny},
		{"wrapped.pth", "", tiny},
		{"wrapped.pth", "model", tiny},
		{"module.pth", "", tiny},
		{"trainer.pth", "", tiny},
		{"trainer.pth", "BaryIR", tiny},
		{"trainer.pth", "Pots", want(t, "pots.safetensors")},
		{"dataparallel.pth", "", tiny},
		{"legacy.pth", "", tiny},
		{"layouts.pth", "", want(t, "layouts.safetensors")},
	}
	for _, c := range cases {
		t.Run(c.file+"/"+c.key, func(t *testing.T) {
			got, err := LoadKey(td(c.file), c.key)
			if err != nil {
				t.Fatal(err)
			}
			same(t, got, c.want)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	notTorch := filepath.Join(dir, "plain.txt")
	if err := os.WriteFile(notTorch, []byte("just some text, not a pickle"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		file, key string
		says      []string // fragments the message must hold
	}{
		{td("corrupt.pth"), "", []string{"corrupt.pth", "damaged or truncated zip checkpoint"}},
		{td("no_tensors.pth"), "", []string{"no_tensors.pth", "no tensors found", `["epoch" "lr" "note"]`}},
		{td("no_tensors.pth"), "note", []string{"no tensors found under key \"note\"", "a string"}},
		{td("trainer.pth"), "discr", []string{"no key \"discr\"", `["BaryIR" "Pots" "epoch"]`}},
		{td("state_dict.pth"), "model", []string{"no key \"model\""}},
		{notTorch, "", []string{"plain.txt", "not a PyTorch checkpoint"}},
		{td("plain_pickle.pkl"), "", []string{"plain_pickle.pkl", "not a PyTorch checkpoint"}},
		{filepath.Join(dir, "absent.pth"), "", []string{"absent.pth"}},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.file)+"/"+c.key, func(t *testing.T) {
			_, err := LoadKey(c.file, c.key)
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range c.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}
