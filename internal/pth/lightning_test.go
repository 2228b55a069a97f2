package pth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/x/baryir/internal/safetensors"
)

// lightningDir holds the Lightning checkpoints written by the module's
// testdata/gen_promptir.py, relative to this package's testdata.
const lightningDir = "../../../testdata/"

// A PyTorch Lightning checkpoint, as PromptIR releases them, gives its
// state_dict's tensors without the "net." prefix, exactly the weights it
// was written from; its other entries (an argparse.Namespace inside an
// AttributeDict, optimizer and scheduler states, loops and callbacks
// holding tensors) are tolerated and not read.
func TestLightningCheckpoint(t *testing.T) {
	ts, err := Load(filepath.Join("testdata", lightningDir, "promptir_tiny.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	fix, err := safetensors.Read(filepath.Join("testdata", lightningDir, "promptir.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "promptir/weights/"
	want := 0
	for name, w := range fix {
		short, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		want++
		got, ok := ts[short]
		if !ok {
			t.Fatalf("%s missing from the checkpoint's %d tensors", short, len(ts))
		}
		if len(got.Data) != len(w.Data) {
			t.Fatalf("%s: %d values, want %d", short, len(got.Data), len(w.Data))
		}
		for i := range w.Data {
			if float32(got.Data[i]) != float32(w.Data[i]) {
				t.Fatalf("%s[%d] = %g, want %g", short, i, got.Data[i], w.Data[i])
			}
		}
	}
	if len(ts) != want {
		t.Errorf("%d tensors, want the %d of the state_dict", len(ts), want)
	}
}

func TestLightningCheckpointRefused(t *testing.T) {
	for _, c := range []struct{ file, says string }{
		{"promptir_nostate.ckpt", `Lightning checkpoint without a "state_dict"`},
		{"promptir_noprefix.ckpt", `state_dict name "model.patch_embed.proj.weight" does not start with "net."`},
	} {
		t.Run(c.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", lightningDir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Decode(raw, "")
			if err == nil || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("error %v, want one saying %q", err, c.says)
			}
		})
	}
}
