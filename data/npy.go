package data

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// npyMagic opens every NumPy .npy file.
const npyMagic = "\x93NUMPY"

// Limits on what the .npy readers read: maxNPYHeader bytes of header dict
// (NumPy writes about a hundred; its own reader stops at 10,000), and
// MaxNPYBytes in all for ReadNPY. LoadNPY reads at most what a (1,3,H,W)
// float64 image of MaxPixels takes.
const (
	maxNPYHeader = 1 << 16
	MaxNPYBytes  = 1 << 31
)

// npyHeader is what a .npy header says: the element size (4 for <f4, 8 for
// <f8), the shape, and where the data starts.
type npyHeader struct {
	size  int
	shape []int
	data  int
}

// count is the number of elements, or ok false when the shape needs more
// than have bytes of data (checked dimension by dimension, so that the
// product cannot overflow; a zero dimension makes it 0).
func (h npyHeader) count(have int64) (int, bool) {
	for _, n := range h.shape {
		if n == 0 {
			return 0, true
		}
	}
	count := 1
	for _, n := range h.shape {
		if int64(count) > have/int64(h.size)/int64(n) {
			return 0, false
		}
		count *= n
	}
	return count, true
}

// readNPYHeader reads and parses the header at the start of r.
func readNPYHeader(r io.Reader) (npyHeader, error) {
	var pre [12]byte
	if _, err := io.ReadFull(r, pre[:10]); err != nil || string(pre[:6]) != npyMagic {
		return npyHeader{}, errors.New("not a .npy file")
	}
	var hlen, off int
	switch major := pre[6]; major {
	case 1:
		hlen, off = int(binary.LittleEndian.Uint16(pre[8:10])), 10
	case 2, 3:
		if _, err := io.ReadFull(r, pre[10:12]); err != nil {
			return npyHeader{}, errors.New("truncated .npy header")
		}
		hlen, off = int(binary.LittleEndian.Uint32(pre[8:12])), 12
	default:
		return npyHeader{}, fmt.Errorf(".npy version %d not supported", major)
	}
	if hlen > maxNPYHeader {
		return npyHeader{}, fmt.Errorf(".npy header of %d bytes, more than the %d read", hlen, maxNPYHeader)
	}
	dict := make([]byte, hlen)
	if _, err := io.ReadFull(r, dict); err != nil {
		return npyHeader{}, errors.New("truncated .npy header")
	}
	h, err := parseNPYDict(string(dict))
	h.data = off + hlen
	return h, err
}

// parseNPYDict parses a .npy header: the Python dict literal NumPy writes,
// e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 8, 8), },
// followed by padding. It takes the literal as Python's parser would (any
// spacing, either quote, a trailing comma, the L suffix of Python 2 ints)
// and accepts exactly the keys descr, fortran_order and shape, once each,
// with descr '<f4' or '<f8', fortran_order False and a tuple of
// non-negative ints; anything else is refused by name.
func parseNPYDict(src string) (npyHeader, error) {
	p := &pyLexer{s: src}
	var h npyHeader
	seen := map[string]bool{}
	err := p.seq('{', '}', func() error {
		key, err := p.str()
		if err != nil {
			return fmt.Errorf("key: %w", err)
		}
		if seen[key] {
			return fmt.Errorf("key %q given twice", key)
		}
		seen[key] = true
		if err := p.expect(':'); err != nil {
			return err
		}
		switch key {
		case "descr":
			if p.peek() != '\'' && p.peek() != '"' {
				return errors.New("descr is not a string: structured and nested dtypes are not supported (want '<f4' or '<f8')")
			}
			d, err := p.str()
			switch {
			case err != nil:
				return fmt.Errorf("descr: %w", err)
			case d == "<f4":
				h.size = 4
			case d == "<f8":
				h.size = 8
			default:
				return fmt.Errorf("dtype %q not supported (want <f4 or <f8)", d)
			}
		case "fortran_order":
			switch w := p.word(); w {
			case "False":
			case "True":
				return errors.New("Fortran-ordered arrays are not supported")
			default:
				return fmt.Errorf("fortran_order is %q, not True or False", w)
			}
		case "shape":
			h.shape = []int{}
			if err := p.seq('(', ')', func() error {
				n, err := p.int()
				h.shape = append(h.shape, n)
				return err
			}); err != nil {
				return fmt.Errorf("shape: %w", err)
			}
			if len(h.shape) == 1 && !p.comma {
				return errors.New("shape: (n) is a number in Python, not a tuple; want (n,)")
			}
		default:
			return fmt.Errorf("unexpected key %q (a .npy header holds descr, fortran_order and shape only)", key)
		}
		return nil
	})
	if err == nil && strings.Trim(src[p.at:], " \t\r\n") != "" {
		err = fmt.Errorf("%q after the dict", clip(src[p.at:]))
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if err == nil && !seen[k] {
			err = fmt.Errorf("no %s", k)
		}
	}
	if err != nil {
		return npyHeader{}, fmt.Errorf("malformed .npy header %q: %w", clip(strings.TrimRight(src, " \n")), err)
	}
	return h, nil
}

