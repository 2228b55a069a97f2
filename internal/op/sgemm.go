package op

// sgemm is Gemm for float32 on the AVX2/FMA micro-kernel: A is packed in
// panels of 4 rows (alpha folded in, zero rows padding the last panel), in
// blocks of sgemmMC rows; B is read in place, 16 columns at a time, where
// it is a narrow row-major k x n matrix (see sgemmInPlaceLD), and otherwise
// packed into a zero-padded k x 16 strip; C gets 4x16 tiles, K in blocks
// of sgemmKC so the strip of B stays in L1. With beta 0 the first K block
// stores into C instead of adding, so C need not be cleared first.
func sgemm(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 || (beta != 0 && beta != 1) {
		switch beta {
		case 1:
		case 0:
			for i := range m {
				clear(c[i*ldc : i*ldc+n])
			}
		default:
			for i := range m {
				for j, v := range c[i*ldc : i*ldc+n] {
					c[i*ldc+j] = beta * v
				}
			}
		}
		if k == 0 || alpha == 0 {
			return
		}
		beta = 1
	}
	kc := min(k, sgemmKC)
	mc := min(m, sgemmMC)
	ap := Scratch[float32]((mc + 3) / 4 * 4 * kc)
	defer Release(ap)
	bp := Scratch[float32](kc * 16)
	defer Release(bp)
	var tile [4 * 16]float32
	for k0 := 0; k0 < k; k0 += kc {
		kb := min(kc, k-k0)
		store := 0
		if beta == 0 && k0 == 0 {
			store = 1
		}
		for m0 := 0; m0 < m; m0 += mc {
			mb := min(mc, m-m0)
			panels := (mb + 3) / 4
			if ta {
				packA(ta, mb, kb, k0, alpha, a[m0:], lda, ap)
			} else {
				packA(ta, mb, kb, k0, alpha, a[m0*lda:], lda, ap)
			}
			for j := 0; j < n; j += 16 {
				w := min(16, n-j)
				var bs *float32
				ldbs := 16
				if !tb && w == 16 && ldb <= sgemmInPlaceLD {
					bs, ldbs = &b[k0*ldb+j], ldb
				} else {
					packB(tb, kb, k0, j, w, b, ldb, bp)
					bs = &bp[0]
				}
				for p := range panels {
					i := m0 + 4*p
					if i+4 <= m && w == 16 {
						kern4x16(kb, &ap[p*4*kb], bs, ldbs, &c[i*ldc+j], ldc, store)
						continue
					}
					kern4x16(kb, &ap[p*4*kb], bs, ldbs, &tile[0], 16, 1)
					for r := range min(4, m-i) {
						cr := c[(i+r)*ldc+j : (i+r)*ldc+j+w]
						if store != 0 {
							copy(cr, tile[r*16:r*16+w])
							continue
						}
						for x := range cr {
							cr[x] += tile[r*16+x]
						}
					}
				}
			}
		}
	}
}

// sgemmMC is the M block: a packed block of A of sgemmMC x sgemmKC is 128
// KiB, so it stays in L2 while every strip of B passes by it.
const sgemmMC = 128

// sgemmInPlaceLD is the widest row-major B read in place: wider, the 16
// rows of a strip lie so far apart (a power of two apart, for images) that
// they evict each other from the caches, and the strip is packed instead.
const sgemmInPlaceLD = 4096

// sgemmKC is the K block: a packed 16-column strip of B of this many rows is 16 KiB.
const sgemmKC = 256

// packA writes alpha*op(A)[:, k0:k0+kb] in panels of 4 rows: panel p holds
// kb groups of 4 values (rows 4p..4p+3 of column q), zero past row m.
func packA(ta bool, m, kb, k0 int, alpha float32, a []float32, lda int, ap []float32) {
	panels := (m + 3) / 4
	for p := range panels {
		dst := ap[p*4*kb : (p+1)*4*kb]
		for r := range 4 {
			i := 4*p + r
			if i >= m {
				for q := range kb {
					dst[4*q+r] = 0
				}
				continue
			}
			if ta {
				for q := range kb {
					dst[4*q+r] = alpha * a[(k0+q)*lda+i]
				}
			} else {
				row := a[i*lda+k0 : i*lda+k0+kb]
				for q, v := range row {
					dst[4*q+r] = alpha * v
				}
			}
		}
	}
}

// packB writes columns j..j+w of op(B)[k0:k0+kb, :] as a kb x 16 strip,
// zero past column w.
func packB(tb bool, kb, k0, j, w int, b []float32, ldb int, bp []float32) {
	bp = bp[:kb*16]
	if tb {
		if w < 16 {
			clear(bp)
		}
		for jj := range w {
			row := b[(j+jj)*ldb+k0 : (j+jj)*ldb+k0+kb]
			for q, v := range row {
				bp[q*16+jj] = v
			}
		}
		return
	}
	for q := range kb {
		dst := bp[q*16 : q*16+16]
		copy(dst, b[(k0+q)*ldb+j:(k0+q)*ldb+j+w])
		clear(dst[w:])
	}
}
