package pth

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/bits"
	"path"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// This file reads the two containers torch.save writes: the zip archive
// (PyTorch 1.6 and later: archive/data.pkl plus one record per storage) and
// the legacy stream (five pickles, then the storages' bytes). Only gopickle's
// pickle machine is used, on input scanPickle has checked; storages are read
// here, each bounded by the bytes the file holds for it before anything is
// allocated.

// elemKind is the element type of a storage.
type elemKind uint8

const (
	elemF32 elemKind = iota
	elemF64
	elemF16
	elemBF16
	elemI64
	elemI32
	elemI16
	elemI8
	elemU8
	elemBool
)

var elemKinds = []struct {
	class string // torch's storage class
	size  int
}{
	elemF32: {"FloatStorage", 4}, elemF64: {"DoubleStorage", 8}, elemF16: {"HalfStorage", 2},
	elemBF16: {"BFloat16Storage", 2}, elemI64: {"LongStorage", 8}, elemI32: {"IntStorage", 4},
	elemI16: {"ShortStorage", 2}, elemI8: {"CharStorage", 1}, elemU8: {"ByteStorage", 1}, elemBool: {"BoolStorage", 1},
}

func (k elemKind) String() string { return "torch." + elemKinds[k].class }
func (k elemKind) size() int      { return elemKinds[k].size }

// at reads element i of raw as float64.
func (k elemKind) at(raw []byte, i int) float64 {
	le := binary.LittleEndian
	switch k {
	case elemF32:
		return float64(math.Float32frombits(le.Uint32(raw[4*i:])))
	case elemF64:
		return math.Float64frombits(le.Uint64(raw[8*i:]))
	case elemF16:
		return halfToFloat(le.Uint16(raw[2*i:]))
	case elemBF16:
		return float64(math.Float32frombits(uint32(le.Uint16(raw[2*i:])) << 16))
	case elemI64:
		return float64(int64(le.Uint64(raw[8*i:])))
	case elemI32:
		return float64(int32(le.Uint32(raw[4*i:])))
	case elemI16:
		return float64(int16(le.Uint16(raw[2*i:])))
	case elemI8:
		return float64(int8(raw[i]))
	case elemU8:
		return float64(raw[i])
	}
	if raw[i] != 0 { // elemBool
		return 1
	}
	return 0
}

// halfToFloat widens an IEEE 754 binary16 value exactly.
func halfToFloat(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e, m := int(h>>10)&0x1f, float64(h&0x3ff)
	switch e {
	case 0:
		return sign * math.Ldexp(m, -24)
	case 31:
		if m == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	}
	return sign * math.Ldexp(1024+m, e-25)
}

// storageClass stands for torch.FloatStorage and its kin in the pickle.
type storageClass struct{ kind elemKind }

// storage is a flat array of numel elements; data is filled once its bytes
// have been found in the file.
type storage struct {
	kind   elemKind
	key    string
	numel  int
	data   []byte
	filled bool
}

// tensor is what _rebuild_tensor_v2 makes: a strided view of a storage.
type tensor struct {
	st     *storage
	offset int
	size   []int
	stride []int
}

// rebuildTensor is torch._utils._rebuild_tensor_v2(storage, offset, size,
// stride, requires_grad, backward_hooks[, metadata]) and the older
// _rebuild_tensor(storage, offset, size, stride).
type rebuildTensor struct{}

func (rebuildTensor) Call(args ...any) (any, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor with %d arguments", len(args))
	}
	st, ok := args[0].(*storage)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor of %s, not a storage", describe(args[0]))
	}
	off, ok := args[1].(int)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor: storage offset is %s", describe(args[1]))
	}
	size, err := ints(args[2], "size")
	if err != nil {
		return nil, err
	}
	stride, err := ints(args[3], "stride")
	if err != nil {
		return nil, err
	}
	return &tensor{st: st, offset: off, size: size, stride: stride}, nil
}

func ints(v any, what string) ([]int, error) {
	t, ok := v.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor: %s is %s, not a tuple", what, describe(v))
	}
	out := make([]int, t.Len())
	for i := range out {
		if out[i], ok = t.Get(i).(int); !ok {
			return nil, fmt.Errorf("_rebuild_tensor: %s holds %s", what, describe(t.Get(i)))
		}
	}
	return out, nil
}

// storageBytes is numel elements of kind in bytes, refused when numel is
// negative or the product overflows.
func storageBytes(kind elemKind, numel int) (int, error) {
	if numel < 0 {
		return 0, fmt.Errorf("%s of %d elements", kind, numel)
	}
	hi, lo := bits.Mul64(uint64(numel), uint64(kind.size()))
	if hi != 0 || lo > math.MaxInt {
		return 0, fmt.Errorf("%s of %d elements overflows", kind, numel)
	}
	return int(lo), nil
}

