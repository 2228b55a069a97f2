// Package pth reads the weights of PyTorch checkpoints (.pth, .pt) into
// named float64 tensors with the PyTorch state_dict names.
//
// It understands the shapes a checkpoint takes in practice: a plain
// state_dict, a dict holding one under a key such as "model" or "state_dict"
// (or the authors' trainer dict {"epoch", "BaryIR": module, "Pots": module}),
// a PyTorch Lightning checkpoint (PromptIR's released .ckpt files: a dict
// with "pytorch-lightning_version" whose "state_dict" names start with
// "net."), and a whole pickled nn.Module, whose parameters and buffers are
// collected by walking _parameters, _buffers and _modules. The pickle is interpreted by
// gopickle's pickle machine: no code in it is ever run, classes are only
// recorded by name.
//
// Checkpoints come from the internet, so everything is bounded by the file:
// each pickle is scanned opcode by opcode before gopickle sees it (every
// length must fit in the bytes that follow, and the opcode count, MARK depth
// and integer sizes are capped); the containers (zip and legacy) are read
// here rather than by gopickle's pytorch package, and each storage's size is
// checked against the bytes the file holds for it before it is allocated;
// sizes, strides and offsets are overflow-checked; and the elements copied
// out and the modules walked have budgets, since a pickle can name one
// storage or module many times for a few bytes each.
package pth

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/nlpodyssey/gopickle/types"

	"github.com/x/baryir/data"
	"github.com/x/baryir/internal/safetensors"
)

// weightKeys are the keys of a top-level dict that hold the model weights,
// in the order Load tries them.
var weightKeys = []string{"state_dict", "model_state_dict", "model", "BaryIR", "params_ema", "params", "net", "network"}

// Load reads the model weights of the checkpoint at path: a state_dict, the
// first of the usual weight keys ("state_dict", "model", "BaryIR", "params",
// "net", ...) of a top-level dict, the only entry of such a dict that holds
// tensors, or a whole pickled module. A "module." prefix (DataParallel) is
// stripped from every name. A Lightning checkpoint gives its state_dict,
// every name of which must start with "net." (stripped); one without a
// state_dict, or with other names, is refused.
func Load(path string) (map[string]safetensors.Tensor, error) {
	return LoadKey(path, "")
}

// LoadKey is Load restricted to the entry key of a top-level dict, e.g.
// "Pots" for the potentials of the authors' trainer checkpoints. An empty key
// means Load's choice.
func LoadKey(path, key string) (map[string]safetensors.Tensor, error) {
	raw, err := data.ReadFile(path, safetensors.MaxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("pth: %w", err)
	}
	ts, err := Decode(raw, key)
	if err != nil {
		return nil, fmt.Errorf("pth: %q: %w", path, err)
	}
	return ts, nil
}

// Decode is LoadKey on a checkpoint held in memory; its work and
// allocations are bounded by len(raw), as the package documentation says.
func Decode(raw []byte, key string) (map[string]safetensors.Tensor, error) {
	root, sizes, err := unpickle(raw)
	if err != nil {
		return nil, err
	}
	w := &walker{elems: 2*sizes.numel + 4096, modules: maxModules, entries: 2*sizes.pickle + 4096, seen: map[any]collected{}}
	if key == "" {
		if ts, ok, err := w.lightning(root); ok {
			return ts, err
		}
	}
	ts, err := w.extract(root, key)
	if err != nil {
		return nil, err
	}
	return stripPrefix(ts), nil
}

// lightningNet is the prefix of the network's names in the state_dict of a
// PyTorch Lightning checkpoint: PromptIR's LightningModule holds its
// network as `net`.
const lightningNet = "net."

