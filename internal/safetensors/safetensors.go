// Package safetensors reads and writes the safetensors format: an 8-byte
// little-endian header length, a JSON header naming each tensor's dtype, shape
// and byte range, then the raw little-endian data. It is the format of our
// weights and of the PyTorch fixtures the tests compare against.
package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sort"

	"github.com/x/baryir/data"
)

// Tensor is one named array, always held as float64 here whatever its
// stored dtype (F32, F64, F16 is not supported; I64 and I32 are read as numbers).
type Tensor struct {
	Shape []int
	Data  []float64
}

// Size is the number of elements the shape holds.
func (t Tensor) Size() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// F32 returns the data as float32.
func (t Tensor) F32() []float32 {
	o := make([]float32, len(t.Data))
	for i, v := range t.Data {
		o[i] = float32(v)
	}
	return o
}

type entry struct {
	Dtype   string `json:"dtype"`
	Shape   []int  `json:"shape"`
	Offsets [2]int `json:"data_offsets"`
}

// Read loads every tensor of a safetensors file.
func Read(path string) (map[string]Tensor, error) {
	ts, _, err := ReadMeta(path)
	return ts, err
}

// MaxFileBytes is the largest weights file read, safetensors or PyTorch:
// 2 GiB, over four times a Lightning checkpoint of Restormer or PromptIR
// with its Adam state (about 0.3 to 0.5 GB). Only regular files are read.
const MaxFileBytes = 2 << 30

// ReadMeta is Read that also returns the header's __metadata__ strings.
func ReadMeta(path string) (map[string]Tensor, map[string]string, error) {
	raw, err := data.ReadFile(path, MaxFileBytes)
	if err != nil {
		return nil, nil, err
	}
	ts, meta, err := DecodeMeta(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%q: %w", path, err)
	}
	return ts, meta, nil
}

// MaxHeader is the largest JSON header Decode accepts, the reference
// implementation's limit (100 MB).
const MaxHeader = 100_000_000

// dtypeSize gives the element size of every dtype of the format; Decode
// reads F32, F64, I64 and I32 and refuses the others by name.
var dtypeSize = map[string]int{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

// Decode parses a safetensors file held in memory. It checks the file as the
// reference implementation does before converting anything: a header of at
// most MaxHeader bytes that is a JSON object without duplicate names, known
// dtypes, non-negative shapes whose byte size does not overflow, and data
// ranges that tile the data section exactly, without holes or overlaps.
func Decode(raw []byte) (map[string]Tensor, error) {
	ts, _, err := DecodeMeta(raw)
	return ts, err
}

// DecodeMeta is Decode that also returns the header's __metadata__ strings.
func DecodeMeta(raw []byte) (map[string]Tensor, map[string]string, error) {
	if len(raw) < 8 {
		return nil, nil, fmt.Errorf("not a safetensors file: %d bytes", len(raw))
	}
	n := binary.LittleEndian.Uint64(raw)
	switch {
	case n > MaxHeader:
		return nil, nil, fmt.Errorf("not a safetensors file: header length %d exceeds the %d-byte limit", n, MaxHeader)
	case n > uint64(len(raw)-8):
		return nil, nil, fmt.Errorf("not a safetensors file: header length %d exceeds file size %d", n, len(raw))
	case n < 2 || raw[8] != '{':
		return nil, nil, fmt.Errorf("not a safetensors file: header does not start with '{'")
	}
	entries, meta, err := parseHeader(raw[8 : 8+n])
	if err != nil {
		return nil, nil, fmt.Errorf("not a safetensors file: bad header: %w", err)
	}
	body := raw[8+n:]
	if err := checkLayout(entries, len(body)); err != nil {
		return nil, nil, err
	}
	out := make(map[string]Tensor, len(entries))
	for _, e := range entries {
		t, err := decodeTensor(e, body)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", e.name, err)
		}
		out[e.name] = t
	}
	return out, meta, nil
}

// named is a header entry with its tensor's name and byte size.
type named struct {
	entry
	name  string
	bytes int
}

// parseHeader reads the header object entry by entry, so that a name given
// twice is caught (encoding/json would keep the last silently).
func parseHeader(h []byte) ([]named, map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(h))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, fmt.Errorf("not a JSON object")
	}
	seen := map[string]bool{}
	var out []named
	var meta map[string]string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		name, _ := tok.(string) // object keys are always strings
		if seen[name] {
			return nil, nil, fmt.Errorf("name %q appears twice", name)
		}
		seen[name] = true
		if name == "__metadata__" {
			if err := dec.Decode(&meta); err != nil {
				return nil, nil, fmt.Errorf("__metadata__ must map strings to strings: %w", err)
			}
			continue
		}
		var e entry
		if err := dec.Decode(&e); err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		size, ok := dtypeSize[e.Dtype]
		if !ok {
			return nil, nil, fmt.Errorf("tensor %q: unknown dtype %q", name, e.Dtype)
		}
		nb, err := byteSize(e.Shape, size)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		out = append(out, named{entry: e, name: name, bytes: nb})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, nil, err
	}
	if dec.More() || dec.InputOffset() != int64(len(bytes.TrimRight(h, " "))) {
		return nil, nil, fmt.Errorf("data after the header object")
	}
	return out, meta, nil
}

