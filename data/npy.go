package data

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// npyMagic opens every NumPy .npy file.
const npyMagic = "\x93NUMPY"

// ReadNPY reads a C-ordered little-endian float32 or float64 .npy array
// (float64 is rounded to float32) and returns its values and shape.
func ReadNPY(path string) ([]float32, []int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	vals, shape, err := decodeNPY(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("data: %s: %w", path, err)
	}
	return vals, shape, nil
}

var (
	npyDescr   = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	npyFortran = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	npyShape   = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

func decodeNPY(raw []byte) ([]float32, []int, error) {
	if len(raw) < 10 || string(raw[:6]) != npyMagic {
		return nil, nil, fmt.Errorf("not a .npy file")
	}
	major := raw[6]
	var hlen, off int
	switch major {
	case 1:
		hlen, off = int(binary.LittleEndian.Uint16(raw[8:10])), 10
	case 2, 3:
		if len(raw) < 12 {
			return nil, nil, fmt.Errorf("truncated .npy header")
		}
		hlen, off = int(binary.LittleEndian.Uint32(raw[8:12])), 12
	default:
		return nil, nil, fmt.Errorf(".npy version %d not supported", major)
	}
	if off+hlen > len(raw) {
		return nil, nil, fmt.Errorf("truncated .npy header")
	}
	header := string(raw[off : off+hlen])
	body := raw[off+hlen:]
	d, f, s := npyDescr.FindStringSubmatch(header), npyFortran.FindStringSubmatch(header), npyShape.FindStringSubmatch(header)
	if d == nil || f == nil || s == nil {
		return nil, nil, fmt.Errorf("malformed .npy header %q", header)
	}
	if f[1] == "True" {
		return nil, nil, fmt.Errorf("fortran-ordered .npy arrays are not supported")
	}
	var size int
	switch d[1] {
	case "<f4":
		size = 4
	case "<f8":
		size = 8
	default:
		return nil, nil, fmt.Errorf(".npy dtype %q not supported (want <f4 or <f8)", d[1])
	}
	var shape []int
	for _, p := range strings.Split(s[1], ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, nil, fmt.Errorf("bad .npy shape %q", s[1])
		}
		shape = append(shape, n)
	}
	// The product is checked against the bytes present dimension by
	// dimension, so that it cannot overflow (a zero dimension makes it 0).
	count := 0
	if !slices.Contains(shape, 0) {
		count = 1
		for _, n := range shape {
			if count > len(body)/size/n {
				return nil, nil, fmt.Errorf(".npy shape (%s) needs more than the %d bytes of data present", s[1], len(body))
			}
			count *= n
		}
	}
	if len(body) != count*size {
		return nil, nil, fmt.Errorf(".npy data has %d bytes, shape %v needs %d", len(body), shape, count*size)
	}
	vals := make([]float32, count)
	for i := range vals {
		if size == 4 {
			vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
		} else {
			vals[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(body[8*i:])))
		}
	}
	return vals, shape, nil
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
		return fmt.Errorf("data: write %s: %d values do not fill shape %v", path, len(vals), shape)
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
		return fmt.Errorf("data: write %s: %w", path, err)
	}
	return nil
}

// LoadNPY reads a (1,3,H,W) or (3,H,W) float32 array as an Image. Values are
// kept as they are (not clipped), so model outputs round-trip exactly.
func LoadNPY(path string) (*Image, error) { return Loader{}.LoadNPY(path) }

// LoadNPY is the package's LoadNPY within l's pixel limit.
func (l Loader) LoadNPY(path string) (*Image, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	return l.decodeNPYImage(raw, path)
}

// decodeNPYImage reads a (1,3,H,W) or (3,H,W) .npy held in memory.
func (l Loader) decodeNPYImage(raw []byte, name string) (*Image, error) {
	vals, shape, err := decodeNPY(raw)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	if len(shape) == 4 && shape[0] == 1 {
		shape = shape[1:]
	}
	if len(shape) != 3 || shape[0] != 3 {
		return nil, fmt.Errorf("data: %s: .npy shape %v is not (1,3,H,W) or (3,H,W)", name, shape)
	}
	if err := l.checkSize(name, shape[1], shape[2]); err != nil {
		return nil, err
	}
	return &Image{Name: name, H: shape[1], W: shape[2], Pix: vals}, nil
}

// SaveNPY writes im as a float32 (1,3,H,W) array, the tensor the PyTorch
// model takes, atomically.
func SaveNPY(path string, im *Image) error {
	return WriteNPY(path, im.Pix, []int{1, 3, im.H, im.W})
}
