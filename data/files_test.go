//go:build unix

package data

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestNonRegularInputs: named pipes, devices and folders are refused at
// once, by Load, LoadNPY, ReadNPY and ReadFile alike, never read or waited on.
func TestNonRegularInputs(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.png")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	fifoNPY := filepath.Join(dir, "pipe.npy")
	require.NoError(t, syscall.Mkfifo(fifoNPY, 0o644))
	zero := filepath.Join(dir, "zero.npy")
	require.NoError(t, os.Symlink("/dev/zero", zero))
	cases := []struct {
		name, path, says string
	}{
		{"fifo image", fifo, "is a named pipe (FIFO); only regular files are read"},
		{"fifo npy", fifoNPY, "is a named pipe (FIFO)"},
		{"dev zero through a link", zero, "is a device"},
		{"folder", dir, "is a folder"},
	}
	readers := map[string]func(string) error{
		"Load":     func(p string) error { _, err := Load(p); return err },
		"LoadNPY":  func(p string) error { _, err := LoadNPY(p); return err },
		"ReadNPY":  func(p string) error { _, _, err := ReadNPY(p); return err },
		"ReadFile": func(p string) error { _, err := ReadFile(p, 1<<20); return err },
	}
	for _, c := range cases {
		for rname, read := range readers {
			t.Run(c.name+"/"+rname, func(t *testing.T) {
				done := make(chan error, 1)
				go func() { done <- read(c.path) }()
				select {
				case err := <-done:
					require.ErrorContains(t, err, c.says)
					require.ErrorContains(t, err, `"`+c.path+`"`)
				case <-time.After(5 * time.Second):
					t.Fatal("blocked on a file that is not a regular file")
				}
			})
		}
	}
}

func TestReadFileCap(t *testing.T) {
	p := filepath.Join(t.TempDir(), "w.bin")
	require.NoError(t, os.WriteFile(p, make([]byte, 1000), 0o644))
	_, err := ReadFile(p, 999)
	require.ErrorContains(t, err, "holds 1000 bytes, more than the 999 read at most")
	b, err := ReadFile(p, 1000)
	require.NoError(t, err)
	require.Len(t, b, 1000)
}

// ReadAll takes a stream up to the cap and refuses one longer, an endless
// one included, after reading one byte past the cap.
func TestReadAllCap(t *testing.T) {
	b, err := ReadAll(strings.NewReader(strings.Repeat("x", 1000)), 1000)
	require.NoError(t, err)
	require.Len(t, b, 1000)
	_, err = ReadAll(strings.NewReader(strings.Repeat("x", 1001)), 1000)
	require.ErrorContains(t, err, "more than the 1000 bytes read at most")
	zeros, err := os.Open("/dev/zero")
	require.NoError(t, err)
	defer zeros.Close()
	_, err = ReadAll(zeros, 1<<20)
	require.ErrorContains(t, err, "more than the 1048576 bytes")
}

// TestLongOutputName: any name the file system takes can be written, since
// the temporary name is short; nothing is left beside it.
func TestLongOutputName(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{200, 245, 255} {
		name := strings.Repeat("x", n-4) + ".png"
		require.NoError(t, Save(filepath.Join(dir, name), NewImage("x", 2, 2)), "name of %d bytes", n)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 3, "no temporary file left")
	require.LessOrEqual(t, len(filepath.Base(TempPattern(filepath.Join(dir, strings.Repeat("y", 255))))), 24)
}

// TestGuard: an output is refused when it is an input, through any path
// spelling or link, another output, or not a regular file; an output folder
// when it is an input folder. All before anything is written.
func TestGuard(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.png")
	weights := filepath.Join(dir, "w.pth")
	for _, p := range []string{in, weights} {
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
	}
	require.NoError(t, os.Symlink(in, filepath.Join(dir, "link.png")))
	require.NoError(t, os.Link(weights, filepath.Join(dir, "hard.pth")))
	require.NoError(t, os.Symlink(dir, filepath.Join(dir, "self")))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "pipe.png"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	guard := func(t *testing.T) *Guard {
		var g Guard
		require.NoError(t, g.Input("-in", in))
		require.NoError(t, g.Input("-weights", weights))
		require.NoError(t, g.Input("-in folder", dir))
		require.NoError(t, g.Output("-out", filepath.Join(dir, "new.png")))
		return &g
	}
	cases := []struct {
		name, out, says string
		folder          bool
	}{
		{"the input", in, `-o "` + in + `" would overwrite the input -in`, false},
		{"another spelling", filepath.Join(dir, "sub", "..", "in.png"), "would overwrite the input -in", false},
		{"a link to it", filepath.Join(dir, "link.png"), "would overwrite the input -in", false},
		{"the weights", weights, "would overwrite the input -weights", false},
		{"a hard link to the weights", filepath.Join(dir, "hard.pth"), "would overwrite the input -weights", false},
		{"through a linked folder", filepath.Join(dir, "self", "w.pth"), "would overwrite the input -weights", false},
		{"another output, not yet written", filepath.Join(dir, "self", "new.png"), "would both be written to one file", false},
		{"a named pipe", filepath.Join(dir, "pipe.png"), "is a named pipe (FIFO); an output may only replace a regular file", false},
		{"a folder", filepath.Join(dir, "sub"), "is a folder; an output may only replace a regular file", false},
		{"the input folder", filepath.Join(dir, "self"), "is the input folder", true},
		{"a folder that is a file", weights, "is not a folder", true},
		{"no parent", filepath.Join(dir, "w.pth", "x.png"), "not a directory", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := guard(t)
			add := g.Output
			if c.folder {
				add = g.OutputFolder
			}
			require.ErrorContains(t, add("-o", c.out), c.says)
		})
	}
	g := guard(t)
	require.NoError(t, g.Output("-o", filepath.Join(dir, "sub", "in.png")), "same name, other folder")
	require.NoError(t, g.OutputFolder("-o", filepath.Join(dir, "sub", "new", "deeper")), "made later")
	require.ErrorContains(t, g.Input("-late", filepath.Join(dir, "sub", "in.png")), "no such file")
	require.ErrorContains(t, g.Input("-late", filepath.Join(dir, "pipe.png")), "-late \"")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 7, "nothing written, no probe left")
}

func TestCheckWritable(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, CheckWritable(filepath.Join(dir, "a", "b")))
	if os.Geteuid() == 0 {
		t.Skip("root writes into read-only folders")
	}
	ro := filepath.Join(dir, "ro")
	require.NoError(t, os.Mkdir(ro, 0o555))
	require.ErrorContains(t, CheckWritable(filepath.Join(ro, "out")), "is not writable")
}
