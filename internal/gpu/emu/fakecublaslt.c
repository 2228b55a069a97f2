// A fake libcublasLt for machines without a GPU, beside fakecuda.c (whose
// "device memory" is host memory): it implements exactly the cuBLASLt entry
// points internal/gpu/blas.go resolves, with cuBLASLt's column-major,
// strided-batched semantics, and checks the layouts it is given (a wrong
// shape, leading dimension or transpose is an error, not a silent result).
//
// The product rounds every operand element to the compute type's precision
// first, round to nearest even (CUBLAS_COMPUTE_32F_FAST_TF32: 10 mantissa
// bits; CUBLAS_COMPUTE_32F_FAST_16BF: bfloat16's 7), then accumulates in
// float32 in order, as a tensor core with float32 accumulation would up to
// summation order. FAKE_LT_BITS=n rounds to n mantissa bits instead, to
// show the tolerance tests fail on a wrong rounding; FAKE_LT_NO_BATCHED=1
// finds no algorithm for batched products, to check the fallback. Built by
// scripts/gpu_check.sh emu into .gpubin/emu-lt/libcublasLt.so.12.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int st_t;
enum { OK = 0, NOT_INITIALIZED = 1, INVALID_VALUE = 7, NOT_SUPPORTED = 15 };
enum { COMPUTE_32F = 68, COMPUTE_32F_FAST_16BF = 75, COMPUTE_32F_FAST_TF32 = 77 };
enum { R_32F = 0 };

typedef struct { int magic; } handle;
typedef struct { int compute, scale, ta, tb; } desc;
typedef struct { int type; uint64_t rows, cols; int64_t ld; int batch; int64_t stride; } layout;
typedef struct { uint64_t ws; uint32_t align[4]; } pref;
typedef struct { uint64_t data[8]; } algo;
typedef struct { algo a; size_t workspaceSize; st_t state; float wavesCount; int reserved[4]; } heur;

size_t cublasLtGetVersion(void) { return 120000; }
st_t cublasLtCreate(handle** h) { *h = calloc(1, sizeof **h); (*h)->magic = 0x17; return OK; }
st_t cublasLtDestroy(handle* h) { free(h); return OK; }

st_t cublasLtMatmulDescCreate(desc** d, int compute, int scale) {
  if (compute != COMPUTE_32F && compute != COMPUTE_32F_FAST_16BF && compute != COMPUTE_32F_FAST_TF32) return NOT_SUPPORTED;
  if (scale != R_32F) return NOT_SUPPORTED;
  *d = calloc(1, sizeof **d); (*d)->compute = compute; (*d)->scale = scale; return OK;
}
st_t cublasLtMatmulDescDestroy(desc* d) { free(d); return OK; }
st_t cublasLtMatmulDescSetAttribute(desc* d, int attr, const void* v, size_t n) {
  if (n != sizeof(int)) return INVALID_VALUE;
  int op = *(const int*)v;
  if (op != 0 && op != 1) return NOT_SUPPORTED; // CUBLAS_OP_N, CUBLAS_OP_T
  if (attr == 3) d->ta = op; else if (attr == 4) d->tb = op; else return NOT_SUPPORTED;
  return OK;
}

st_t cublasLtMatrixLayoutCreate(layout** l, int type, uint64_t rows, uint64_t cols, int64_t ld) {
  if (type != R_32F) return NOT_SUPPORTED;
  if (ld < (int64_t)rows || rows == 0 || cols == 0) return INVALID_VALUE;
  *l = calloc(1, sizeof **l); (*l)->type = type; (*l)->rows = rows; (*l)->cols = cols; (*l)->ld = ld; (*l)->batch = 1; return OK;
}
st_t cublasLtMatrixLayoutDestroy(layout* l) { free(l); return OK; }
st_t cublasLtMatrixLayoutSetAttribute(layout* l, int attr, const void* v, size_t n) {
  if (attr == 5 && n == 4) { l->batch = *(const int32_t*)v; return l->batch >= 1 ? OK : INVALID_VALUE; }
  if (attr == 6 && n == 8) { l->stride = *(const int64_t*)v; return OK; }
  return NOT_SUPPORTED;
}

