package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Guard checks a command's outputs against its inputs before any work is
// done, so that no output replaces an input (an image, a reference, the
// weights, a checkpoint) or another output. Paths are compared twice: by
// file identity (os.SameFile, through symbolic and hard links) for what
// exists, and by canonical path (the folder with its links resolved, plus
// the base name) for outputs not written yet. Output folders are checked
// writable once each (CheckWritable). The zero value is an empty guard.
type Guard struct {
	inputs, outputs []guarded
	checked         map[string]bool // canonical output folders found writable
}

// guarded is one path a Guard holds: what it is for (a flag, for messages),
// its canonical path and, for what exists, its file info.
type guarded struct {
	what, path, canon string
	info              fs.FileInfo
	folder            bool
}

// Input records path as an input, what naming it in messages (e.g.
// "-weights"): a regular file, or a folder (an output folder may not be an
// input folder; files written into it are not compared). Anything else (a
// named pipe, a device, a missing path) is refused.
func (g *Guard) Input(what, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s %q: %w", what, path, unwrapPath(err))
	}
	if !st.IsDir() {
		if err := regular(path, st); err != nil {
			return fmt.Errorf("%s %w", what, err)
		}
	}
	in := guarded{what: what, path: path, canon: canonical(path), info: st, folder: st.IsDir()}
	for _, out := range g.outputs {
		if err := clash(out, in); err != nil {
			return err
		}
	}
	g.inputs = append(g.inputs, in)
	return nil
}

// Output records path as a file to be written (atomically, see
// WriteFileAtomic), what naming it in messages. It is refused when it is one
// of the inputs or another output, when it exists and is not a regular file,
// or when its folder (or the nearest existing parent of a folder still to be
// made) cannot be written.
func (g *Guard) Output(what, path string) error {
	return g.output(what, path, false)
}

// OutputFolder records dir as a folder that outputs are written into: it may
// not be an input folder, and it must be writable (or, when it does not
// exist yet, its nearest existing parent).
func (g *Guard) OutputFolder(what, dir string) error {
	return g.output(what, dir, true)
}

func (g *Guard) output(what, path string, folder bool) error {
	out := guarded{what: what, path: path, canon: canonical(path), folder: folder}
	if st, err := os.Stat(path); err == nil {
		out.info = st
		switch {
		case folder && !st.IsDir():
			return fmt.Errorf("%s %q is not a folder", what, path)
		case !folder && !st.Mode().IsRegular():
			return fmt.Errorf("%s %q is %s; an output may only replace a regular file", what, path, kindOf(st.Mode()))
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s %q: %w", what, path, unwrapPath(err))
	}
	for _, in := range g.inputs {
		if err := clash(out, in); err != nil {
			return err
		}
	}
	for _, prev := range g.outputs {
		if prev.folder == out.folder && same(prev, out) {
			return fmt.Errorf("%s %q and %s %q would both be written to one file", prev.what, prev.path, what, path)
		}
	}
	dir := path
	if !folder {
		dir = filepath.Dir(path)
	}
	if key := canonical(dir); !g.checked[key] {
		if err := CheckWritable(dir); err != nil {
			return fmt.Errorf("%s %q: %w", what, path, err)
		}
		if g.checked == nil {
			g.checked = map[string]bool{}
		}
		g.checked[key] = true
	}
	g.outputs = append(g.outputs, out)
	return nil
}

// clash refuses an output that is an input: the same file for a file, the
// same folder for a folder.
func clash(out, in guarded) error {
	if out.folder != in.folder || !same(out, in) {
		return nil
	}
	if in.folder {
		return fmt.Errorf("%s %q is the input folder %s %q: the outputs would be mixed with the inputs", out.what, out.path, in.what, in.path)
	}
	return fmt.Errorf("%s %q would overwrite the input %s %q", out.what, out.path, in.what, in.path)
}

// same reports whether a and b name one file: by identity when both exist,
// by canonical path otherwise.
func same(a, b guarded) bool {
	if a.info != nil && b.info != nil {
		return os.SameFile(a.info, b.info)
	}
	return a.canon == b.canon
}

// canonical is path made absolute with the links of its nearest existing
// folder resolved, plus the rest (base name included) as written.
func canonical(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	dir, rest := filepath.Dir(abs), filepath.Base(abs)
	for {
		if r, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return abs
		}
		dir, rest = parent, filepath.Join(filepath.Base(dir), rest)
	}
}
