//go:build unix

package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/x/baryir/data"
)

// listing is the sorted names and sizes of what dir holds, to show that a
// refused run wrote nothing.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil {
			out = append(out, fmt.Sprint(p, " ", info.Mode(), " ", info.Size()))
		}
		return err
	}))
	slices.Sort(out)
	return out
}

// TestOutputsGuarded: every output (-out, the _compare picture) is checked
// against every input (the image, -compare, -weights) before the weights
// are read, through links too; a refused run writes nothing.
func TestOutputsGuarded(t *testing.T) {
	dir := t.TempDir()
	d := filepath.Join(dir, "d")
	require.NoError(t, os.Mkdir(d, 0o755))
	corrupt := filepath.Join(d, "w.png") // weights with an image's name, damaged so reading them would say so
	require.NoError(t, os.WriteFile(corrupt, []byte("garbage!garbage!"), 0o644))
	img := data.NewImage("x", 8, 8)
	for _, name := range []string{"x_compare.png", "x.png", "c.png", "out_compare.png"} {
		require.NoError(t, data.Save(filepath.Join(d, name), img))
	}
	require.NoError(t, os.Symlink(corrupt, filepath.Join(d, "link.png")))
	p := func(name string) string { return filepath.Join(d, name) }
	cases := []struct {
		name, in, out, compare, says string
	}{
		{"compare picture over the input", p("x_compare.png"), p("x.png"), p("c.png"), `the -compare picture "` + p("x_compare.png") + `" would overwrite the input -in`},
		{"compare picture over the clean reference", p("x.png"), p("out.png"), p("out_compare.png"), "would overwrite the input -compare"},
		{"out is the clean reference", p("x.png"), p("c.png"), p("c.png"), `-out "` + p("c.png") + `" would overwrite the input -compare`},
		{"out is the weights", p("x.png"), corrupt, "", "would overwrite the input -weights"},
		{"out links to the weights", p("x.png"), p("link.png"), "", "would overwrite the input -weights"},
		{"out is the input through ..", p("x.png"), filepath.Join(d, "..", "d", "x.png"), "", "would overwrite the input -in"},
	}
	before := listing(t, dir)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := opts(corrupt, c.in, c.out)
			o.compare = c.compare
			err := run(o, io.Discard)
			require.ErrorContains(t, err, c.says)
			require.NotContains(t, err.Error(), "header", "the weights were read first")
			require.Equal(t, before, listing(t, dir), "nothing written")
		})
	}
}

// TestNonRegularInputs: a named pipe or a device as an input is refused at
// once, before the weights are read; in a folder it is listed as a failure
// and the other images are restored.
func TestNonRegularInputs(t *testing.T) {
	o := npyOptions(t)
	dir := filepath.Dir(o.in)
	fifo := filepath.Join(dir, "pipe.png")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	zero := filepath.Join(dir, "zero.npy")
	require.NoError(t, os.Symlink("/dev/zero", zero))
	zeroWeights := filepath.Join(dir, "zero.safetensors")
	require.NoError(t, os.Symlink("/dev/zero", zeroWeights))
	for _, c := range []struct {
		name string
		edit func(*options)
		says string
	}{
		{"fifo input", func(o *options) { o.in = fifo; o.out = filepath.Join(dir, "o.png") }, `-in "` + fifo + `" is a named pipe (FIFO)`},
		{"dev zero input", func(o *options) { o.in = zero }, `-in "` + zero + `" is a device`},
		{"dev zero weights", func(o *options) { o.weights = zeroWeights }, `-weights "` + zeroWeights + `" is a device`},
		{"fifo compare", func(o *options) { o.compare = fifo }, `-compare "` + fifo + `" is a named pipe`},
	} {
		t.Run(c.name, func(t *testing.T) {
			oc := o
			c.edit(&oc)
			done := make(chan error, 1)
			go func() { done <- run(oc, io.Discard) }()
			select {
			case err := <-done:
				require.ErrorContains(t, err, c.says)
			case <-time.After(10 * time.Second):
				t.Fatal("blocked on a file that is not a regular file")
			}
		})
	}

	in := filepath.Join(dir, "in")
	require.NoError(t, os.Mkdir(in, 0o755))
	im, err := data.Load(o.in)
	require.NoError(t, err)
	require.NoError(t, data.Save(filepath.Join(in, "a.npy"), im))
	require.NoError(t, syscall.Mkfifo(filepath.Join(in, "b.png"), 0o644))
	require.NoError(t, os.Symlink("/dev/zero", filepath.Join(in, "c\x1b]0;owned\a.npy")))
	o.in, o.out = in, filepath.Join(dir, "out")
	err = run(o, io.Discard)
	require.ErrorContains(t, err, "2 of 3 images failed")
	require.ErrorContains(t, err, `b.png" is a named pipe`)
	require.ErrorContains(t, err, `c\x1b]0;owned\a.npy" is a device`)
	require.NotContains(t, err.Error(), "\x1b")
	_, err = data.Load(filepath.Join(o.out, "a.npy"))
	require.NoError(t, err, "the regular image is restored")
}

// TestLongOutputName: an output name of 245 bytes, legal on every common
// file system, is written (the temporary name beside it is short).
func TestLongOutputName(t *testing.T) {
	o := npyOptions(t)
	o.out = filepath.Join(filepath.Dir(o.out), strings.Repeat("n", 241)+".npy")
	require.NoError(t, run(o, io.Discard))
	_, err := data.Load(o.out)
	require.NoError(t, err)
}

// TestNaNInputBlamesTheInput: a NaN in the input is the input's fault.
func TestNaNInputBlamesTheInput(t *testing.T) {
	o := npyOptions(t)
	vals, shape, err := data.ReadNPY(o.in)
	require.NoError(t, err)
	vals[7] = float32(math.NaN())
	require.NoError(t, data.WriteNPY(o.in, vals, shape))
	err = run(o, io.Discard)
	require.ErrorContains(t, err, `"`+o.in+`": the input image holds NaN at channel 0`)
	require.NotContains(t, err.Error(), "weights")
}

// TestReadOnlyOutputFolder: a folder that cannot be written is found before
// the weights are read.
func TestReadOnlyOutputFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes into read-only folders")
	}
	o := npyOptions(t)
	ro := filepath.Join(filepath.Dir(o.in), "ro")
	require.NoError(t, os.Mkdir(ro, 0o555))
	o.out = filepath.Join(ro, "out.npy")
	o.weights = o.in // damaged weights: reading them first would say so
	require.ErrorContains(t, run(o, io.Discard), "is not writable")
}