// lightning reads a PyTorch Lightning checkpoint (a top-level dict with a
// "pytorch-lightning_version" entry, as PromptIR's released .ckpt files):
// the tensors of its "state_dict", every name of which must start with
// "net.", that prefix removed. Its other entries (hyper-parameters,
// optimizer and scheduler states, loops, callbacks) are not read. ok is
// false for any other checkpoint.
func (w *walker) lightning(root any) (ts map[string]safetensors.Tensor, ok bool, err error) {
	entries, isDict := dictEntries(root)
	if !isDict || !slices.ContainsFunc(entries, func(e entry) bool { return e.key == "pytorch-lightning_version" }) {
		return nil, false, nil
	}
	i := slices.IndexFunc(entries, func(e entry) bool { return e.key == "state_dict" })
	if i < 0 {
		return nil, true, fmt.Errorf("a PyTorch Lightning checkpoint without a \"state_dict\" (top-level keys %s)", keysOf(entries))
	}
	sd, err := w.collect(entries[i].value)
	if err != nil {
		return nil, true, fmt.Errorf("Lightning checkpoint: state_dict: %w", err)
	}
	if len(sd) == 0 {
		return nil, true, fmt.Errorf("Lightning checkpoint: its state_dict holds no tensors (it holds %s)", describe(entries[i].value))
	}
	names := make([]string, 0, len(sd))
	for name := range sd {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make(map[string]safetensors.Tensor, len(sd))
	for _, name := range names {
		short, found := strings.CutPrefix(name, lightningNet)
		if !found || short == "" {
			return nil, true, fmt.Errorf("Lightning checkpoint: state_dict name %q does not start with %q (the network of PromptIR's LightningModule)", name, lightningNet)
		}
		out[short] = sd[name]
	}
	return out, true, nil
}

// unpickle loads the checkpoint's object tree with its storages' data.
// gopickle may still panic on input it does not implement; that becomes an
// error here.
func unpickle(raw []byte) (root any, sizes archiveSizes, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unsupported checkpoint layout: %v", r)
		}
	}()
	return loadArchive(raw)
}

// maxModules bounds the modules a walk visits: a pickle can make a module
// its own child, or share children so that the paths multiply.
const maxModules = 1 << 16

// walker collects tensors within budgets, so that its work is linear in the
// file's size. A pickle may name one storage from many tensors at a few
// bytes each, so the elements copied out are bounded by twice the elements
// the file's storages hold (tied weights); it may name one container from
// many places, so each dict is collected once (seen), and the container
// entries visited, tensors or not, are bounded by twice the pickle's bytes
// (every entry the pickle holds costs it at least two).
type walker struct {
	elems   int // elements that may still be copied out
	modules int // modules that may still be visited
	entries int // container entries that may still be visited
	seen    map[any]collected
}

// collected is what collect found in one container.
type collected struct {
	ts  map[string]safetensors.Tensor
	err error
}

// entriesOf lists a dict's entries, charging them to the budget.
func (w *walker) entriesOf(v any) ([]entry, bool, error) {
	es, ok := dictEntries(v)
	if w.entries -= len(es); w.entries < 0 {
		return nil, ok, errors.New("the checkpoint's dicts hold more entries than its pickle's size allows: it names the same dicts over and over")
	}
	return es, ok, nil
}

// extract finds the tensors of root (or of root[key]) and names them.
func (w *walker) extract(root any, key string) (map[string]safetensors.Tensor, error) {
	entries, isDict, err := w.entriesOf(root)
	if err != nil {
		return nil, err
	}
	if key != "" {
		if !isDict {
			return nil, fmt.Errorf("key %q asked for, but the checkpoint holds %s, not a dict", key, describe(root))
		}
		for _, e := range entries {
			if e.key == key {
				ts, err := w.collect(e.value)
				if err == nil && len(ts) == 0 {
					err = fmt.Errorf("no tensors found under key %q (it holds %s)", key, describe(e.value))
				}
				return ts, err
			}
		}
		return nil, fmt.Errorf("no key %q: top-level dict has keys %s", key, keysOf(entries))
	}
	if !isDict {
		ts, err := w.collect(root)
		if err == nil && len(ts) == 0 {
			err = fmt.Errorf("no tensors found: the checkpoint holds %s", describe(root))
		}
		return ts, err
	}
	// A state_dict: tensors at the top level.
	for _, e := range entries {
		if _, ok := e.value.(*tensor); ok {
			return w.collect(root)
		}
	}
	for _, k := range weightKeys {
		for _, e := range entries {
			if e.key == k {
				if ts, err := w.collect(e.value); err != nil || len(ts) > 0 {
					return ts, err
				}
			}
		}
	}
	// Otherwise the one entry that holds tensors.
	var found []string
	var ts map[string]safetensors.Tensor
	for _, e := range entries {
		t, err := w.collect(e.value)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", e.key, err)
		}
		if len(t) > 0 {
			found = append(found, e.key)
			ts = t
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no tensors found: top-level dict has keys %s", keysOf(entries))
	case 1:
		return ts, nil
	}
	return nil, fmt.Errorf("several top-level keys hold tensors %s and none is a known weight key; name one with LoadKey", quoteKeys(found))
}