// byteSize is the size in bytes of shape's elements, refused when a
// dimension is negative or the product overflows.
func byteSize(shape []int, size int) (int, error) {
	n := size
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		hi, lo := bits.Mul64(uint64(n), uint64(d))
		if hi != 0 || lo > math.MaxInt {
			return 0, fmt.Errorf("shape %v overflows", shape)
		}
		n = int(lo)
	}
	return n, nil
}

// checkLayout requires the data ranges, in order, to run from 0 to the end of
// the data section, each as long as its tensor, with no holes or overlaps.
func checkLayout(es []named, bodyLen int) error {
	sort.Slice(es, func(i, j int) bool {
		a, b := es[i].Offsets, es[j].Offsets
		return a[0] < b[0] || a[0] == b[0] && a[1] < b[1]
	})
	at := 0
	for _, e := range es {
		s, end := e.Offsets[0], e.Offsets[1]
		switch {
		case s != at:
			return fmt.Errorf("tensor %q: data starts at %d, want %d (ranges must tile the data without holes or overlaps)", e.name, s, at)
		case end < s || end-s != e.bytes:
			return fmt.Errorf("tensor %q: data range %v holds %d bytes, but shape %v of %s needs %d", e.name, e.Offsets, end-s, e.Shape, e.Dtype, e.bytes)
		case end > bodyLen:
			return fmt.Errorf("tensor %q: data range %v outside the %d bytes of data", e.name, e.Offsets, bodyLen)
		}
		at = end
	}
	if at != bodyLen {
		return fmt.Errorf("the tensors cover %d bytes of data, but the file holds %d", at, bodyLen)
	}
	return nil
}

// decodeTensor converts one checked entry to float64.
func decodeTensor(e named, body []byte) (Tensor, error) {
	t := Tensor{Shape: e.Shape}
	if t.Shape == nil {
		t.Shape = []int{}
	}
	size := dtypeSize[e.Dtype]
	read := map[string]func([]byte) float64{
		"F32": func(w []byte) float64 { return float64(math.Float32frombits(binary.LittleEndian.Uint32(w))) },
		"F64": func(w []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(w)) },
		"I64": func(w []byte) float64 { return float64(int64(binary.LittleEndian.Uint64(w))) },
		"I32": func(w []byte) float64 { return float64(int32(binary.LittleEndian.Uint32(w))) },
	}[e.Dtype]
	if read == nil {
		return t, fmt.Errorf("unsupported dtype %s (F32, F64, I64 and I32 are read)", e.Dtype)
	}
	b := body[e.Offsets[0]:e.Offsets[1]]
	t.Data = make([]float64, e.bytes/size)
	for i := range t.Data {
		t.Data[i] = read(b[i*size:])
	}
	return t, nil
}

// Write stores tensors as float32 (or float64 when f64 is set), sorted by
// name, to path. It writes a temporary file beside path and renames it, so a
// failed write leaves no half file.
func Write(path string, ts map[string]Tensor, f64 bool) error {
	return WriteMeta(path, ts, f64, nil)
}

// WriteMeta is Write with __metadata__ strings in the header.
func WriteMeta(path string, ts map[string]Tensor, f64 bool, meta map[string]string) error {
	var buf bytes.Buffer
	if err := Encode(&buf, ts, f64, meta); err != nil {
		return err
	}
	return data.WriteFileAtomic(path, buf.Bytes())
}

// Encode writes tensors to w in the safetensors format, as float32 (or
// float64 when f64 is set), sorted by name, with meta as the header's
// __metadata__ strings (none when empty). Nothing is written when a
// tensor's data does not fit its shape.
func Encode(w io.Writer, ts map[string]Tensor, f64 bool, meta map[string]string) error {
	names := make([]string, 0, len(ts))
	for name := range ts {
		names = append(names, name)
	}
	sort.Strings(names)
	dtype, size := "F32", 4
	if f64 {
		dtype, size = "F64", 8
	}
	header := map[string]any{}
	off := 0
	for _, name := range names {
		t := ts[name]
		if t.Size() != len(t.Data) {
			return fmt.Errorf("tensor %q: %d values for shape %v", name, len(t.Data), t.Shape)
		}
		header[name] = entry{Dtype: dtype, Shape: append([]int{}, t.Shape...), Offsets: [2]int{off, off + len(t.Data)*size}}
		off += len(t.Data) * size
	}
	if len(meta) > 0 {
		if _, clash := ts["__metadata__"]; clash {
			return fmt.Errorf("a tensor may not be called __metadata__")
		}
		header["__metadata__"] = meta
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(hj))))
	bw.Write(hj)
	chunk := make([]byte, 0, 1<<16)
	for _, name := range names {
		for _, v := range ts[name].Data {
			if f64 {
				chunk = binary.LittleEndian.AppendUint64(chunk, math.Float64bits(v))
			} else {
				chunk = binary.LittleEndian.AppendUint32(chunk, math.Float32bits(float32(v)))
			}
			if len(chunk) == cap(chunk) {
				bw.Write(chunk)
				chunk = chunk[:0]
			}
		}
	}
	bw.Write(chunk)
	return bw.Flush() // a bufio.Writer keeps its first error; Flush returns it
}