// persistentID unpacks ('storage', class, key, location, numel, ...).
func persistentID(id any, minLen int) (*storage, *types.Tuple, error) {
	t, ok := id.(*types.Tuple)
	if !ok || t.Len() == 0 {
		return nil, nil, fmt.Errorf("persistent id %s is not a tuple", describe(id))
	}
	if s, _ := t.Get(0).(string); s != "storage" {
		return nil, t, nil // e.g. the legacy ('module', ...)
	}
	if t.Len() < minLen {
		return nil, nil, fmt.Errorf("storage persistent id of %d items, want %d", t.Len(), minLen)
	}
	cls, okC := t.Get(1).(*storageClass)
	key, okK := t.Get(2).(string)
	numel, okN := t.Get(4).(int)
	if !okC {
		return nil, nil, fmt.Errorf("storage of %s, not a torch storage class", describe(t.Get(1)))
	}
	if !okK || !okN {
		return nil, nil, fmt.Errorf("storage persistent id with key %s and size %s", describe(t.Get(2)), describe(t.Get(4)))
	}
	if _, err := storageBytes(cls.kind, numel); err != nil {
		return nil, nil, fmt.Errorf("storage %q: %w", key, err)
	}
	return &storage{kind: cls.kind, key: key, numel: numel}, t, nil
}

// unpickleBytes runs gopickle on one pickle that scanPickle has measured.
func unpickleBytes(b []byte, persistent func(any) (any, error)) (root any, err error) {
	defer func() { // gopickle still panics on some valid-looking input (unhashable dict keys)
		if r := recover(); r != nil {
			err = fmt.Errorf("unreadable pickle: %v", r)
		}
	}()
	u := pickle.NewUnpickler(bytes.NewReader(b))
	u.FindClass = findClass
	u.PersistentLoad = persistent
	if persistent == nil {
		u.PersistentLoad = func(any) (any, error) { return nil, errors.New("unexpected persistent id") }
	}
	return u.Load()
}

// archiveSizes are what a walk of a checkpoint's object tree is budgeted
// by: the elements its storages hold and the bytes of its object pickle.
type archiveSizes struct{ numel, pickle int }

// loadArchive reads the object tree of a checkpoint held in memory, with
// every storage's data in place, and its sizes.
func loadArchive(raw []byte) (any, archiveSizes, error) {
	var sizes archiveSizes
	if len(raw) == 0 {
		return nil, sizes, fmt.Errorf("empty file, not a checkpoint")
	}
	load := loadLegacy
	if bytes.HasPrefix(raw, []byte("PK\x03\x04")) {
		load = loadZip
	}
	root, err := load(raw, &sizes)
	return root, sizes, err
}

// loadZip reads a zip checkpoint: archive/data.pkl, and archive/data/KEY
// for each storage the pickle names.
func loadZip(raw []byte, sizes *archiveSizes) (any, error) {
	z, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		return nil, fmt.Errorf("damaged or truncated zip checkpoint: %w", err)
	}
	records := map[string]*zip.File{}
	var pkl *zip.File
	for _, f := range z.File {
		records[f.Name] = f
		dir, base := path.Split(f.Name)
		if base == "constants.pkl" {
			return nil, fmt.Errorf("a TorchScript archive, not a torch.save checkpoint")
		}
		if base == "data.pkl" && strings.Count(dir, "/") <= 1 {
			if pkl != nil {
				return nil, fmt.Errorf("two data.pkl records (%s and %s)", pkl.Name, f.Name)
			}
			pkl = f
		}
	}
	if pkl == nil {
		return nil, fmt.Errorf("no data.pkl in the zip archive")
	}
	prefix, _ := path.Split(pkl.Name)
	pickled, err := readRecord(pkl, maxPickleBytes)
	if err != nil {
		return nil, err
	}
	end, err := scanPickle(pickled)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	seen := map[string]*storage{}
	sizes.pickle = end
	return unpickleBytes(pickled[:end], func(id any) (any, error) {
		st, t, err := persistentID(id, 5)
		if err != nil {
			return nil, err
		}
		if st == nil {
			return nil, fmt.Errorf("unsupported persistent id %s", describe(t))
		}
		if old, ok := seen[st.key]; ok {
			if old.kind != st.kind || old.numel != st.numel {
				return nil, fmt.Errorf("storage %q declared as %s of %d and as %s of %d", st.key, old.kind, old.numel, st.kind, st.numel)
			}
			return old, nil
		}
		rec, ok := records[prefix+"data/"+st.key]
		if !ok {
			return nil, fmt.Errorf("storage %q: no record %sdata/%s in the archive", st.key, prefix, st.key)
		}
		want, _ := storageBytes(st.kind, st.numel)
		if rec.UncompressedSize64 != uint64(want) {
			return nil, fmt.Errorf("storage %q: %s of %d elements needs %d bytes, the archive holds %d",
				st.key, st.kind, st.numel, want, rec.UncompressedSize64)
		}
		if rec.Method != zip.Store && rec.UncompressedSize64 > 20*rec.CompressedSize64+4096 {
			return nil, fmt.Errorf("storage %q: record %s expands %d bytes to %d, far more than weights compress; refused as a zip bomb",
				st.key, rec.Name, rec.CompressedSize64, rec.UncompressedSize64)
		}
		if st.data, err = readRecord(rec, want); err != nil {
			return nil, err
		}
		if len(st.data) != want {
			return nil, fmt.Errorf("storage %q: record %s has %d bytes, want %d", st.key, rec.Name, len(st.data), want)
		}
		st.filled = true
		seen[st.key] = st
		sizes.numel += st.numel
		return st, nil
	})
}

