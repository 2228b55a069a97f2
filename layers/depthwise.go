package layers

import "github.com/x/baryir/internal/op"

// Fast paths of the depthwise convolution for Restormer's 3x3 kernels with
// stride 1 and padding 1 ("same" size): interior pixels run without
// bounds tests, each output row written once from three input rows.

func (g convGeom) depthwise3x3() bool {
	return g.depthwise() && g.K == 3 && g.Stride == 1 && g.Pad == 1 && g.H >= 2 && g.W >= 2
}

// dw3Plane sets out (H x W) to the 3x3 "same" correlation of in with w.
func dw3Plane[T op.Float](out, in []T, w *[9]T, h, wd int) {
	for y := range h {
		o := out[y*wd : (y+1)*wd]
		clear(o)
		for ky := range 3 {
			iy := y + ky - 1
			if iy < 0 || iy >= h {
				continue
			}
			dw3Row(o, in[iy*wd:(iy+1)*wd], w[ky*3], w[ky*3+1], w[ky*3+2])
		}
	}
}

// dw3Row adds w0 r[x-1] + w1 r[x] + w2 r[x+1] to o[x] (zero outside r).
func dw3Row[T op.Float](o, r []T, w0, w1, w2 T) {
	n := len(o)
	r = r[:n]
	o[0] += w1*r[0] + w2*r[1]
	if n > 2 {
		oi := o[1 : n-1]
		if hasAVX && len(oi) >= 8 {
			if o32, ok := any(oi).([]float32); ok {
				// interior x in [1, 1+m): reads r[x-1..x+1], all inside r
				m := len(oi) &^ 7
				dw3RowAVX(&o32[0], &any(r).([]float32)[1], m, float32(w0), float32(w1), float32(w2))
				oi = oi[m:]
				r = r[m:]
				n -= m
				o = o[m:]
			}
		}
		a, b, c := r[:n-2], r[1:n-1], r[2:n]
		for x := range oi {
			oi[x] += w0*a[x] + w1*b[x] + w2*c[x]
		}
	}
	o[n-1] += w0*r[n-2] + w1*r[n-1]
}

func depthwise3x3Forward[T op.Float](g convGeom, y, x, w []T) {
	hw := g.H * g.W
	op.ParallelFor(g.B*g.Cin, func(i int) {
		c := i % g.Cin
		var wc [9]T
		copy(wc[:], w[c*9:c*9+9])
		if dw3Vector[T](g.W) {
			dw3PlaneAVX(any(y[i*hw:(i+1)*hw]).([]float32), any(x[i*hw:(i+1)*hw]).([]float32), any(&wc).(*[9]float32), g.H, g.W)
			return
		}
		dw3Plane(y[i*hw:(i+1)*hw], x[i*hw:(i+1)*hw], &wc, g.H, g.W)
	})
}

// dw3Vector reports whether the AVX whole-row kernels apply: float32 rows
// of a multiple of 8 pixels.
func dw3Vector[T op.Float](w int) bool {
	var z T
	_, f32 := any(z).(float32)
	return f32 && hasAVX && w%8 == 0
}

// forPaddedRows calls f(y, r0, r1, r2) for each row y of the h x w plane
// in, with rky pointing at pixel 0 of row y+ky-1 copied into a row of
// w+2 with a zero on each side (a row of zeros above and below the
// plane), so that AVX kernels may read one pixel past either end. Only
// three padded rows exist at a time, in L1, where padding the whole plane
// first wrote and read back a second copy of it.
func forPaddedRows(in []float32, h, w int, f func(y int, r0, r1, r2 *float32)) {
	pw := w + 2
	buf := op.Scratch[float32](4 * pw)
	defer op.Release(buf)
	clear(buf[3*pw:]) // the zero row
	pad := func(iy int) *float32 {
		if iy < 0 || iy >= h {
			return &buf[3*pw+1]
		}
		r := buf[iy%3*pw : iy%3*pw+pw]
		return &r[1]
	}
	fill := func(iy int) {
		if iy < h {
			r := buf[iy%3*pw : iy%3*pw+pw]
			r[0], r[w+1] = 0, 0
			copy(r[1:w+1], in[iy*w:(iy+1)*w])
		}
	}
	fill(0)
	for y := range h {
		fill(y + 1)
		f(y, pad(y-1), pad(y), pad(y+1))
	}
}

