package op

// sgemm is Gemm for float32 on the AVX2/FMA micro-kernel, blocked as in
// GotoBLAS so that every element of A and B is packed exactly once:
//
//   - K goes in blocks of sgemmKC; for each, op(A)[:, k0:k0+kb] is packed
//     in panels of 4 rows (alpha folded in, zero rows padding the last
//     panel).
//   - N goes in blocks of sgemmNC columns; for each, op(B)[k0:k0+kb, j0:j0+nb]
//     is packed into zero-padded kb x 16 strips. Packing a whole block
//     reads rows of B nb floats long, a stream, where one strip at a time
//     read 64 bytes from each of kb rows that, in a (C, H*W) activation,
//     lie pages apart: a cache and TLB miss per row.
//   - Within a block, M goes in blocks of sgemmMC rows so that the packed
//     A block stays in L2 while the strips pass by; each strip (16 KiB)
//     stays in L1 while the panels of the M block pass by.
//
// C gets 4x16 tiles. With beta 0 the first K block stores into C instead
// of adding, so C need not be cleared first.
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
	nc := min((n+15)/16*16, sgemmNC)
	panels := (m + 3) / 4
	ap := Scratch[float32](panels * 4 * kc)
	defer Release(ap)
	bp := Scratch[float32](kc * nc)
	defer Release(bp)
	var tile [4 * 16]float32
	for k0 := 0; k0 < k; k0 += kc {
		kb := min(kc, k-k0)
		store := 0
		if beta == 0 && k0 == 0 {
			store = 1
		}
		packA(ta, m, kb, k0, alpha, a, lda, ap)
		for j0 := 0; j0 < n; j0 += nc {
			nb := min(nc, n-j0)
			packB(tb, kb, k0, j0, nb, b, ldb, bp)
			for p0 := 0; p0 < panels; p0 += sgemmMC / 4 {
				for s := 0; s*16 < nb; s++ {
					j, w := j0+16*s, min(16, nb-16*s)
					bs := &bp[s*16*kb]
					for p := p0; p < min(p0+sgemmMC/4, panels); p++ {
						i := 4 * p
						if i+4 <= m && w == 16 {
							kern4x16(kb, &ap[p*4*kb], bs, 16, &c[i*ldc+j], ldc, store)
							continue
						}
						kern4x16(kb, &ap[p*4*kb], bs, 16, &tile[0], 16, 1)
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
}

// sgemmMC is the M block: a packed block of A of sgemmMC x sgemmKC is 128
// KiB, so it stays in L2 beside the packed block of B.
const sgemmMC = 128

// sgemmNC is the N block: a packed block of B of sgemmKC x sgemmNC is 256
// KiB, so it stays in L2 while the M blocks pass by.
const sgemmNC = 256

// sgemmKC is the K block: a packed 16-column strip of B of this many rows is 16 KiB.
const sgemmKC = 256

// packA writes alpha*op(A)[:, k0:k0+kb] in panels of 4 rows: panel p holds
// kb groups of 4 values (rows 4p..4p+3 of column q), zero past row m.
func packA(ta bool, m, kb, k0 int, alpha float32, a []float32, lda int, ap []float32) {
	panels := (m + 3) / 4
	full := m / 4
	if ta {
		// Row k0+q of A is column q of op(A): read it in order and hand
		// out its values 4 at a time to the panels.
		for q := range kb {
			row := a[(k0+q)*lda : (k0+q)*lda+m]
			for p := range full {
				src, dst := row[4*p:4*p+4], ap[p*4*kb+4*q:p*4*kb+4*q+4]
				dst[0], dst[1], dst[2], dst[3] = alpha*src[0], alpha*src[1], alpha*src[2], alpha*src[3]
			}
			for i := 4 * full; i < 4*panels; i++ {
				v := float32(0)
				if i < m {
					v = alpha * row[i]
				}
				ap[full*4*kb+4*q+i-4*full] = v
			}
		}
		return
	}
	// Rows 4p..4p+3 of A, side by side, interleave into panel p.
	for p := range panels {
		dst := ap[p*4*kb : (p+1)*4*kb]
		if 4*p+4 <= m {
			r0 := a[(4*p)*lda+k0 : (4*p)*lda+k0+kb]
			r1 := a[(4*p+1)*lda+k0 : (4*p+1)*lda+k0+kb]
			r2 := a[(4*p+2)*lda+k0 : (4*p+2)*lda+k0+kb]
			r3 := a[(4*p+3)*lda+k0 : (4*p+3)*lda+k0+kb]
			for q := range kb {
				d := dst[4*q : 4*q+4]
				d[0], d[1], d[2], d[3] = alpha*r0[q], alpha*r1[q], alpha*r2[q], alpha*r3[q]
			}
			continue
		}
		for r := range 4 {
			i := 4*p + r
			if i >= m {
				for q := range kb {
					dst[4*q+r] = 0
				}
				continue
			}
			row := a[i*lda+k0 : i*lda+k0+kb]
			for q, v := range row {
				dst[4*q+r] = alpha * v
			}
		}
	}
}

// packB writes op(B)[k0:k0+kb, j0:j0+nb] as strips of 16 columns, each
// kb x 16 (strip s at bp[s*16*kb:]), zero past column nb.
func packB(tb bool, kb, k0, j0, nb int, b []float32, ldb int, bp []float32) {
	strips := (nb + 15) / 16
	if nb%16 != 0 {
		clear(bp[(strips-1)*16*kb : strips*16*kb])
	}
	if tb {
		// Row j of B is column j of op(B).
		for jj := range nb {
			row := b[(j0+jj)*ldb+k0 : (j0+jj)*ldb+k0+kb]
			dst := bp[(jj/16)*16*kb+jj%16:]
			for q, v := range row {
				dst[q*16] = v
			}
		}
		return
	}
	for q := range kb {
		row := b[(k0+q)*ldb+j0 : (k0+q)*ldb+j0+nb]
		for s := 0; s < strips; s++ {
			copy(bp[s*16*kb+q*16:s*16*kb+q*16+16], row[s*16:min(s*16+16, nb)])
		}
	}
}