// clip cuts a string for an error message.
func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// pyLexer reads the few Python literals of a .npy header.
type pyLexer struct {
	s     string
	at    int
	comma bool // the last seq ended with a comma after its last item
}

// space skips Python's white space.
func (p *pyLexer) space() {
	for p.at < len(p.s) && strings.IndexByte(" \t\r\n\f", p.s[p.at]) >= 0 {
		p.at++
	}
}

// peek is the next byte after white space, or 0 at the end.
func (p *pyLexer) peek() byte {
	p.space()
	if p.at == len(p.s) {
		return 0
	}
	return p.s[p.at]
}

func (p *pyLexer) expect(c byte) error {
	if got := p.peek(); got != c {
		return p.unexpected(fmt.Sprintf("%q", c))
	}
	p.at++
	return nil
}

func (p *pyLexer) unexpected(want string) error {
	if p.at == len(p.s) {
		return fmt.Errorf("the header ends where %s should be", want)
	}
	return fmt.Errorf("%q at byte %d, want %s", clip(p.s[p.at:]), p.at, want)
}

// seq reads open, items separated by commas (a trailing one allowed), close.
func (p *pyLexer) seq(open, close byte, item func() error) error {
	if err := p.expect(open); err != nil {
		return err
	}
	p.comma = false
	for p.peek() != close {
		if err := item(); err != nil {
			return err
		}
		if p.comma = p.peek() == ','; p.comma {
			p.at++
		} else if p.peek() != close {
			return p.unexpected(fmt.Sprintf("',' or %q", close))
		}
	}
	p.at++
	return nil
}

// str reads a quoted string. An escape is kept as written: no key or value
// the header may hold has one.
func (p *pyLexer) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", p.unexpected("a quoted string")
	}
	start := p.at + 1
	for i := start; i < len(p.s); i++ {
		switch p.s[i] {
		case q:
			p.at = i + 1
			return p.s[start:i], nil
		case '\\', '\n':
			return "", fmt.Errorf("string %q with an escape or a line break", clip(p.s[start:i+1]))
		}
	}
	return "", errors.New("unterminated string")
}

// word reads a run of letters, digits and underscores.
func (p *pyLexer) word() string {
	p.space()
	start := p.at
	for p.at < len(p.s) {
		c := p.s[p.at]
		if !(c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			break
		}
		p.at++
	}
	return p.s[start:p.at]
}

// int reads a non-negative decimal int, with Python 2's L suffix allowed.
func (p *pyLexer) int() (int, error) {
	if c := p.peek(); c < '0' || c > '9' {
		return 0, p.unexpected("a non-negative int")
	}
	w := p.word()
	if last := len(w) - 1; w[last] == 'L' || w[last] == 'l' {
		w = w[:last]
	}
	n, err := strconv.Atoi(w)
	if err != nil || n < 0 || w[0] == '+' || len(w) > 1 && w[0] == '0' {
		return 0, fmt.Errorf("bad dimension %q (want a non-negative int)", w)
	}
	return n, nil
}

// ReadNPY reads a C-ordered little-endian float32 or float64 .npy array
// (float64 is rounded to float32) and returns its values and shape. The file
// must be a regular file of at most MaxNPYBytes whose data fills exactly the
// shape its header gives; the header is read first, so nothing is allocated
// that the file does not hold.
func ReadNPY(path string) ([]float32, []int, error) {
	var shape []int
	vals, err := readNPYFile(path, MaxNPYBytes, func(h npyHeader) error { shape = h.shape; return nil })
	return vals, shape, err
}