// dw3PlaneAVX is dw3Plane on float32 rows whose width is a multiple of 8.
func dw3PlaneAVX(out, in []float32, w *[9]float32, h, wd int) {
	forPaddedRows(in, h, wd, func(y int, r0, r1, r2 *float32) {
		dw3Rows3AVX(&out[y*wd], r0, r1, r2, wd, w)
	})
}

// depthwise3x3BackX: dx is the correlation of dy with the flipped kernel.
func depthwise3x3BackX[T op.Float](g convGeom, dx, w, dy []T) {
	hw := g.H * g.W
	op.ParallelFor(g.B*g.Cin, func(i int) {
		c := i % g.Cin
		var wc [9]T
		for j := range 9 {
			wc[j] = w[c*9+8-j]
		}
		if dw3Vector[T](g.W) {
			dw3PlaneAVX(any(dx[i*hw:(i+1)*hw]).([]float32), any(dy[i*hw:(i+1)*hw]).([]float32), any(&wc).(*[9]float32), g.H, g.W)
			return
		}
		dw3Plane(dx[i*hw:(i+1)*hw], dy[i*hw:(i+1)*hw], &wc, g.H, g.W)
	})
}

// depthwise3x3BackW: dw[ky,kx] = sum over pixels of dy[y,x] x[y+ky-1, x+kx-1].
func depthwise3x3BackW[T op.Float](g convGeom, dw, x, dy []T) {
	h, wd, hw := g.H, g.W, g.H*g.W
	op.ParallelFor(g.Cin, func(c int) {
		var s [9]T
		for b := range g.B {
			i := b*g.Cin + c
			plane, d := x[i*hw:(i+1)*hw], dy[i*hw:(i+1)*hw]
			if dw3Vector[T](wd) {
				var sv [9]float32
				dw3GradPlaneAVX(&sv, any(d).([]float32), any(plane).([]float32), h, wd)
				for j := range 9 {
					s[j] += T(sv[j])
				}
				continue
			}
			for y := range h {
				dr := d[y*wd : (y+1)*wd]
				for ky := range 3 {
					iy := y + ky - 1
					if iy < 0 || iy >= h {
						continue
					}
					s0, s1, s2 := dw3RowGrad(dr, plane[iy*wd:(iy+1)*wd])
					s[ky*3] += s0
					s[ky*3+1] += s1
					s[ky*3+2] += s2
				}
			}
		}
		for j := range 9 {
			dw[c*9+j] += s[j]
		}
	})
}

// dw3RowGrad returns sum_x d[x] r[x-1], sum_x d[x] r[x], sum_x d[x] r[x+1].
func dw3RowGrad[T op.Float](d, r []T) (s0, s1, s2 T) {
	n := len(d)
	r = r[:n]
	s1 = d[0]*r[0] + d[n-1]*r[n-1]
	s2 = d[0] * r[1]
	s0 = d[n-1] * r[n-2]
	if n > 2 {
		di := d[1 : n-1]
		if hasAVX && len(di) >= 8 {
			if d32, ok := any(di).([]float32); ok {
				m := len(di) &^ 7
				t0, t1, t2 := dw3GradAVX(&d32[0], &any(r).([]float32)[1], m)
				s0, s1, s2 = s0+T(t0), s1+T(t1), s2+T(t2)
				di = di[m:]
				r = r[m:]
				n -= m
			}
		}
		a, b, c := r[:n-2], r[1:n-1], r[2:n]
		var t0, t1, t2 T
		for x, v := range di {
			t0 += v * a[x]
			t1 += v * b[x]
			t2 += v * c[x]
		}
		s0, s1, s2 = s0+t0, s1+t1, s2+t2
	}
	return s0, s1, s2
}

// dw3GradPlaneAVX adds the 3x3 weight gradient of one plane to s, for
// float32 rows whose width is a multiple of 8.
func dw3GradPlaneAVX(s *[9]float32, d, x []float32, h, wd int) {
	forPaddedRows(x, h, wd, func(y int, r0, r1, r2 *float32) {
		for ky, r := range [3]*float32{r0, r1, r2} {
			if iy := y + ky - 1; iy < 0 || iy >= h {
				continue
			}
			s0, s1, s2 := dw3GradAVX(&d[y*wd], r, wd)
			s[ky*3] += s0
			s[ky*3+1] += s1
			s[ky*3+2] += s2
		}
	})
}
