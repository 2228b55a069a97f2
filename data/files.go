package data

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// OpenFile opens path for reading if it is a regular file (links followed)
// of at most maxBytes bytes. Named pipes, devices, sockets and folders are
// refused without blocking: the file is opened non-blocking and checked
// before anything is read, so a pipe with no writer cannot stall the caller
// and /dev/zero cannot feed it without end. Its errors name path quoted, and
// no package: callers say what the file was for.
func OpenFile(path string, maxBytes int64) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("%q: %w", path, unwrapPath(err))
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("%q: %w", path, unwrapPath(err))
	}
	if err := regular(path, st); err != nil {
		f.Close()
		return nil, 0, err
	}
	if st.Size() > maxBytes {
		f.Close()
		return nil, 0, fmt.Errorf("%q holds %d bytes, more than the %d read at most", path, st.Size(), maxBytes)
	}
	return f, st.Size(), nil
}

// ReadFile reads the whole of a regular file of at most maxBytes bytes; see
// OpenFile. A file that grows past maxBytes while it is read is refused too.
func ReadFile(path string, maxBytes int64) ([]byte, error) {
	f, size, err := OpenFile(path, maxBytes)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := readAtMost(f, maxBytes, size)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", path, unwrapPath(err))
	}
	return b, nil
}

// ReadAll reads r to its end, refusing more than maxBytes bytes: memory
// grows with the bytes read, never ahead of them, and a stream without end
// stops at the limit.
func ReadAll(r io.Reader, maxBytes int64) ([]byte, error) {
	return readAtMost(r, maxBytes, 0)
}

// readAtMost is ReadAll with room made at once for size bytes (a file's
// size, known beforehand).
func readAtMost(r io.Reader, maxBytes, size int64) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(int(min(size, maxBytes)) + 1)
	if _, err := buf.ReadFrom(io.LimitReader(r, maxBytes+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > maxBytes {
		return nil, fmt.Errorf("holds more than the %d bytes read at most", maxBytes)
	}
	return buf.Bytes(), nil
}

// regular refuses a file that is not a regular file, naming what it is.
func regular(path string, st fs.FileInfo) error {
	if st.Mode().IsRegular() {
		return nil
	}
	return fmt.Errorf("%q is %s; only regular files are read", path, kindOf(st.Mode()))
}

// kindOf names what a file that is not a regular file is.
func kindOf(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}
