package baryir

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/data"
	"github.com/x/baryir/internal/pth"
	"github.com/x/baryir/internal/safetensors"
	"github.com/x/baryir/layers"
)

// StateDict maps PyTorch state_dict names to tensors.
type StateDict map[string]Tensor

// Tensor is one parameter's values as a state dict holds them: its shape
// and its data in row-major order, always float64 whatever the file's
// dtype, so checkpoints resume exactly.
type Tensor struct {
	Shape []int
	Data  []float64
}

// f32 returns the data as float32.
func (t Tensor) f32() []float32 {
	o := make([]float32, len(t.Data))
	for i, v := range t.Data {
		o[i] = float32(v)
	}
	return o
}

// stateDict converts what the file readers return.
func stateDict(ts map[string]safetensors.Tensor) StateDict {
	sd := make(StateDict, len(ts))
	for k, t := range ts {
		sd[k] = Tensor(t)
	}
	return sd
}

// fileTensors converts sd for the file writers.
func (sd StateDict) fileTensors() map[string]safetensors.Tensor {
	ts := make(map[string]safetensors.Tensor, len(sd))
	for k, t := range sd {
		ts[k] = safetensors.Tensor(t)
	}
	return ts
}

// unusedAuthorTensors are held by the authors' BaryNet but used by no
// computation; their checkpoints contain them, so loading ignores exactly these.
var unusedAuthorTensors = []string{
	"chnl_reduce1.weight", "chnl_reduce2.weight", "chnl_reduce3.weight",
	"reduce_noise_channel_1.weight", "reduce_noise_channel_2.weight", "reduce_noise_channel_3.weight",
}

// shapes lists the names and shapes of the tensors in sd.
func (sd StateDict) shapes() map[string][]int {
	m := make(map[string][]int, len(sd))
	for k, t := range sd {
		m[k] = t.Shape
	}
	return m
}

// Load sets the network's parameters from sd. Every parameter must be present
// with its exact shape, and sd may hold no other tensor (except the authors'
// unused ones); otherwise the error names each offending tensor.
func Load(net *Network, sd StateDict) error {
	if err := loadParams(net.Scope.Params(), sd, unusedAuthorTensors); err != nil {
		return errorf("weights do not fit the network: %w", err)
	}
	return nil
}

// loadParams sets ps from sd, which must hold exactly them (and the names in ignore).
func loadParams(ps []layers.Param, sd StateDict, ignore []string) error {
	var problems []string
	known := map[string]bool{}
	for _, p := range ps {
		known[p.Name] = true
		t, ok := sd[p.Name]
		if !ok {
			problems = append(problems, "missing "+p.Name)
			continue
		}
		want := []int(p.Node.Shape())
		if !slices.Equal(t.Shape, want) {
			problems = append(problems, fmt.Sprintf("%s has shape %v, want %v", p.Name, t.Shape, want))
			continue
		}
		if err := setValue(p.Node, t); err != nil {
			return errorf("setting %s: %w", p.Name, err)
		}
	}
	for name := range sd {
		if !known[name] && !slices.Contains(ignore, name) {
			problems = append(problems, "unexpected "+strconv.Quote(name))
		}
	}
	return problemsError(problems)
}

// problemsError joins what does not fit, sorted and cut to the first 12,
// into one error; nil when nothing is wrong.
func problemsError(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	if len(problems) > 12 {
		problems = append(problems[:12], fmt.Sprintf("... and %d more", len(problems)-12))
	}
	return errors.New(strings.Join(problems, "; "))
}

// setValue writes t into n's value in place, so machines and solvers
// holding that value see the change; a node without a value gets one.
func setValue(n *G.Node, t Tensor) error {
	if v := n.Value(); v != nil {
		switch d := v.Data().(type) {
		case []float32:
			copy(d, t.f32())
			return nil
		case []float64:
			copy(d, t.Data)
			return nil
		}
	}
	return G.Let(n, denseOf(t, n.Dtype()))
}

// denseOf converts a stored tensor to a Gorgonia value of dtype.
func denseOf(t Tensor, dt tensor.Dtype) *tensor.Dense {
	shape := tensor.Shape(append([]int{}, t.Shape...))
	if dt == tensor.Float64 {
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float64{}, t.Data...)))
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(t.f32()))
}

