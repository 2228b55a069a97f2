// Package safetensors reads and writes the safetensors format: an 8-byte
// little-endian header length, a JSON header naming each tensor's dtype, shape
// and byte range, then the raw little-endian data. It is the format of our
// weights and of the PyTorch fixtures the tests compare against.
package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
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
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ts, err := Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ts, nil
}

// Decode parses a safetensors file held in memory.
func Decode(raw []byte) (map[string]Tensor, error) {
	if len(raw) < 8 {
		return nil, fmt.Errorf("not a safetensors file: %d bytes", len(raw))
	}
	n := binary.LittleEndian.Uint64(raw)
	if n > uint64(len(raw)-8) {
		return nil, fmt.Errorf("not a safetensors file: header length %d exceeds file size %d", n, len(raw))
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &header); err != nil {
		return nil, fmt.Errorf("not a safetensors file: bad header: %w", err)
	}
	body := raw[8+n:]
	out := make(map[string]Tensor, len(header))
	for name, msg := range header {
		if name == "__metadata__" {
			continue
		}
		var e entry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("tensor %q: bad header entry: %w", name, err)
		}
		t, err := decodeTensor(e, body)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

func decodeTensor(e entry, body []byte) (Tensor, error) {
	t := Tensor{Shape: e.Shape}
	if e.Offsets[0] < 0 || e.Offsets[1] < e.Offsets[0] || e.Offsets[1] > len(body) {
		return t, fmt.Errorf("data range %v outside the file", e.Offsets)
	}
	b := body[e.Offsets[0]:e.Offsets[1]]
	size := map[string]int{"F32": 4, "F64": 8, "I64": 8, "I32": 4}[e.Dtype]
	if size == 0 {
		return t, fmt.Errorf("unsupported dtype %s", e.Dtype)
	}
	if len(b) != t.Size()*size {
		return t, fmt.Errorf("%d bytes for shape %v of %s", len(b), e.Shape, e.Dtype)
	}
	t.Data = make([]float64, t.Size())
	for i := range t.Data {
		w := b[i*size:]
		switch e.Dtype {
		case "F32":
			t.Data[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(w)))
		case "F64":
			t.Data[i] = math.Float64frombits(binary.LittleEndian.Uint64(w))
		case "I64":
			t.Data[i] = float64(int64(binary.LittleEndian.Uint64(w)))
		case "I32":
			t.Data[i] = float64(int32(binary.LittleEndian.Uint32(w)))
		}
	}
	return t, nil
}

// Write stores tensors as float32 (or float64 when f64 is set), sorted by
// name, to path. It writes a temporary file beside path and renames it, so a
// failed write leaves no half file.
func Write(path string, ts map[string]Tensor, f64 bool) error {
	names := make([]string, 0, len(ts))
	for name := range ts {
		names = append(names, name)
	}
	sort.Strings(names)
	dtype, size := "F32", 4
	if f64 {
		dtype, size = "F64", 8
	}
	header := map[string]entry{}
	off := 0
	for _, name := range names {
		t := ts[name]
		if t.Size() != len(t.Data) {
			return fmt.Errorf("tensor %q: %d values for shape %v", name, len(t.Data), t.Shape)
		}
		header[name] = entry{Dtype: dtype, Shape: append([]int{}, t.Shape...), Offsets: [2]int{off, off + len(t.Data)*size}}
		off += len(t.Data) * size
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	buf := make([]byte, 8, 8+len(hj)+off)
	binary.LittleEndian.PutUint64(buf, uint64(len(hj)))
	buf = append(buf, hj...)
	for _, name := range names {
		for _, v := range ts[name].Data {
			if f64 {
				buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
			} else {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(float32(v)))
			}
		}
	}
	return WriteFileAtomic(path, buf)
}

// WriteFileAtomic is data.WriteFileAtomic.
func WriteFileAtomic(path string, b []byte) error { return data.WriteFileAtomic(path, b) }
