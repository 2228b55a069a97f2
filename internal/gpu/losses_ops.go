//go:build baryirgpu

package gpu

// Per-sample losses of package losses (IRC, BRO) on B rows of F elements:
// norms and the B x B dot matrix on the device, the small B x B work in one
// block, and the gradients as a B x B by B x F product plus a row-scaled add.

// BRO computes out[i] = sum_j <b_i/|b_i|, r_j/|r_j|>^2.
func (d *Device) BRO(out, b, r Buf, nb, f int) {
	normB, normR, dots := d.Alloc(nb), d.Alloc(nb), d.Alloc(nb*nb)
	d.launch("row_norms_f32", [3]int{nb, 1, 1}, 256, 0, normB, b, f)
	d.launch("row_norms_f32", [3]int{nb, 1, 1}, 256, 0, normR, r, f)
	d.GemmFP32(false, true, nb, nb, f, 1, b, f, r, f, 0, dots, nb, One)
	d.launch("bro_small_f32", [3]int{1, 1, 1}, 32*((min(nb, 1024)+31)/32), 0, out, dots, dots, dots, normB, normR, normB, nb, 0)
	for _, x := range []Buf{normB, normR, dots} {
		d.Free(x)
	}
}

// BROGrad computes the gradient wrt b (wrt 0) or r (wrt 1) from b, r and dBRO.
func (d *Device) BROGrad(out, b, r, dl Buf, nb, f, wrt int) {
	normB, normR, dots := d.Alloc(nb), d.Alloc(nb), d.Alloc(nb*nb)
	a, c := d.Alloc(nb*nb), d.Alloc(nb*nb)
	d.launch("row_norms_f32", [3]int{nb, 1, 1}, 256, 0, normB, b, f)
	d.launch("row_norms_f32", [3]int{nb, 1, 1}, 256, 0, normR, r, f)
	d.GemmFP32(false, true, nb, nb, f, 1, b, f, r, f, 0, dots, nb, One)
	d.launch("bro_small_f32", [3]int{1, 1, 1}, 32*((min(nb, 1024)+31)/32), 0, dots, a, c, dots, normB, normR, dl, nb, 1)
	if wrt == 0 {
		d.backRows(out, b, r, a, c, normB, normR, nb, f, false)
	} else {
		d.backRows(out, r, b, a, c, normR, normB, nb, f, true)
	}
	for _, x := range []Buf{normB, normR, dots, a, c} {
		d.Free(x)
	}
}

// IRC computes the inter-residual contrastive loss per sample; ids holds the source ids as floats.
func (d *Device) IRC(out, r, ids Buf, nb, f int, tau float64) {
	norm, dots := d.Alloc(nb), d.Alloc(nb*nb)
	d.launch("row_norms_f32", [3]int{nb, 1, 1}, 256, 0, norm, r, f)
	d.GemmFP32(false, true, nb, nb, f, 1, r, f, r, f, 0, dots, nb, One)
	d.launch("irc_small_f32", [3]int{1, 1, 1}, 32*((min(nb, 1024)+31)/32), 0, out, dots, dots, dots, dots, norm, ids, norm, nb, float32(tau), 0)
	d.Free(norm)
	d.Free(dots)
}

// IRCGrad computes the gradient wrt r from r, ids and dIRC.
func (d *Device) IRCGrad(out, r, ids, dl Buf, nb, f int, tau float64) {
	norm, dots := d.Alloc(nb), d.Alloc(nb*nb)
	sym, tmp, c := d.Alloc(nb*nb), d.Alloc(nb*nb), d.Alloc(nb*nb)
	d.launch("row_norms_f32", [3]int{nb, 1, 1}, 256, 0, norm, r, f)
	d.GemmFP32(false, true, nb, nb, f, 1, r, f, r, f, 0, dots, nb, One)
	d.launch("irc_small_f32", [3]int{1, 1, 1}, 32*((min(nb, 1024)+31)/32), 0, dots, sym, tmp, c, dots, norm, ids, dl, nb, float32(tau), 1)
	d.backRows(out, r, r, sym, c, norm, norm, nb, f, false)
	for _, x := range []Buf{norm, dots, sym, tmp, c} {
		d.Free(x)
	}
}

// backRows writes dx_i = (sum_j A_ij y_j/ny_j - (sum_j A_ij C_ij) x_i/nx_i)/nx_i
// (A, C read transposed when trans), as losses.backRows adds to a zero dx.
func (d *Device) backRows(dx, x, y, a, c, nx, ny Buf, nb, f int, trans bool) {
	w, s := d.Alloc(nb*nb), d.Alloc(nb)
	d.launch("backrows_prep_f32", [3]int{1, 1, 1}, 32*((min(nb, 1024)+31)/32), 0, w, s, a, c, nx, ny, nb, b2i(trans))
	d.GemmFP32(false, false, nb, f, nb, 1, w, nb, y, f, 0, dx, f, One)
	d.elems("row_axpy_f32", nb*f, dx, x, s, f, i64(nb*f))
	d.Free(w)
	d.Free(s)
}

// SliceAxis copies indices start, start+step, ... (count of them) of axis A
// of in (outer, A, inner) to out (outer, count, inner).
func (d *Device) SliceAxis(out, in Buf, outer, a, inner, start, step, count int) {
	d.elems("slice_axis_f32", outer*count*inner, out, in, outer, a, inner, start, step, count)
}
