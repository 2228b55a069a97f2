package data

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFileAtomic writes data to a temporary file in path's folder and
// renames it to path, so readers never see a half-written file. The
// temporary name (see TempPattern) is at most 24 bytes whatever path's
// name, so every name the file system allows can be written.
func WriteFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), tempName(path))
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644) // CreateTemp makes files private; outputs are ordinary files
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// tempName is the os.CreateTemp pattern of path's temporary files: a dot,
// eight hex digits of a hash of the base name, a random number and ".tmp".
func tempName(path string) string {
	h := fnv.New32a()
	h.Write([]byte(filepath.Base(path)))
	return fmt.Sprintf(".%08x-*.tmp", h.Sum32())
}

// TempPattern is the filepath.Glob pattern matching the temporary files
// WriteFileAtomic makes for path, so that a run can remove those a killed
// run left behind.
func TempPattern(path string) string {
	return filepath.Join(filepath.Dir(path), tempName(path))
}

// CheckWritable checks, before any work, that files can be written in the
// folder dir: it creates, writes 4 KiB to and removes a temporary file there,
// so that a read-only folder or a full disk is found at once. A folder that
// does not exist yet is checked at its nearest existing parent, where it
// would be made.
func CheckWritable(dir string) error {
	at := dir
	for {
		st, err := os.Stat(at)
		if err == nil && st.IsDir() {
			break
		}
		if err == nil {
			return fmt.Errorf("data: %q is not a folder", at)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("data: folder %q: %w", dir, unwrapPath(err))
		}
		parent := filepath.Dir(at)
		if parent == at {
			return fmt.Errorf("data: folder %q: no existing parent folder", dir)
		}
		at = parent
	}
	f, err := os.CreateTemp(at, ".probe-*.tmp")
	if err != nil {
		return fmt.Errorf("data: folder %q is not writable: %w", at, unwrapPath(err))
	}
	_, err = f.Write(make([]byte, 4096))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	os.Remove(f.Name())
	if err != nil {
		return fmt.Errorf("data: folder %q is not writable: %w", at, unwrapPath(err))
	}
	return nil
}

// unwrapPath drops an *fs.PathError's operation and raw path, which callers
// name themselves, quoted.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