// readNPYFile reads the .npy at path, of at most maxBytes, accepting its
// header with check before the data is read.
func readNPYFile(path string, maxBytes int64, check func(npyHeader) error) ([]float32, error) {
	f, size, err := OpenFile(path, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	vals, err := readNPY(f, size, check)
	if err != nil {
		return nil, fmt.Errorf("data: %q: %w", path, err)
	}
	return vals, nil
}

// readNPY reads a .npy of size bytes from r: the header, which check
// accepts, then the data, which must fill the rest exactly.
func readNPY(r io.Reader, size int64, check func(npyHeader) error) ([]float32, error) {
	h, err := readNPYHeader(r)
	if err != nil {
		return nil, err
	}
	body := size - int64(h.data)
	count, ok := h.count(body)
	if !ok {
		return nil, fmt.Errorf(".npy shape %v needs more than the %d bytes of data present", h.shape, body)
	}
	if int64(count)*int64(h.size) != body {
		return nil, fmt.Errorf(".npy data has %d bytes, shape %v needs %d", body, h.shape, count*h.size)
	}
	if err := check(h); err != nil {
		return nil, err
	}
	raw := make([]byte, count*h.size)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf(".npy data: %w", err)
	}
	vals := make([]float32, count)
	for i := range vals {
		if h.size == 4 {
			vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		} else {
			vals[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
		}
	}
	return vals, nil
}

// WriteNPY writes vals as a float32 .npy array of the given shape,
// atomically. NumPy and PyTorch (torch.from_numpy(np.load(path))) read it
// bit for bit.
func WriteNPY(path string, vals []float32, shape []int) error {
	count := 1
	dims := make([]string, len(shape))
	for i, n := range shape {
		count *= n
		dims[i] = strconv.Itoa(n)
	}
	if count != len(vals) {
		return fmt.Errorf("data: write %q: %d values do not fill shape %v", path, len(vals), shape)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", tuple)
	// Pad with spaces and a newline so the data starts 64-byte aligned, as NumPy does.
	total := len(npyMagic) + 4 + len(header) + 1
	header += strings.Repeat(" ", (64-total%64)%64) + "\n"
	var buf bytes.Buffer
	buf.WriteString(npyMagic)
	buf.Write([]byte{1, 0})
	binary.Write(&buf, binary.LittleEndian, uint16(len(header)))
	buf.WriteString(header)
	body := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(body[4*i:], math.Float32bits(v))
	}
	buf.Write(body)
	if err := WriteFileAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("data: write %q: %w", path, err)
	}
	return nil
}

// LoadNPY reads a (1,3,H,W) or (3,H,W) float32 array as an Image. Values are
// kept as they are (not clipped), so model outputs round-trip exactly; NaN
// and infinities are refused, naming the first.
func LoadNPY(path string) (*Image, error) { return Loader{}.LoadNPY(path) }

// LoadNPY is the package's LoadNPY within l's pixel limit: the shape is
// checked from the header before the data is read, and the file may hold at
// most what a float64 image of MaxPixels takes (plus its header).
func (l Loader) LoadNPY(path string) (*Image, error) {
	f, size, err := OpenFile(path, int64(l.maxPixels())*24+maxNPYHeader+12)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	return l.readNPYImage(f, size, path)
}

// readNPYImage reads a (1,3,H,W) or (3,H,W) .npy of size bytes from r.
func (l Loader) readNPYImage(r io.Reader, size int64, name string) (*Image, error) {
	var h, w int
	vals, err := readNPY(r, size, func(hd npyHeader) error {
		s := hd.shape
		if len(s) == 4 && s[0] == 1 {
			s = s[1:]
		}
		if len(s) != 3 || s[0] != 3 {
			return fmt.Errorf(".npy shape %v is not (1,3,H,W) or (3,H,W)", hd.shape)
		}
		h, w = s[1], s[2]
		return l.sizeError(h, w)
	})
	if err != nil {
		return nil, fmt.Errorf("data: %q: %w", name, err)
	}
	for i, v := range vals {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("data: %q: the input image holds %v at channel %d, row %d, column %d; an image must hold finite values",
				name, v, i/(h*w), i%(h*w)/w, i%w)
		}
	}
	return &Image{Name: name, H: h, W: w, Pix: vals}, nil
}

// SaveNPY writes im as a float32 (1,3,H,W) array, the tensor the PyTorch
// model takes, atomically.
func SaveNPY(path string, im *Image) error {
	return WriteNPY(path, im.Pix, []int{1, 3, im.H, im.W})
}
