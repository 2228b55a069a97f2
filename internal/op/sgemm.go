package op

// sgemm is Gemm for float32 on the AVX2/FMA micro-kernel, blocked as in
// GotoBLAS so that every element of A and B is packed exactly once:
//
//   - K goes in blocks of sgemmKC; for each, op(A)[:, k0:k0+kb] is packed
//     in panels of sgemmMR rows (alpha folded in, zero rows padding the
//     last panel).
//   - N goes in blocks of nc columns, sgemmNC of them over kc rows (so
//     the block is the same 256 KiB whatever K, and a small K reads
//     longer stretches of each row of B); for each block,
//     op(B)[k0:k0+kb, j0:j0+nb] is packed into zero-padded kb x 16 strips. Packing a whole block
//     reads rows of B nb floats long, a stream, where one strip at a time
//     read 64 bytes from each of kb rows that, in a (C, H*W) activation,
//     lie pages apart: a cache and TLB miss per row.
//   - Within a block, M goes in blocks of sgemmMC rows so that the packed
//     A block stays in L2 while the strips pass by; each strip (16 KiB)
//     stays in L1 while the panels of the M block pass by.
//
// C gets sgemmMR x 16 tiles. With beta 0 the first K block stores into C
// instead of adding, so C need not be cleared first.
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
	const mr, mcPanels = sgemmMR, sgemmMC / sgemmMR
	kc := min(k, sgemmKC)
	nc := min((n+15)/16*16, sgemmNC*sgemmKC/kc/16*16)
	panels := (m + mr - 1) / mr
	ap := Scratch[float32](panels * mr * kc)
	defer Release(ap)
	bp := Scratch[float32](kc * nc)
	defer Release(bp)
	var tile [mr * 16]float32
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
			for p0 := 0; p0 < panels; p0 += mcPanels {
				for s := 0; s*16 < nb; s++ {
					j, w := j0+16*s, min(16, nb-16*s)
					bs := &bp[s*16*kb]
					for p := p0; p < min(p0+mcPanels, panels); p++ {
						i := mr * p
						if i+mr <= m && w == 16 {
							kern6x16(kb, &ap[p*mr*kb], bs, &c[i*ldc+j], ldc, store)
							continue
						}
						kern6x16(kb, &ap[p*mr*kb], bs, &tile[0], 16, 1)
						for r := range min(mr, m-i) {
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

// sgemmMR is the height of a panel of A and of the micro-kernel's tile of C.
const sgemmMR = 6

// sgemmMC is the M block, a whole number of panels: a packed block of A of
// sgemmMC x sgemmKC is 132 KiB, so it stays in L2 beside the packed block
// of B.
const sgemmMC = 22 * sgemmMR

// sgemmNC is the N block at a full K block: a packed block of B of
// sgemmKC x sgemmNC is 256 KiB, so it stays in L2 while the M blocks pass
// by; with fewer rows of B the block is as many columns wider.
const sgemmNC = 256

// sgemmKC is the K block: a packed 16-column strip of B of this many rows is 16 KiB.
const sgemmKC = 256

// packA writes alpha*op(A)[:, k0:k0+kb] in panels of sgemmMR rows: panel p
// holds kb groups of sgemmMR values (rows sgemmMR*p.. of column q), zero
// past row m.
func packA(ta bool, m, kb, k0 int, alpha float32, a []float32, lda int, ap []float32) {
	const mr = sgemmMR
	panels := (m + mr - 1) / mr
	full := m / mr
	if ta {
		// Row k0+q of A is column q of op(A): read it in order and hand
		// out its values sgemmMR at a time to the panels.
		for q := range kb {
			row := a[(k0+q)*lda : (k0+q)*lda+m]
			for p := range full {
				src, dst := row[mr*p:mr*p+mr], ap[p*mr*kb+mr*q:p*mr*kb+mr*q+mr]
				for r := range mr {
					dst[r] = alpha * src[r]
				}
			}
			for i := mr * full; i < mr*panels; i++ {
				v := float32(0)
				if i < m {
					v = alpha * row[i]
				}
				ap[full*mr*kb+mr*q+i-mr*full] = v
			}
		}
		return
	}
	// Rows mr*p.. of A, side by side, interleave into panel p: 8 columns
	// at a time in registers (packA6), the rest value by value.
	for p := range panels {
		dst := ap[p*mr*kb : (p+1)*mr*kb]
		if mr*p+mr <= m {
			q8 := kb / 8 * 8
			if q8 > 0 {
				_ = a[(mr*p+5)*lda+k0+q8-1] // the last value packA6 reads
				packA6(&dst[0], &a[(mr*p)*lda+k0], lda, q8/8, alpha)
			}
			r0 := a[(mr*p)*lda+k0 : (mr*p)*lda+k0+kb]
			r1 := a[(mr*p+1)*lda+k0 : (mr*p+1)*lda+k0+kb]
			r2 := a[(mr*p+2)*lda+k0 : (mr*p+2)*lda+k0+kb]
			r3 := a[(mr*p+3)*lda+k0 : (mr*p+3)*lda+k0+kb]
			r4 := a[(mr*p+4)*lda+k0 : (mr*p+4)*lda+k0+kb]
			r5 := a[(mr*p+5)*lda+k0 : (mr*p+5)*lda+k0+kb]
			for q := q8; q < kb; q++ {
				d := dst[mr*q : mr*q+mr]
				d[0], d[1], d[2], d[3], d[4], d[5] = alpha*r0[q], alpha*r1[q], alpha*r2[q], alpha*r3[q], alpha*r4[q], alpha*r5[q]
			}
			continue
		}
		for r := range mr {
			i := mr*p + r
			if i >= m {
				for q := range kb {
					dst[mr*q+r] = 0
				}
				continue
			}
			row := a[i*lda+k0 : i*lda+k0+kb]
			for q, v := range row {
				dst[mr*q+r] = alpha * v
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
		// Row j of B is column j of op(B): a full strip's 16 rows are
		// transposed 8 columns at a time in registers (packBT16), the
		// rest value by value.
		for s := range strips {
			w, q8 := min(16, nb-16*s), 0
			if w == 16 && kb >= 8 {
				q8 = kb / 8 * 8
				_ = b[(j0+16*s+15)*ldb+k0+q8-1] // the last value packBT16 reads
				packBT16(&bp[s*16*kb], &b[(j0+16*s)*ldb+k0], ldb, q8/8)
			}
			for jj := range w {
				row := b[(j0+16*s+jj)*ldb+k0 : (j0+16*s+jj)*ldb+k0+kb]
				dst := bp[s*16*kb+jj:]
				for q := q8; q < kb; q++ {
					dst[q*16] = row[q]
				}
			}
		}
		return
	}
	// Full strips in vector moves (a call of copy per 64 bytes cost more
	// than the copying), the partial one value by value.
	full := nb / 16
	if full > 0 {
		_ = b[(k0+kb-1)*ldb+j0+16*full-1] // the last value packBN16 reads
		packBN16(&bp[0], &b[k0*ldb+j0], ldb, kb, full)
	}
	if full < strips {
		for q := range kb {
			copy(bp[full*16*kb+q*16:full*16*kb+q*16+16], b[(k0+q)*ldb+j0+16*full:(k0+q)*ldb+j0+nb])
		}
	}
}
