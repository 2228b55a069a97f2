package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/x/baryir/data"
)

// TestOutputGuard: -out is checked against the inputs before training: no
// output file may be -baseline-weights or -resume (but the checkpoint, for
// resuming in place), and -out may not be an image folder, through links.
func TestOutputGuard(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	bsd := filepath.Join(dir, "bsd68")
	for _, d := range []string{out, bsd} {
		require.NoError(t, os.Mkdir(d, 0o755))
	}
	// One clean image, so that -bsd68 pairs and the guard is what refuses.
	im := &data.Image{Name: "0001.png", H: 16, W: 16, Pix: make([]float32, 3*16*16)}
	require.NoError(t, data.Save(filepath.Join(bsd, "0001.png"), im))
	require.NoError(t, os.Symlink(bsd, filepath.Join(dir, "link")))
	for _, name := range []string{"weights.safetensors", "checkpoint.safetensors"} {
		require.NoError(t, os.WriteFile(filepath.Join(out, name), []byte("not a checkpoint"), 0o644))
	}
	cases := []struct {
		name, want string
		edit       func(*options)
	}{
		{"baseline weights are the weights written", "would overwrite the input -baseline-weights",
			func(o *options) { o.baselineWeights = filepath.Join(out, "weights.safetensors") }},
		{"baseline weights are the checkpoint written", "would overwrite the input -baseline-weights",
			func(o *options) { o.baselineWeights = filepath.Join(out, "checkpoint.safetensors") }},
		{"resume from the weights written", "would overwrite the input -resume",
			func(o *options) { o.resume = filepath.Join(dir, "out", "..", "out", "weights.safetensors") }},
		{"out is a test folder", "is the input folder -bsd68", func(o *options) { o.bsd68, o.out = bsd, bsd }},
		{"out links to a test folder", "is the input folder -bsd68", func(o *options) { o.bsd68, o.out = bsd, filepath.Join(dir, "link") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := shortRun(out)
			c.edit(&o)
			require.ErrorContains(t, run(o, io.Discard, io.Discard), c.want)
			entries, err := os.ReadDir(out)
			require.NoError(t, err)
			require.Len(t, entries, 2, "nothing written")
		})
	}
	// Resuming in place passes the guard: the damaged checkpoint is what fails.
	o := shortRun(out)
	o.resume = filepath.Join(out, "checkpoint.safetensors")
	err := run(o, io.Discard, io.Discard)
	require.ErrorContains(t, err, "checkpoint")
	require.NotContains(t, err.Error(), "would overwrite")
}
