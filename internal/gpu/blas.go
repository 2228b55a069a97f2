//go:build baryirgpu

package gpu

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cublasLt.h>

// The cuBLASLt entry points baryir uses, resolved with dlsym from whichever
// libcublasLt the machine has: nothing here links against cuBLAS.
typedef struct {
	void* lib;
	cublasLtHandle_t h;
	size_t (*version)(void);
	cublasStatus_t (*create)(cublasLtHandle_t*);
	cublasStatus_t (*destroy)(cublasLtHandle_t);
	cublasStatus_t (*descCreate)(cublasLtMatmulDesc_t*, cublasComputeType_t, cudaDataType_t);
	cublasStatus_t (*descDestroy)(cublasLtMatmulDesc_t);
	cublasStatus_t (*descSet)(cublasLtMatmulDesc_t, cublasLtMatmulDescAttributes_t, const void*, size_t);
	cublasStatus_t (*layoutCreate)(cublasLtMatrixLayout_t*, cudaDataType, uint64_t, uint64_t, int64_t);
	cublasStatus_t (*layoutDestroy)(cublasLtMatrixLayout_t);
	cublasStatus_t (*layoutSet)(cublasLtMatrixLayout_t, cublasLtMatrixLayoutAttribute_t, const void*, size_t);
	cublasStatus_t (*prefCreate)(cublasLtMatmulPreference_t*);
	cublasStatus_t (*prefDestroy)(cublasLtMatmulPreference_t);
	cublasStatus_t (*prefSet)(cublasLtMatmulPreference_t, cublasLtMatmulPreferenceAttributes_t, const void*, size_t);
	cublasStatus_t (*heuristic)(cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
		cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatmulPreference_t, int, cublasLtMatmulHeuristicResult_t*, int*);
	cublasStatus_t (*matmul)(cublasLtHandle_t, cublasLtMatmulDesc_t, const void*, const void*, cublasLtMatrixLayout_t,
		const void*, cublasLtMatrixLayout_t, const void*, const void*, cublasLtMatrixLayout_t, void*, cublasLtMatrixLayout_t,
		const cublasLtMatmulAlgo_t*, void*, size_t, cudaStream_t);
} lt_lib;

// lt_open loads name, resolves every entry point and creates a handle. On
// failure it returns NULL with the reason in err.
static lt_lib* lt_open(const char* name, char* err, size_t errn) {
	void* lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (!lib) { snprintf(err, errn, "%s", dlerror()); return NULL; }
	lt_lib* l = calloc(1, sizeof *l);
	if (!l) { dlclose(lib); snprintf(err, errn, "out of memory"); return NULL; }
	l->lib = lib;
#define SYM(f, s) if (!(*(void**)&l->f = dlsym(lib, s))) { snprintf(err, errn, "%s: no symbol %s", name, s); dlclose(lib); free(l); return NULL; }
	SYM(version, "cublasLtGetVersion")
	SYM(create, "cublasLtCreate")
	SYM(destroy, "cublasLtDestroy")
	SYM(descCreate, "cublasLtMatmulDescCreate")
	SYM(descDestroy, "cublasLtMatmulDescDestroy")
	SYM(descSet, "cublasLtMatmulDescSetAttribute")
	SYM(layoutCreate, "cublasLtMatrixLayoutCreate")
	SYM(layoutDestroy, "cublasLtMatrixLayoutDestroy")
	SYM(layoutSet, "cublasLtMatrixLayoutSetAttribute")
	SYM(prefCreate, "cublasLtMatmulPreferenceCreate")
	SYM(prefDestroy, "cublasLtMatmulPreferenceDestroy")
	SYM(prefSet, "cublasLtMatmulPreferenceSetAttribute")
	SYM(heuristic, "cublasLtMatmulAlgoGetHeuristic")
	SYM(matmul, "cublasLtMatmul")
#undef SYM
	cublasStatus_t st = l->create(&l->h);
	if (st != CUBLAS_STATUS_SUCCESS) { snprintf(err, errn, "%s: cublasLtCreate: status %d", name, (int)st); dlclose(lib); free(l); return NULL; }
	return l;
}

static void lt_close(lt_lib* l) {
	l->destroy(l->h);
	dlclose(l->lib);
	free(l);
}

static size_t lt_version(lt_lib* l) { return l->version(); }

// One planned product: descriptors and the algorithm the heuristic chose.
typedef struct {
	cublasLtMatmulDesc_t desc;
	cublasLtMatrixLayout_t a, b, c;
	cublasLtMatmulAlgo_t algo;
	size_t ws;
} lt_plan;

