package op

// sgemm is Gemm for float32 on the AVX2/FMA micro-kernels: A is packed in
// panels of 4 rows (alpha folded in, zero rows padding the last panel), B is
// read in place as a row-major k x n matrix (transposed into a scratch
// buffer first when tb), and C gets 4x16 tiles (4x8 and scalar at the right
// edge), K in blocks of sgemmKC so a B strip stays in L1.
func sgemm(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
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
	bb, ldbb := b, ldb
	if tb {
		bt := Scratch[float32](k * n)
		defer Release(bt)
		// b is n x k (row stride ldb); bt is k x n.
		for j := range n {
			row := b[j*ldb : j*ldb+k]
			for p, v := range row {
				bt[p*n+j] = v
			}
		}
		bb, ldbb = bt, n
	}
	panels := (m + 3) / 4
	kc := min(k, sgemmKC)
	ap := Scratch[float32](panels * 4 * kc)
	defer Release(ap)
	var tile [4 * 16]float32
	n16, n8 := n&^15, n&^7
	for k0 := 0; k0 < k; k0 += kc {
		kb := min(kc, k-k0)
		packA(ta, m, kb, k0, alpha, a, lda, ap)
		bk := bb[k0*ldbb:]
		for j := 0; j < n16; j += 16 {
			for p := range panels {
				i := 4 * p
				if i+4 <= m {
					kern4x16(kb, &ap[p*4*kb], &bk[j], ldbb, &c[i*ldc+j], ldc)
					continue
				}
				tile = [4 * 16]float32{}
				kern4x16(kb, &ap[p*4*kb], &bk[j], ldbb, &tile[0], 16)
				for r := range m - i {
					cr := c[(i+r)*ldc+j : (i+r)*ldc+j+16]
					for x := range cr {
						cr[x] += tile[r*16+x]
					}
				}
			}
		}
		if n8 > n16 {
			j := n16
			for p := range panels {
				i := 4 * p
				if i+4 <= m {
					kern4x8(kb, &ap[p*4*kb], &bk[j], ldbb, &c[i*ldc+j], ldc)
					continue
				}
				tile = [4 * 16]float32{}
				kern4x8(kb, &ap[p*4*kb], &bk[j], ldbb, &tile[0], 16)
				for r := range m - i {
					cr := c[(i+r)*ldc+j : (i+r)*ldc+j+8]
					for x := range cr {
						cr[x] += tile[r*16+x]
					}
				}
			}
		}
		for j := n8; j < n; j++ {
			for i := range m {
				pa := ap[(i/4)*4*kb+i%4:]
				var s float32
				for q := range kb {
					s += pa[4*q] * bk[q*ldbb+j]
				}
				c[i*ldc+j] += s
			}
		}
	}
}

// sgemmKC is the K block: a 16-column strip of B of this many rows is 16 KiB.
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