// StateDictOf copies the current values of params (a network's
// Params(), or any Builder's) into a state dict under their PyTorch names;
// it writes nothing (WriteWeights and EncodeWeights do). Every parameter
// must hold a float32 or float64 value.
func StateDictOf(params []layers.Param) (StateDict, error) {
	sd := StateDict{}
	for _, p := range params {
		v := p.Node.Value()
		if v == nil {
			return nil, errorf("weights: parameter %s has no value", p.Name)
		}
		data := make([]float64, v.Shape().TotalSize())
		switch d := v.Data().(type) {
		case []float32:
			for i, x := range d {
				data[i] = float64(x)
			}
		case []float64:
			copy(data, d)
		default:
			return nil, errorf("weights: parameter %s has dtype %v", p.Name, v.Dtype())
		}
		sd[p.Name] = Tensor{Shape: append([]int{}, v.Shape()...), Data: data}
	}
	return sd, nil
}

// ReadWeights reads a network's weights: a safetensors file (by the
// .safetensors extension; a training checkpoint of this package gives its
// network) or anything else as a PyTorch .pth/.pt file (a state_dict, a dict
// holding one under a key such as "model" or "BaryIR", or a whole pickled
// module), of at most MaxWeightsBytes. Reading a .pth runs none of its code,
// and its work is bounded by the file's size. DecodeWeights reads the same
// from an io.Reader.
func ReadWeights(path string) (StateDict, error) { return readEntry(path, "net/", "") }

// ReadPotentials reads latent potentials: the "pot/" part of a training
// checkpoint of this package, or the "Pots" entry of the authors' .pth
// checkpoints ({"epoch", "BaryIR", "Pots"}).
func readPotentials(path string) (StateDict, error) { return readEntry(path, "pot/", "Pots") }

// DecodeWeights reads a network's weights from r, to its end, as
// ReadWeights reads a file: safetensors (a training checkpoint of this
// package gives its network) or a PyTorch checkpoint, told apart by their
// first bytes (safetensors' 8-byte header length, then '{'), of at most
// MaxWeightsBytes; a longer stream is refused once that much is read.
func DecodeWeights(r io.Reader) (StateDict, error) {
	raw, err := data.ReadAll(r, MaxWeightsBytes)
	if err != nil {
		return nil, errorf("weights: %w", err)
	}
	isSafetensors := len(raw) > 8 && raw[8] == '{'
	sd, err := decodeEntry(raw, isSafetensors, "net/", "")
	if err != nil {
		return nil, errorf("weights: %w", err)
	}
	return sd, nil
}

// readEntry reads the tensors under prefix of a safetensors checkpoint (all
// of a plain safetensors file) or the entry key of a .pth file.
func readEntry(path, prefix, key string) (StateDict, error) {
	raw, err := data.ReadFile(path, MaxWeightsBytes)
	if err != nil {
		return nil, errorf("weights: %w", err)
	}
	sd, err := decodeEntry(raw, strings.EqualFold(filepath.Ext(path), ".safetensors"), prefix, key)
	if err != nil {
		return nil, errorf("weights: %q: %w", path, err)
	}
	return sd, nil
}

// decodeEntry is readEntry on a file held in memory.
func decodeEntry(raw []byte, isSafetensors bool, prefix, key string) (StateDict, error) {
	var (
		ts  map[string]safetensors.Tensor
		err error
	)
	if isSafetensors {
		ts, err = safetensors.Decode(raw)
		if err == nil && ts["meta/step"].Data != nil {
			ts = withPrefix(stateDict(ts), prefix).fileTensors()
		}
	} else {
		ts, err = pth.Decode(raw, key)
	}
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, errorf("holds no tensors")
	}
	return stateDict(ts), nil
}

// withPrefix returns the tensors named prefix+name, as name.
func withPrefix(sd StateDict, prefix string) StateDict {
	out := StateDict{}
	for k, v := range sd {
		if name, ok := strings.CutPrefix(k, prefix); ok {
			out[name] = v
		}
	}
	return out
}

// WriteWeights writes sd to path as safetensors (float32), atomically:
// a temporary file beside path, renamed once whole.
func WriteWeights(path string, sd StateDict) error {
	if err := safetensors.Write(path, sd.fileTensors(), false); err != nil {
		return errorf("weights: %w", err)
	}
	return nil
}

// EncodeWeights writes sd to w as safetensors (float32), tensors sorted by
// name, as WriteWeights writes a file; DecodeWeights and ReadWeights read
// it back. Nothing is written when a tensor's data does not fit its shape.
func EncodeWeights(w io.Writer, sd StateDict) error {
	if err := safetensors.Encode(w, sd.fileTensors(), false, nil); err != nil {
		return errorf("weights: %w", err)
	}
	return nil
}