static cublasStatus_t lt_layout(lt_lib* l, cublasLtMatrixLayout_t* m, uint64_t rows, uint64_t cols, int64_t ld, int batch, int64_t stride) {
	cublasStatus_t st = l->layoutCreate(m, CUDA_R_32F, rows, cols, ld);
	if (st != CUBLAS_STATUS_SUCCESS || batch <= 1) return st;
	int32_t b = batch;
	if ((st = l->layoutSet(*m, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &b, sizeof b)) != CUBLAS_STATUS_SUCCESS) return st;
	return l->layoutSet(*m, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride);
}

// lt_plan_make fills p for D = alpha op(A) op(B) + beta C, column-major,
// D in C's place. *stage names the call that failed.
static cublasStatus_t lt_plan_make(lt_lib* l, lt_plan* p, int compute, int opA, int opB,
		uint64_t ar, uint64_t ac, int64_t lda, uint64_t br, uint64_t bc, int64_t ldb, uint64_t cr, uint64_t cc, int64_t ldc,
		int batch, int64_t sa, int64_t sb, int64_t sc, uint32_t alA, uint32_t alB, uint32_t alC, uint64_t wsMax, const char** stage) {
	cublasStatus_t st;
	*stage = "cublasLtMatmulDescCreate";
	if ((st = l->descCreate(&p->desc, (cublasComputeType_t)compute, CUDA_R_32F)) != CUBLAS_STATUS_SUCCESS) return st;
	cublasOperation_t ta = opA ? CUBLAS_OP_T : CUBLAS_OP_N, tb = opB ? CUBLAS_OP_T : CUBLAS_OP_N;
	*stage = "cublasLtMatmulDescSetAttribute";
	if ((st = l->descSet(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta)) != CUBLAS_STATUS_SUCCESS) return st;
	if ((st = l->descSet(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb)) != CUBLAS_STATUS_SUCCESS) return st;
	*stage = "cublasLtMatrixLayoutCreate";
	if ((st = lt_layout(l, &p->a, ar, ac, lda, batch, sa)) != CUBLAS_STATUS_SUCCESS) return st;
	if ((st = lt_layout(l, &p->b, br, bc, ldb, batch, sb)) != CUBLAS_STATUS_SUCCESS) return st;
	if ((st = lt_layout(l, &p->c, cr, cc, ldc, batch, sc)) != CUBLAS_STATUS_SUCCESS) return st;
	cublasLtMatmulPreference_t pref;
	*stage = "cublasLtMatmulPreferenceCreate";
	if ((st = l->prefCreate(&pref)) != CUBLAS_STATUS_SUCCESS) return st;
	*stage = "cublasLtMatmulPreferenceSetAttribute";
	st = l->prefSet(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsMax, sizeof wsMax);
	if (st == CUBLAS_STATUS_SUCCESS) st = l->prefSet(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &alA, sizeof alA);
	if (st == CUBLAS_STATUS_SUCCESS) st = l->prefSet(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &alB, sizeof alB);
	if (st == CUBLAS_STATUS_SUCCESS) st = l->prefSet(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &alC, sizeof alC);
	if (st == CUBLAS_STATUS_SUCCESS) st = l->prefSet(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &alC, sizeof alC);
	if (st != CUBLAS_STATUS_SUCCESS) { l->prefDestroy(pref); return st; }
	cublasLtMatmulHeuristicResult_t res;
	int found = 0;
	*stage = "cublasLtMatmulAlgoGetHeuristic";
	st = l->heuristic(l->h, p->desc, p->a, p->b, p->c, p->c, pref, 1, &res, &found);
	l->prefDestroy(pref);
	if (st != CUBLAS_STATUS_SUCCESS) return st;
	if (found < 1) return CUBLAS_STATUS_NOT_SUPPORTED;
	p->algo = res.algo;
	p->ws = res.workspaceSize;
	return CUBLAS_STATUS_SUCCESS;
}

static void lt_plan_free(lt_lib* l, lt_plan* p) {
	if (p->desc) l->descDestroy(p->desc);
	if (p->a) l->layoutDestroy(p->a);
	if (p->b) l->layoutDestroy(p->b);
	if (p->c) l->layoutDestroy(p->c);
	free(p);
}

static cublasStatus_t lt_run(lt_lib* l, lt_plan* p, float alpha, float beta, uintptr_t A, uintptr_t B, uintptr_t C, uintptr_t ws, size_t wsn) {
	return l->matmul(l->h, p->desc, &alpha, (const void*)A, p->a, (const void*)B, p->b, &beta, (const void*)C, p->c,
		(void*)C, p->c, &p->algo, (void*)ws, wsn, (cudaStream_t)0);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unsafe"
)