// collect names the tensors of a state_dict or of a pickled module, once
// per container however often the pickle names it.
func (w *walker) collect(v any) (map[string]safetensors.Tensor, error) {
	switch v.(type) {
	case *types.Dict, *types.OrderedDict, *object:
		if c, ok := w.seen[v]; ok {
			return c.ts, c.err
		}
		ts, err := w.collectOnce(v)
		w.seen[v] = collected{ts, err}
		return ts, err
	}
	return w.collectOnce(v)
}

func (w *walker) collectOnce(v any) (map[string]safetensors.Tensor, error) {
	out := map[string]safetensors.Tensor{}
	switch v := v.(type) {
	case *object:
		if _, ok := v.dict["_parameters"]; !ok {
			return out, nil // some other object: no weights
		}
		return out, w.walkModule(v, "", out, 0)
	case *tensor:
		return nil, fmt.Errorf("the checkpoint holds one bare tensor, not named weights")
	}
	entries, ok, err := w.entriesOf(v)
	if !ok || err != nil {
		return out, err
	}
	for _, e := range entries {
		t, ok := e.value.(*tensor)
		if !ok {
			continue // e.g. extra state; not a weight
		}
		ct, err := w.convert(t)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", e.key, err)
		}
		out[e.key] = ct
	}
	return out, nil
}

