package op

import (
	"reflect"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GorgoniaSlice describes one of Gorgonia's own slice ops: Along is the
// sliced axis; Start and Step bound it unless Whole (the whole axis, no
// bounds); Grad marks the slice's gradient (sliceIncrOp), whose output
// has the sliced input's shape.
type GorgoniaSlice struct {
	Along, Start, Step int
	Whole, Grad        bool
}

// GorgoniaSliceOf reads o if it is Gorgonia's sliceOp or sliceIncrOp
// (their fields are unexported, so through reflection); ok is false for
// any other op. The guard against aliasing slices and the GPU executor,
// which runs these ops, both read them here.
func GorgoniaSliceOf(o G.Op) (s GorgoniaSlice, ok bool) {
	if o == nil {
		return s, false
	}
	v := reflect.ValueOf(o)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return s, false
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct || v.Type().PkgPath() != "gorgonia.org/gorgonia" {
		return s, false
	}
	switch v.Type().Name() {
	case "sliceOp":
	case "sliceIncrOp":
		s.Grad = true
		inner := v.FieldByName("sliceOp")
		if !inner.IsValid() || inner.Kind() != reflect.Pointer || inner.IsNil() {
			return s, false
		}
		v = inner.Elem()
	default:
		return s, false
	}
	af := v.FieldByName("along")
	if !af.IsValid() || !af.CanInt() {
		return s, false
	}
	s.Along, s.Step = int(af.Int()), 1
	sf := v.FieldByName("Slice")
	if !sf.IsValid() || sf.IsNil() {
		s.Whole = true
		return s, s.Along >= 0
	}
	sl, isSlice := sf.Interface().(tensor.Slice)
	if !isSlice {
		return s, false
	}
	s.Start, s.Step = sl.Start(), max(sl.Step(), 1)
	return s, s.Along >= 0
}