// ltWorkspace is the cuBLASLt workspace, in float32s (32 MiB, what NVIDIA
// recommends for Hopper).
const ltWorkspace = 8 << 20

// blas is a device's cuBLASLt: the library, a handle, a workspace, and a
// plan (descriptors and heuristic algorithm) per distinct product shape,
// made on first use and reused, so a training step pays the heuristic once.
type blas struct {
	lib     *C.lt_lib
	name    string
	version int
	ws      Buf
	plans   map[ltKey]*C.lt_plan
	// fallbacks are the product shapes cuBLASLt found no algorithm for,
	// computed by GemmFP32 instead, with why.
	fallbacks map[ltKey]string
}

type ltKey struct {
	prec                   Precision
	opA, opB               bool
	ar, ac, br, bc, cr, cc int
	lda, ldb, ldc, batch   int
	sa, sb, sc             int
	alignA, alignB, alignC int
}

// LoadBLAS loads cuBLASLt (the first of LtLibraries that loads) once per
// device and returns its file name and version. TF32 and BF16 need it;
// FP32 never does. The error lists every name tried and why each failed.
func (d *Device) LoadBLAS() (name string, version int, err error) {
	if d.lt != nil {
		return d.lt.name, d.lt.version, nil
	}
	defer d.enter()()
	var why []string
	buf := (*C.char)(C.malloc(512))
	defer C.free(unsafe.Pointer(buf))
	for _, n := range LtLibraries() {
		cn := C.CString(n)
		l := C.lt_open(cn, buf, 512)
		C.free(unsafe.Pointer(cn))
		if l == nil {
			why = append(why, C.GoString(buf))
			continue
		}
		b := &blas{lib: l, name: n, version: int(C.lt_version(l)), plans: map[ltKey]*C.lt_plan{}, fallbacks: map[ltKey]string{}}
		d.lt = b
		b.ws = d.Alloc(ltWorkspace)
		if d.err != nil {
			return "", 0, d.err
		}
		return b.name, b.version, nil
	}
	return "", 0, fmt.Errorf("gpu: TF32 and BF16 need NVIDIA's cuBLASLt, and none loaded (put its directory, e.g. a CUDA toolkit's lib64 or PyTorch's nvidia/cublas/lib, on LD_LIBRARY_PATH): %s",
		strings.Join(why, "; "))
}