// walkModule adds m's parameters and persistent buffers under prefix, then
// its children's, as nn.Module.state_dict does.
func (w *walker) walkModule(m *object, prefix string, out map[string]safetensors.Tensor, depth int) error {
	if w.modules--; w.modules < 0 {
		return fmt.Errorf("more than %d modules visited at %q: the module tree repeats itself", maxModules, prefix)
	}
	if depth > 100 {
		return fmt.Errorf("module nesting deeper than 100 at %q", prefix)
	}
	skip := map[string]bool{}
	if s, ok := m.dict["_non_persistent_buffers_set"].(*object); ok {
		for _, name := range s.items {
			if n, ok := name.(string); ok {
				skip[n] = true
			}
		}
	}
	for _, field := range []string{"_parameters", "_buffers"} {
		entries, _, err := w.entriesOf(m.dict[field])
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.value == nil || skip[e.key] && field == "_buffers" {
				continue // a registered None, or not part of the state_dict
			}
			t, ok := e.value.(*tensor)
			if !ok {
				return fmt.Errorf("%q: %s is %s, not a tensor", prefix+e.key, field, describe(e.value))
			}
			ct, err := w.convert(t)
			if err != nil {
				return fmt.Errorf("%q: %w", prefix+e.key, err)
			}
			out[prefix+e.key] = ct
		}
	}
	children, _, err := w.entriesOf(m.dict["_modules"])
	if err != nil {
		return err
	}
	for _, e := range children {
		if e.value == nil {
			continue
		}
		c, ok := e.value.(*object)
		if !ok {
			return fmt.Errorf("%q: child module is %s", prefix+e.key, describe(e.value))
		}
		if err := w.walkModule(c, prefix+e.key+".", out, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// convert copies a tensor out of its storage, following offset and strides,
// after checking that every element it names lies inside the storage.
func (w *walker) convert(t *tensor) (safetensors.Tensor, error) {
	if len(t.size) != len(t.stride) {
		return safetensors.Tensor{}, fmt.Errorf("%d sizes but %d strides", len(t.size), len(t.stride))
	}
	n, last := 1, t.offset
	for i, s := range t.size {
		if s < 0 || t.stride[i] < 0 || t.offset < 0 {
			return safetensors.Tensor{}, fmt.Errorf("negative size, stride or offset in %v / %v / %d", t.size, t.stride, t.offset)
		}
		var ok bool
		if n, ok = mulInt(n, s); !ok {
			return safetensors.Tensor{}, fmt.Errorf("shape %v overflows", t.size)
		}
		if s > 0 {
			step, ok1 := mulInt(s-1, t.stride[i])
			last, ok = addInt(last, step)
			if !ok1 || !ok {
				return safetensors.Tensor{}, fmt.Errorf("shape %v with strides %v overflows", t.size, t.stride)
			}
		}
	}
	shape := append([]int{}, t.size...)
	if n == 0 {
		return safetensors.Tensor{Shape: shape, Data: []float64{}}, nil
	}
	if last >= t.st.numel {
		return safetensors.Tensor{}, fmt.Errorf("shape %v, strides %v at offset %d reach element %d of a storage of %d elements",
			t.size, t.stride, t.offset, last, t.st.numel)
	}
	if w.elems -= n; w.elems < 0 {
		return safetensors.Tensor{}, fmt.Errorf("the tensors name more than twice the elements the file's storages hold")
	}
	out := make([]float64, n)
	if contiguous(shape, t.stride) { // the usual case
		for i := range out {
			out[i] = t.st.kind.at(t.st.data, t.offset+i)
		}
		return safetensors.Tensor{Shape: shape, Data: out}, nil
	}
	idx := make([]int, len(shape))
	for i := range out {
		off := t.offset
		for d, j := range idx {
			off += j * t.stride[d]
		}
		out[i] = t.st.kind.at(t.st.data, off)
		for d := len(idx) - 1; d >= 0; d-- { // row-major increment
			if idx[d]++; idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return safetensors.Tensor{Shape: shape, Data: out}, nil
}

// mulInt and addInt are a*b and a+b of non-negative ints, with ok false on overflow.
func mulInt(a, b int) (int, bool) {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	return int(lo), hi == 0 && lo <= math.MaxInt
}

func addInt(a, b int) (int, bool) {
	s := a + b
	return s, s >= a
}

// contiguous reports whether strides are the row-major ones of shape
// (dimensions of size 1 may carry any stride).
func contiguous(shape, stride []int) bool {
	want := 1
	for d := len(shape) - 1; d >= 0; d-- {
		if shape[d] != 1 && stride[d] != want {
			return false
		}
		want *= shape[d]
	}
	return true
}

// stripPrefix drops DataParallel's "module." when every name carries it.
func stripPrefix(ts map[string]safetensors.Tensor) map[string]safetensors.Tensor {
	const p = "module."
	for name := range ts {
		if !strings.HasPrefix(name, p) {
			return ts
		}
	}
	out := make(map[string]safetensors.Tensor, len(ts))
	for name, t := range ts {
		out[strings.TrimPrefix(name, p)] = t
	}
	return out
}

type entry struct {
	key   string
	value any
}

// dictEntries lists a Dict's or OrderedDict's string-keyed entries in order.
func dictEntries(v any) ([]entry, bool) {
	var out []entry
	switch d := v.(type) {
	case *types.Dict:
		for _, e := range *d {
			if k, ok := e.Key.(string); ok {
				out = append(out, entry{k, e.Value})
			}
		}
	case *types.OrderedDict:
		for el := d.List.Front(); el != nil; el = el.Next() {
			e := el.Value.(*types.OrderedDictEntry)
			if k, ok := e.Key.(string); ok {
				out = append(out, entry{k, e.Value})
			}
		}
	default:
		return nil, false
	}
	return out, true
}

// keysOf lists a dict's keys for a message: sorted, quoted, the first 20.
func keysOf(es []entry) string {
	ks := make([]string, len(es))
	for i, e := range es {
		ks[i] = e.key
	}
	sort.Strings(ks)
	return quoteKeys(ks)
}

// quoteKeys writes keys quoted (control bytes escaped), the first 20 of them.
func quoteKeys(ks []string) string {
	const most = 20
	q := make([]string, 0, min(len(ks), most)+1)
	for _, k := range ks[:min(len(ks), most)] {
		q = append(q, strconv.Quote(k))
	}
	if len(ks) > most {
		q = append(q, fmt.Sprintf("... %d more", len(ks)-most))
	}
	return "[" + strings.Join(q, " ") + "]"
}

// describe names what a pickled value is, for error messages.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case *object:
		return "an object of class " + strconv.Quote(v.class.module+"."+v.class.name)
	case *types.Dict, *types.OrderedDict:
		es, _ := dictEntries(v)
		return fmt.Sprintf("a dict with keys %s", keysOf(es))
	case *types.List:
		return fmt.Sprintf("a list of %d items", v.Len())
	case *types.Tuple:
		return fmt.Sprintf("a tuple of %d items", v.Len())
	case *tensor:
		return fmt.Sprintf("a tensor of shape %v", v.size)
	case string:
		return "a string"
	case int, float64, bool:
		return fmt.Sprintf("the number %v", v)
	}
	return fmt.Sprintf("a %T", v)
}

// class is any Python class the pickle names: it records the name and makes
// objects that keep whatever state BUILD gives them. Nothing is executed.
type class struct{ module, name string }

// object is an instance of a class: its __dict__ state, or for a REDUCE'd
// value (set, torch.Size, ...) the call arguments flattened in items.
type object struct {
	class *class
	dict  map[string]any
	items []any
	// mapping holds the items SETITEM(S) gives an instance of a dict
	// subclass (Lightning's AttributeDict of hyper-parameters); they are
	// kept, never read for weights.
	mapping types.Dict
}

// Set stands for SETITEM(S) on the object, a dict subclass's instance.
func (o *object) Set(key, value any) { o.mapping.Set(key, value) }

func (c *class) PyNew(args ...any) (any, error) {
	return &object{class: c, dict: map[string]any{}}, nil
}

// Call stands for REDUCE(cls, args): the object records the arguments; a
// set's or list's elements are kept so _non_persistent_buffers_set can be read.
func (c *class) Call(args ...any) (any, error) {
	o := &object{class: c, dict: map[string]any{}}
	for _, a := range args {
		switch a := a.(type) {
		case *types.List:
			o.items = append(o.items, *a...)
		case *types.Tuple:
			o.items = append(o.items, *a...)
		default:
			o.items = append(o.items, a)
		}
	}
	return o, nil
}

func (o *object) PySetState(state any) error {
	if t, ok := state.(*types.Tuple); ok && t.Len() == 2 { // (dict, slots)
		if err := o.setDict(t.Get(1)); err != nil {
			return err
		}
		state = t.Get(0)
	}
	return o.setDict(state)
}

func (o *object) setDict(state any) error {
	entries, ok := dictEntries(state)
	if !ok {
		if state != nil {
			o.dict["__state__"] = state
		}
		return nil
	}
	for _, e := range entries {
		o.dict[e.key] = e.value
	}
	return nil
}

func (o *object) PyDictSet(key, value any) error {
	k, ok := key.(string)
	if !ok {
		return fmt.Errorf("non-string attribute name %v", key)
	}
	o.dict[k] = value
	return nil
}

func (o *object) PySetAttr(key string, value any) error {
	o.dict[key] = value
	return nil
}

// rebuildParameter is torch._utils._rebuild_parameter(data, requires_grad,
// hooks[, state]): a Parameter is its tensor here.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("_rebuild_parameter without arguments")
	}
	if _, ok := args[0].(*tensor); !ok {
		return nil, fmt.Errorf("_rebuild_parameter of %s", describe(args[0]))
	}
	return args[0], nil
}

// findClass serves every class gopickle's pytorch loader does not know.
func findClass(module, name string) (any, error) {
	if module == "torch" && strings.HasSuffix(name, "Storage") {
		for k, e := range elemKinds {
			if e.class == name {
				return &storageClass{elemKind(k)}, nil
			}
		}
		return nil, fmt.Errorf("unsupported storage class torch.%s", name)
	}
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
		return rebuildTensor{}, nil
	}
	if module+"."+name == "torch._utils._rebuild_parameter" ||
		module+"."+name == "torch._utils._rebuild_parameter_with_state" {
		return rebuildParameter{}, nil
	}
	return &class{module: module, name: name}, nil
}