st_t cublasLtMatmulPreferenceCreate(pref** p) { *p = calloc(1, sizeof **p); return OK; }
st_t cublasLtMatmulPreferenceDestroy(pref* p) { free(p); return OK; }
st_t cublasLtMatmulPreferenceSetAttribute(pref* p, int attr, const void* v, size_t n) {
  if (attr == 1 && n == 8) { p->ws = *(const uint64_t*)v; return OK; }
  if (attr >= 5 && attr <= 8 && n == 4) { uint32_t a = *(const uint32_t*)v; if (!a || (a & (a - 1))) return INVALID_VALUE; p->align[attr - 5] = a; return OK; }
  return NOT_SUPPORTED;
}

// check validates D = op(A) op(B) + C and returns K.
static int check(const desc* d, const layout* a, const layout* b, const layout* c, const layout* dd, uint64_t* k) {
  uint64_t am = d->ta ? a->cols : a->rows, ak = d->ta ? a->rows : a->cols;
  uint64_t bk = d->tb ? b->cols : b->rows, bn = d->tb ? b->rows : b->cols;
  if (ak != bk || am != c->rows || bn != c->cols) return 0;
  if (c->rows != dd->rows || c->cols != dd->cols || c->ld != dd->ld) return 0;
  if (a->batch != c->batch || b->batch != c->batch || dd->batch != c->batch) return 0;
  *k = ak;
  return 1;
}

st_t cublasLtMatmulAlgoGetHeuristic(handle* h, desc* d, layout* a, layout* b, layout* c, layout* dd, pref* p, int want, heur* res, int* found) {
  uint64_t k;
  if (!h || want < 1) return INVALID_VALUE;
  if (!check(d, a, b, c, dd, &k)) return INVALID_VALUE;
  if (getenv("FAKE_LT_NO_BATCHED") && c->batch > 1) { *found = 0; return NOT_SUPPORTED; } // as a library lacking an algorithm would
  memset(res, 0, sizeof *res);
  res->a.data[0] = 0xa1; res->state = OK; res->wavesCount = 1;
  *found = 1;
  return OK;
}

static int bits_for(int compute) {
  const char* e = getenv("FAKE_LT_BITS");
  if (e) return atoi(e);
  return compute == COMPUTE_32F_FAST_TF32 ? 10 : compute == COMPUTE_32F_FAST_16BF ? 7 : 23;
}

// round_to keeps mbits of float32's 23 mantissa bits, to nearest even.
static float round_to(float x, int mbits) {
  if (mbits >= 23) return x;
  uint32_t u; memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) == 0x7f800000u) return x; // Inf, NaN
  int drop = 23 - mbits;
  uint32_t half = (1u << (drop - 1)) - 1 + ((u >> drop) & 1u);
  u = (u + half) & ~((1u << drop) - 1);
  memcpy(&x, &u, 4);
  return x;
}

st_t cublasLtMatmul(handle* h, desc* d, const float* alpha, const float* A, layout* a, const float* B, layout* b,
                    const float* beta, const float* C, layout* c, float* D, layout* dd, const algo* al, void* ws, size_t wsn, void* stream) {
  uint64_t K;
  if (!h || !al || al->data[0] != 0xa1) return NOT_INITIALIZED;
  if (!check(d, a, b, c, dd, &K)) return INVALID_VALUE;
  if (getenv("FAKE_TRACE")) fprintf(stderr, "cublasLtMatmul compute %d %c%c %llux%llux%llu batch %d\n", d->compute, d->ta ? 'T' : 'N', d->tb ? 'T' : 'N',
                                    (unsigned long long)c->rows, (unsigned long long)c->cols, (unsigned long long)K, c->batch);
  if (getenv("FAKE_NOEXEC")) return OK;
  int mb = bits_for(d->compute);
  uint64_t M = c->rows, N = c->cols;
  float* col = malloc(sizeof(float) * K);
  for (int z = 0; z < c->batch; z++) {
    const float* az = A + z * a->stride; const float* bz = B + z * b->stride;
    const float* cz = C + z * c->stride; float* dz = D + z * dd->stride;
    for (uint64_t j = 0; j < N; j++) {
      for (uint64_t l = 0; l < K; l++) col[l] = round_to(d->tb ? bz[j + l * b->ld] : bz[l + j * b->ld], mb);
      for (uint64_t i = 0; i < M; i++) {
        float s = 0;
        for (uint64_t l = 0; l < K; l++) s += round_to(d->ta ? az[l + i * a->ld] : az[i + l * a->ld], mb) * col[l];
        float v = *alpha * s;
        if (*beta != 0) v += *beta * cz[i + j * c->ld];
        dz[i + j * dd->ld] = v;
      }
    }
  }
  free(col);
  return OK;
}