// UsePrecision sets the precision of the device's matrix products from now
// on; the executor sets its own around each run (Options.Precision), so
// only code that calls Gemm directly (benchmarks, tests) needs it. TF32 and
// BF16 load cuBLASLt first and fail if it does not load.
func (d *Device) UsePrecision(p Precision) error {
	switch p {
	case FP32:
	case TF32, BF16:
		if _, _, err := d.LoadBLAS(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("gpu: unknown precision %d", int(p))
	}
	d.prec = p
	return nil
}

// BLASFallbacks lists the reduced-precision products that cuBLASLt had no
// algorithm for (its heuristic or a descriptor refused the layout) and that
// the float32 kernels computed instead, one line per distinct shape, sorted.
func (d *Device) BLASFallbacks() []string {
	if d.lt == nil {
		return nil
	}
	out := make([]string, 0, len(d.lt.fallbacks))
	for _, v := range d.lt.fallbacks {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// Precision is the precision of the device's matrix products now.
func (d *Device) Precision() Precision { return d.prec }

func (d *Device) closeBLAS() {
	if d.lt == nil {
		return
	}
	for _, p := range d.lt.plans {
		C.lt_plan_free(d.lt.lib, p)
	}
	C.lt_close(d.lt.lib)
	d.lt = nil
}

// alignment is the largest power of two (up to 256) dividing a device address.
func alignment(p Buf) int {
	a := uint64(p.Ptr)
	if a == 0 {
		return 256
	}
	return int(min(a&-a, 256))
}

// ltGemm is Gemm on cuBLASLt at precision p. The row-major product
// C = op(A) op(B) is the column-major C^T = op(B)^T op(A)^T: cuBLASLt's A is
// our B and its B our A, with the same transposes, and C^T is column-major
// (n x m, ldc). A batch becomes one strided-batched call when its two
// levels collapse into one stride per operand (or one level is 1), else one
// call per outer index.
func (d *Device) ltGemm(p Precision, ta, tb bool, m, n, k int, alpha float32, a Buf, lda int, b Buf, ldb int, beta float32, c Buf, ldc int, bt Batch) {
	if d.err != nil || m == 0 || n == 0 {
		return
	}
	if d.lt == nil {
		d.fail(errors.New("gpu: reduced-precision product without cuBLASLt loaded (UsePrecision loads it)"))
		return
	}
	outer, inner := max(bt.Outer, 1), max(bt.Inner, 1)
	type call struct{ count, sa, sb, sc, loops, oa, ob, oc int }
	var cl call
	switch {
	case outer == 1:
		cl = call{inner, bt.AInner, bt.BInner, bt.CInner, 1, 0, 0, 0}
	case inner == 1:
		cl = call{outer, bt.AOuter, bt.BOuter, bt.COuter, 1, 0, 0, 0}
	case bt.AOuter == inner*bt.AInner && bt.BOuter == inner*bt.BInner && bt.COuter == inner*bt.CInner:
		cl = call{outer * inner, bt.AInner, bt.BInner, bt.CInner, 1, 0, 0, 0}
	default:
		cl = call{inner, bt.AInner, bt.BInner, bt.CInner, outer, bt.AOuter, bt.BOuter, bt.COuter}
	}
	key := ltKey{prec: p, opA: tb, opB: ta, ldc: ldc, lda: ldb, ldb: lda, cr: n, cc: m, batch: cl.count, sa: cl.sb, sb: cl.sa, sc: cl.sc}
	key.ar, key.ac = n, k
	if tb {
		key.ar, key.ac = k, n
	}
	key.br, key.bc = k, m
	if ta {
		key.br, key.bc = m, k
	}
	// Alignments hold for every call of the loop only if the outer strides keep them.
	key.alignA, key.alignB, key.alignC = alignment(b), alignment(a), alignment(c)
	if cl.loops > 1 {
		key.alignA = min(key.alignA, alignment(b.At(cl.ob)))
		key.alignB = min(key.alignB, alignment(a.At(cl.oa)))
		key.alignC = min(key.alignC, alignment(c.At(cl.oc)))
	}
	if _, refused := d.lt.fallbacks[key]; refused {
		d.GemmFP32(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bt)
		return
	}
	plan, err := d.ltPlan(key)
	if err != nil {
		// cuBLASLt has no algorithm for this layout: the in-house float32
		// kernel computes it (more precisely), now and at every later call
		// of that shape, and BLASFallbacks names it.
		d.lt.fallbacks[key] = fmt.Sprintf("%s %dx%dx%d ta=%v tb=%v batch %d: %v", p, m, n, k, ta, tb, cl.count, err)
		d.GemmFP32(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bt)
		return
	}
	defer d.enter()()
	for z := 0; z < cl.loops; z++ {
		st := C.lt_run(d.lt.lib, plan, C.float(alpha), C.float(beta),
			C.uintptr_t(b.At(z*cl.ob).Ptr), C.uintptr_t(a.At(z*cl.oa).Ptr), C.uintptr_t(c.At(z*cl.oc).Ptr),
			C.uintptr_t(d.lt.ws.Ptr), C.size_t(4*d.lt.ws.N))
		if st != C.CUBLAS_STATUS_SUCCESS {
			d.fail(fmt.Errorf("gpu: cublasLtMatmul (%s, %dx%dx%d, batch %d): status %d", p, m, n, k, cl.count, int(st)))
			return
		}
	}
}

// ltPlan returns the cached plan of key, making it on first use.
func (d *Device) ltPlan(key ltKey) (*C.lt_plan, error) {
	if p, ok := d.lt.plans[key]; ok {
		return p, nil
	}
	compute := C.CUBLAS_COMPUTE_32F_FAST_TF32
	if key.prec == BF16 {
		compute = C.CUBLAS_COMPUTE_32F_FAST_16BF
	}
	p := (*C.lt_plan)(C.calloc(1, C.size_t(unsafe.Sizeof(C.lt_plan{}))))
	if p == nil {
		return nil, errors.New("out of host memory")
	}
	var stage *C.char
	defer d.enter()()
	st := C.lt_plan_make(d.lt.lib, p, C.int(compute), C.int(b2i(key.opA)), C.int(b2i(key.opB)),
		C.uint64_t(key.ar), C.uint64_t(key.ac), C.int64_t(key.lda),
		C.uint64_t(key.br), C.uint64_t(key.bc), C.int64_t(key.ldb),
		C.uint64_t(key.cr), C.uint64_t(key.cc), C.int64_t(key.ldc),
		C.int(key.batch), C.int64_t(key.sa), C.int64_t(key.sb), C.int64_t(key.sc),
		C.uint32_t(key.alignA), C.uint32_t(key.alignB), C.uint32_t(key.alignC), C.uint64_t(4*d.lt.ws.N), &stage)
	if st != C.CUBLAS_STATUS_SUCCESS {
		C.lt_plan_free(d.lt.lib, p)
		return nil, fmt.Errorf("%s: status %d", C.GoString(stage), int(st))
	}
	d.lt.plans[key] = p
	return p, nil
}