// readRecord reads at most limit bytes of a zip record. The buffer grows with
// the bytes actually read, never with the size the record declares.
func readRecord(f *zip.File, limit int) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", f.Name, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(rc, int64(limit)+1)); err != nil {
		return nil, fmt.Errorf("record %s: %w", f.Name, err)
	}
	if buf.Len() > limit {
		return nil, fmt.Errorf("record %s is longer than %d bytes", f.Name, limit)
	}
	return buf.Bytes(), nil
}

// legacyMagic and legacyProtocol open every legacy torch.save stream.
const legacyProtocol = 1001

var legacyMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

// loadLegacy reads the pre-1.6 stream: magic number, protocol version and
// system information (three small pickles), the object tree, the list of
// storage keys, then each storage as an 8-byte element count and its bytes.
func loadLegacy(raw []byte, sizes *archiveSizes) (any, error) {
	at := 0
	next := func(what string, persistent func(any) (any, error)) (any, error) {
		n, err := scanPickle(raw[at:])
		if err != nil {
			return nil, fmt.Errorf("not a PyTorch checkpoint: %s at byte %d: %w", what, at, err)
		}
		v, err := unpickleBytes(raw[at:at+n], persistent)
		if err != nil {
			return nil, fmt.Errorf("not a PyTorch checkpoint: %s at byte %d: %w", what, at, err)
		}
		at += n
		return v, nil
	}
	magic, err := next("magic number", nil)
	if err != nil {
		return nil, err
	}
	if m, ok := magic.(*big.Int); !ok || m.Cmp(legacyMagic) != 0 {
		return nil, fmt.Errorf("not a PyTorch checkpoint: no torch.save magic number (found %s)", describe(magic))
	}
	if v, err := next("protocol version", nil); err != nil {
		return nil, err
	} else if v != legacyProtocol {
		return nil, fmt.Errorf("legacy checkpoint protocol %s, want %d", describe(v), legacyProtocol)
	}
	if _, err := next("system information", nil); err != nil {
		return nil, err
	}
	declared := map[string]*storage{}
	treeAt := at
	root, err := next("object tree", func(id any) (any, error) {
		st, t, err := persistentID(id, 6)
		if err != nil {
			return nil, err
		}
		if st == nil {
			if s, _ := t.Get(0).(string); s == "module" && t.Len() >= 2 {
				return t.Get(1), nil // a module's source record: its class
			}
			return nil, fmt.Errorf("unsupported persistent id %s", describe(t))
		}
		if t.Get(5) != nil {
			return nil, fmt.Errorf("storage %q is a view of another storage, which legacy checkpoints of PyTorch < 0.4 used; resave it with a newer PyTorch", st.key)
		}
		if nb, _ := storageBytes(st.kind, st.numel); nb > len(raw)-at {
			return nil, fmt.Errorf("storage %q: %s of %d elements needs %d bytes, the file holds %d in all",
				st.key, st.kind, st.numel, nb, len(raw))
		}
		if old, ok := declared[st.key]; ok {
			if old.kind != st.kind || old.numel != st.numel {
				return nil, fmt.Errorf("storage %q declared as %s of %d and as %s of %d", st.key, old.kind, old.numel, st.kind, st.numel)
			}
			return old, nil
		}
		declared[st.key] = st
		return st, nil
	})
	if err != nil {
		return nil, err
	}
	sizes.pickle = at - treeAt
	keys, err := next("storage keys", nil)
	if err != nil {
		return nil, err
	}
	list, ok := keys.(*types.List)
	if !ok {
		return nil, fmt.Errorf("legacy checkpoint: storage keys are %s, not a list", describe(keys))
	}
	for _, k := range *list {
		key, _ := k.(string)
		st, ok := declared[key]
		switch {
		case !ok:
			return nil, fmt.Errorf("legacy checkpoint: data for storage %s, which the object tree does not use", describe(k))
		case st.filled:
			return nil, fmt.Errorf("legacy checkpoint: storage %q given twice", key)
		case len(raw)-at < 8:
			return nil, fmt.Errorf("legacy checkpoint truncated: storage %q has no element count", key)
		}
		if n := binary.LittleEndian.Uint64(raw[at:]); n != uint64(st.numel) {
			return nil, fmt.Errorf("legacy checkpoint: storage %q holds %d elements but was declared with %d", key, n, st.numel)
		}
		at += 8
		nb, _ := storageBytes(st.kind, st.numel)
		if nb > len(raw)-at {
			return nil, fmt.Errorf("legacy checkpoint truncated: storage %q needs %d bytes, %d left", key, nb, len(raw)-at)
		}
		st.data, st.filled = raw[at:at+nb:at+nb], true
		at += nb
		sizes.numel += st.numel
	}
	for key, st := range declared {
		if !st.filled {
			return nil, fmt.Errorf("legacy checkpoint: storage %q has no data", key)
		}
	}
	return root, nil
}
