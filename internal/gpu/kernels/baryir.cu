// CUDA kernels of baryir's GPU executor (package internal/gpu).
//
// Every kernel works on flat float32 NCHW data; sizes fit in int. The Go side
// (internal/gpu/launch.go and the *_gpu.go files) picks grid and block sizes.
// Regenerate the PTX with `go generate ./internal/gpu/` (needs nvcc).

#include <math.h>

#define GRID_STRIDE(i, n) \
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (int)(n); i += blockDim.x * gridDim.x)

// Block-wide sum of v; every thread gets the total. blockDim.x <= 1024, a multiple of 32.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float warp_sums[32];
  __shared__ float total;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffff, v, o);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // warp_sums may still be read by a previous call
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    int nw = blockDim.x >> 5;
    float s = lane < nw ? warp_sums[lane] : 0.f;
    for (int o = 16; o > 0; o >>= 1) s += __shfl_down_sync(0xffffffff, s, o);
    if (lane == 0) total = s;
  }
  __syncthreads();
  return total;
}

extern "C" {

// ---------------------------------------------------------------- elementwise

__global__ void fill_f32(float* out, long long n, float v) {
  GRID_STRIDE(i, n) out[i] = v;
}

// op: 0 add, 1 sub, 2 mul, 3 div. A scalar operand (na or nb == 1) broadcasts.
__global__ void binary_f32(float* out, const float* a, const float* b, long long n, long long na, long long nb, int op) {
  GRID_STRIDE(i, n) {
    float x = a[na == 1 ? 0 : i], y = b[nb == 1 ? 0 : i];
    float r;
    switch (op) {
      case 0: r = x + y; break;
      case 1: r = x - y; break;
      case 2: r = x * y; break;
      default: r = x / y; break;
    }
    out[i] = r;
  }
}

// op: 0 neg, 1 abs, 2 square, 3 sqrt, 4 exp, 5 log, 6 tanh, 7 sigmoid, 8 inverse, 9 sign, 10 cube, 11 relu.
__global__ void unary_f32(float* out, const float* a, long long n, int op) {
  GRID_STRIDE(i, n) {
    float x = a[i], r;
    switch (op) {
      case 0: r = -x; break;
      case 1: r = fabsf(x); break;
      case 2: r = x * x; break;
      case 3: r = sqrtf(x); break;
      case 4: r = expf(x); break;
      case 5: r = logf(x); break;
      case 6: r = tanhf(x); break;
      case 7: r = 1.f / (1.f + expf(-x)); break;
      case 8: r = 1.f / x; break;
      case 9: r = (x > 0.f) ? 1.f : ((x < 0.f) ? -1.f : 0.f); break;
      case 10: r = x * x * x; break;
      default: r = x > 0.f ? x : 0.f; break;
    }
    out[i] = r;
  }
}

__global__ void scale_f32(float* out, const float* a, long long n, float s) {
  GRID_STRIDE(i, n) out[i] = s * a[i];
}

__global__ void leaky_f32(float* out, const float* x, long long n, float slope) {
  GRID_STRIDE(i, n) {
    float v = x[i];
    out[i] = v > 0.f ? v : slope * v;
  }
}

__global__ void leaky_grad_f32(float* out, const float* x, const float* dy, long long n, float slope) {
  GRID_STRIDE(i, n) out[i] = x[i] > 0.f ? dy[i] : slope * dy[i];
}

// np.repeat / broadcast over up to 4 axes: out index (o0..o3) reads input
// index (o_k / (od_k / id_k)). Shapes are padded with leading 1s.
__global__ void repeat_f32(float* out, const float* in, long long n, int od0, int od1, int od2, int od3, int id0,
                           int id1, int id2, int id3) {
  GRID_STRIDE(i, n) {
    int r = i;
    int o3 = r % od3; r /= od3;
    int o2 = r % od2; r /= od2;
    int o1 = r % od1; r /= od1;
    int o0 = (int)r;
    int i0 = o0 / (od0 / id0), i1 = o1 / (od1 / id1), i2 = o2 / (od2 / id2), i3 = o3 / (od3 / id3);
    out[i] = in[((long long)(i0 * id1 + i1) * id2 + i2) * id3 + i3];
  }
}

// out[o*inner + j] = scale * sum_r in[(o*red + r)*inner + j] + beta*out[...]
// One block per output element (grid = outer*inner).
__global__ void reduce_sum_f32(float* out, const float* in, int outer, int red, int inner, float scale, float beta) {
  int idx = blockIdx.x;
  int o = idx / inner, j = idx % inner;
  const float* p = in + (long long)o * red * inner + j;
  float s = 0.f;
  for (int r = threadIdx.x; r < red; r += blockDim.x) s += p[(long long)r * inner];
  s = block_sum(s);
  if (threadIdx.x == 0) out[idx] = scale * s + (beta != 0.f ? beta * out[idx] : 0.f);
}

// The same as reduce_sum_f32 with one thread per output element (for many
// outputs and short reductions; reads are coalesced along inner).
__global__ void reduce_mid_f32(float* out, const float* in, int outer, int red, int inner, float scale, float beta) {
  long long n = (long long)outer * inner;
  GRID_STRIDE(i, n) {
    int o = i / inner, j = i % inner;
    const float* p = in + (long long)o * red * inner + j;
    float s = 0.f;
    for (int r = 0; r < red; r++) s += p[(long long)r * inner];
    out[i] = scale * s + (beta != 0.f ? beta * out[i] : 0.f);
  }
}

// Per-channel partial sums of an NCHW tensor (B, C, HW): grid (C, chunks);
// part[y*C + c] = sum of x over the flattened (b, p) range [y*chunk, (y+1)*chunk).
__global__ void channel_sum_f32(float* part, const float* x, int B, int C, int HW, int chunk) {
  int c = blockIdx.x, y = blockIdx.y;
  long long total = (long long)B * HW;
  long long lo = (long long)y * chunk, hi = min(total, lo + chunk);
  float s = 0.f;
  for (int q = (int)lo + threadIdx.x; q < (int)hi; q += blockDim.x) {
    int b = q / HW, p = q % HW;
    s += x[((long long)b * C + c) * HW + p];
  }
  s = block_sum(s);
  if (threadIdx.x == 0) part[(long long)y * C + c] = s;
}

__global__ void bias_add_f32(float* out, const float* x, const float* bias, int C, int HW, long long n) {
  GRID_STRIDE(i, n) out[i] = x[i] + bias[(i / HW) % C];
}

// Copies channels between a (B, n, HW) tensor and channels [from, from+n) of a (B, total, HW) tensor.
// toBig: small -> big (concat), else big -> small (slice).
__global__ void channel_copy_f32(float* dst, const float* src, int B, int n, int HW, int total, int from, int toBig) {
  long long cnt = (long long)B * n * HW;
  GRID_STRIDE(i, cnt) {
    int p = i % HW;
    int bc = i / HW;
    int c = bc % n, b = bc / n;
    long long big = ((long long)b * total + from + c) * HW + p;
    if (toBig) dst[big] = src[i];
    else dst[i] = src[big];
  }
}

// PixelUnshuffle (down) / PixelShuffle between big (B, C, H, W) and small (B, C*r*r, H/r, W/r).
// One thread per element of the small layout.
__global__ void shuffle_f32(float* out, const float* in, int B, int C, int H, int W, int r, int down) {
  int sh = H / r, sw = W / r;
  long long n = (long long)B * C * H * W;
  GRID_STRIDE(i, n) {
    int t = i;
    int x = t % sw; t /= sw;
    int y = t % sh; t /= sh;
    int sc = t % (C * r * r);
    int b = t / (C * r * r);
    int c = sc / (r * r), ij = sc % (r * r), ii = ij / r, jj = ij % r;
    long long big = (((long long)b * C + c) * H + (r * y + ii)) * W + (r * x + jj);
    if (down) out[i] = in[big];
    else out[big] = in[i];
  }
}

// ------------------------------------------------------------------- GEMM
// Row-major C = alpha*op(A)*op(B) + beta*C, op(A) MxK, op(B) KxN, batched over
// blockIdx.z = (zo*inner + zi)*split + zs with offsets zo*s?o + zi*s?i + zs*s?s.
#define TM 64
#define TN 64
#define TK 16

__global__ void __launch_bounds__(256) sgemm_f32(const float* __restrict__ A, const float* __restrict__ B, float* C, int M, int N, int K,
                                                 int lda, int ldb, int ldc, int ta, int tb, float alpha, float beta, int inner,
                                                 long long sAo, long long sAi, long long sBo, long long sBi, long long sCo,
                                                 long long sCi, int split, long long sAs, long long sBs, long long sCs) {
  __shared__ float As[TK][TM + 4];
  __shared__ float Bs[TK][TN + 4];
  int z = blockIdx.z, zs = z % split;
  z /= split;
  int zo = z / inner, zi = z % inner;
  A += zo * sAo + zi * sAi + zs * sAs;
  B += zo * sBo + zi * sBi + zs * sBs;
  C += zo * sCo + zi * sCi + zs * sCs;
  int m0 = blockIdx.y * TM, n0 = blockIdx.x * TN;
  int tid = threadIdx.x;
  int tr = tid / 16, tc = tid % 16;  // 16x16 threads, each 4x4 outputs
  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 4; j++) acc[i][j] = 0.f;

  for (int k0 = 0; k0 < K; k0 += TK) {
    // Load A tile: TM x TK elements (1024), 4 per thread.
#pragma unroll
    for (int l = 0; l < 4; l++) {
      int e = tid + l * 256;
      int mm, kk;
      if (ta) {  // A stored KxM: consecutive threads along m
        mm = e % TM; kk = e / TM;
      } else {   // A stored MxK: consecutive threads along k
        kk = e % TK; mm = e / TK;
      }
      int gm = m0 + mm, gk = k0 + kk;
      float v = 0.f;
      if (gm < M && gk < K) v = ta ? A[(long long)gk * lda + gm] : A[(long long)gm * lda + gk];
      As[kk][mm] = v;
    }
#pragma unroll
    for (int l = 0; l < 4; l++) {
      int e = tid + l * 256;
      int nn, kk;
      if (tb) {  // B stored NxK
        kk = e % TK; nn = e / TK;
      } else {   // B stored KxN
        nn = e % TN; kk = e / TN;
      }
      int gn = n0 + nn, gk = k0 + kk;
      float v = 0.f;
      if (gn < N && gk < K) v = tb ? B[(long long)gn * ldb + gk] : B[(long long)gk * ldb + gn];
      Bs[kk][nn] = v;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < TK; kk++) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; i++) a[i] = As[kk][tr + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; j++) b[j] = Bs[kk][tc + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; i++) {
    int gm = m0 + tr + 16 * i;
    if (gm >= M) continue;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      int gn = n0 + tc + 16 * j;
      if (gn >= N) continue;
      long long o = (long long)gm * ldc + gn;
      float v = alpha * acc[i][j];
      if (beta != 0.f) v += beta * C[o];
      C[o] = v;
    }
  }
}

}  // extern "C"

// Larger tiles for large M and N: BM x BN per block of 256 threads (16 x 16),
// each thread TMR x TNR outputs at rows ty + 16 i and columns tx + 16 j, K in
// steps of 8 with the next tile's global loads in registers during the math.
template <int BM, int BN>
__device__ __forceinline__ void sgemm_big(const float* __restrict__ A, const float* __restrict__ B, float* C, int M,
                                          int N, int K, int lda, int ldb, int ldc, int ta, int tb, float alpha,
                                          float beta) {
  const int BK = 8, TMR = BM / 16, TNR = BN / 16;
  const int LA = BM * BK / 256, LB = BN * BK / 256;
  __shared__ float As[BK][BM + 4];
  __shared__ float Bs[BK][BN + 4];
  int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;
  float acc[TMR][TNR];
#pragma unroll
  for (int i = 0; i < TMR; i++)
#pragma unroll
    for (int j = 0; j < TNR; j++) acc[i][j] = 0.f;
  float ra[LA], rb[LB];
  auto loadA = [&](int k0) {
#pragma unroll
    for (int l = 0; l < LA; l++) {
      int e = tid + l * 256, mm, kk;
      if (ta) { mm = e % BM; kk = e / BM; } else { kk = e % BK; mm = e / BK; }
      int gm = m0 + mm, gk = k0 + kk;
      ra[l] = (gm < M && gk < K) ? (ta ? A[(long long)gk * lda + gm] : A[(long long)gm * lda + gk]) : 0.f;
    }
  };
  auto loadB = [&](int k0) {
#pragma unroll
    for (int l = 0; l < LB; l++) {
      int e = tid + l * 256, nn, kk;
      if (tb) { kk = e % BK; nn = e / BK; } else { nn = e % BN; kk = e / BN; }
      int gn = n0 + nn, gk = k0 + kk;
      rb[l] = (gn < N && gk < K) ? (tb ? B[(long long)gn * ldb + gk] : B[(long long)gk * ldb + gn]) : 0.f;
    }
  };
  auto store = [&]() {
#pragma unroll
    for (int l = 0; l < LA; l++) {
      int e = tid + l * 256, mm, kk;
      if (ta) { mm = e % BM; kk = e / BM; } else { kk = e % BK; mm = e / BK; }
      As[kk][mm] = ra[l];
    }
#pragma unroll
    for (int l = 0; l < LB; l++) {
      int e = tid + l * 256, nn, kk;
      if (tb) { kk = e % BK; nn = e / BK; } else { nn = e % BN; kk = e / BN; }
      Bs[kk][nn] = rb[l];
    }
  };
  loadA(0);
  loadB(0);
  store();
  __syncthreads();
  for (int k0 = 0; k0 < K; k0 += BK) {
    bool more = k0 + BK < K;
    if (more) {
      loadA(k0 + BK);
      loadB(k0 + BK);
    }
#pragma unroll
    for (int kk = 0; kk < BK; kk++) {
      float a[TMR], b[TNR];
#pragma unroll
      for (int i = 0; i < TMR; i++) a[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < TNR; j++) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < TMR; i++)
#pragma unroll
        for (int j = 0; j < TNR; j++) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
    if (more) {
      store();
      __syncthreads();
    }
  }
#pragma unroll
  for (int i = 0; i < TMR; i++) {
    int gm = m0 + ty + 16 * i;
    if (gm >= M) continue;
#pragma unroll
    for (int j = 0; j < TNR; j++) {
      int gn = n0 + tx + 16 * j;
      if (gn >= N) continue;
      long long o = (long long)gm * ldc + gn;
      float v = alpha * acc[i][j];
      if (beta != 0.f) v += beta * C[o];
      C[o] = v;
    }
  }
}

extern "C" {

#define SGEMM_BIG(NAME, BM, BN)                                                                                        \
  __global__ void __launch_bounds__(256) NAME(                                                                         \
      const float* __restrict__ A, const float* __restrict__ B, float* C, int M, int N, int K, int lda, int ldb,       \
      int ldc, int ta, int tb, float alpha, float beta, int inner, long long sAo, long long sAi, long long sBo,        \
      long long sBi, long long sCo, long long sCi, int split, long long sAs, long long sBs, long long sCs) {            \
    int z = blockIdx.z, zs = z % split;                                                                                \
    z /= split;                                                                                                        \
    int zo = z / inner, zi = z % inner;                                                                                \
    sgemm_big<BM, BN>(A + zo * sAo + zi * sAi + zs * sAs, B + zo * sBo + zi * sBi + zs * sBs,                          \
                      C + zo * sCo + zi * sCi + zs * sCs, M, N, K, lda, ldb, ldc, ta, tb, alpha, beta);                \
  }
SGEMM_BIG(sgemm128x128_f32, 128, 128)
SGEMM_BIG(sgemm64x128_f32, 64, 128)
SGEMM_BIG(sgemm128x64_f32, 128, 64)

// ------------------------------------------------------------ convolution
// im2col of all samples and groups: col (B, G, cpg*K*K, Ho*Wo).
__global__ void im2col_f32(float* col, const float* x, int B, int Cin, int H, int W, int K, int stride, int pad, int G,
                           int Ho, int Wo) {

  long long n = (long long)B * Cin * K * K * Ho * Wo;
  GRID_STRIDE(i, n) {
    int t = i;
    int ox = t % Wo; t /= Wo;
    int oy = t % Ho; t /= Ho;
    int kx = t % K; t /= K;
    int ky = t % K; t /= K;
    int c = t % Cin;  // = g*cpg + c_in_group; (g, c, ky, kx) order equals (c_global, ky, kx)
    int b = t / Cin;

    int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
    float v = 0.f;
    if (iy >= 0 && iy < H && ix >= 0 && ix < W) v = x[(((long long)b * Cin + c) * H + iy) * W + ix];
    col[i] = v;
  }
}

// col2im as a gather: dx[b,c,iy,ix] = sum over (ky,kx) with a matching output position.
__global__ void col2im_f32(float* dx, const float* col, int B, int Cin, int H, int W, int K, int stride, int pad,
                           int Ho, int Wo) {
  long long n = (long long)B * Cin * H * W;
  GRID_STRIDE(i, n) {
    int t = i;
    int ix = t % W; t /= W;
    int iy = t % H; t /= H;
    int bc = t;  // b*Cin + c
    float s = 0.f;
    for (int ky = 0; ky < K; ky++) {
      int ny = iy + pad - ky, oy = ny;
      if (ny < 0) continue;
      if (stride != 1) {
        if (ny % stride != 0) continue;
        oy = ny / stride;
      }
      if (oy >= Ho) continue;
      for (int kx = 0; kx < K; kx++) {
        int nx = ix + pad - kx, ox = nx;
        if (nx < 0) continue;
        if (stride != 1) {
          if (nx % stride != 0) continue;
          ox = nx / stride;
        }
        if (ox >= Wo) continue;
        s += col[((long long)(bc * K + ky) * K + kx) * Ho * Wo + oy * Wo + ox];
      }
    }
    dx[i] = s;
  }
}

// Depthwise convolution (groups == Cin == Cout). Grid (ceil(Ho*Wo/256), planes):
// blockIdx.y walks the B*C planes, threads the output pixels of one plane.
__global__ void dw_fwd_f32(float* y, const float* x, const float* w, int B, int C, int H, int W, int K, int stride,
                           int pad, int Ho, int Wo) {
  int p = blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= Ho * Wo) return;
  int oy = p / Wo, ox = p % Wo;
  for (int plane = blockIdx.y; plane < B * C; plane += gridDim.y) {
    int c = plane % C;
    const float* xp = x + (long long)plane * H * W;
    const float* wc = w + c * K * K;
    float s = 0.f;
    for (int ky = 0; ky < K; ky++) {
      int iy = oy * stride - pad + ky;
      if (iy < 0 || iy >= H) continue;
      for (int kx = 0; kx < K; kx++) {
        int ix = ox * stride - pad + kx;
        if (ix >= 0 && ix < W) s += wc[ky * K + kx] * xp[iy * W + ix];
      }
    }
    y[(long long)plane * Ho * Wo + p] = s;
  }
}

// Grid (ceil(H*W/256), planes), threads over input pixels.
__global__ void dw_bx_f32(float* dx, const float* w, const float* dy, int B, int C, int H, int W, int K, int stride,
                          int pad, int Ho, int Wo) {
  int p = blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= H * W) return;
  int iy = p / W, ix = p % W;
  for (int plane = blockIdx.y; plane < B * C; plane += gridDim.y) {
    int c = plane % C;
    const float* d = dy + (long long)plane * Ho * Wo;
    const float* wc = w + c * K * K;
    float s = 0.f;
    for (int ky = 0; ky < K; ky++) {
      int ny = iy + pad - ky, oy = ny;
      if (ny < 0) continue;
      if (stride != 1) {
        if (ny % stride != 0) continue;
        oy = ny / stride;
      }
      if (oy >= Ho) continue;
      for (int kx = 0; kx < K; kx++) {
        int nx = ix + pad - kx, ox = nx;
        if (nx < 0) continue;
        if (stride != 1) {
          if (nx % stride != 0) continue;
          ox = nx / stride;
        }
        if (ox >= Wo) continue;
        s += wc[ky * K + kx] * d[oy * Wo + ox];
      }
    }
    dx[(long long)plane * H * W + p] = s;
  }
}

// Weight gradient of the depthwise conv: grid (C, chunks, ceil(K*K/9)); block
// (c, y, t) sums up to 9 taps over the flattened (sample, output pixel) range
// [y*chunk, (y+1)*chunk) into part[y*C*K*K + c*K*K + tap]; the caller sums
// over y.
__global__ void dw_bw_f32(float* part, const float* x, const float* dy, int B, int C, int H, int W, int K, int stride,
                          int pad, int Ho, int Wo, int chunk) {
  int c = blockIdx.x, y = blockIdx.y;
  int t0 = blockIdx.z * 9;
  int nt = min(9, K * K - t0);
  float acc[9];
#pragma unroll
  for (int t = 0; t < 9; t++) acc[t] = 0.f;
  int ohw = Ho * Wo;
  long long total = (long long)B * ohw;
  long long lo = (long long)y * chunk, hi = min(total, lo + chunk);
  int kyt[9], kxt[9];
#pragma unroll
  for (int t = 0; t < 9; t++) {
    kyt[t] = (t0 + t) / K;
    kxt[t] = (t0 + t) % K;
  }
  int q = (int)lo + threadIdx.x;
  int b = q / ohw, p = q % ohw, oy = p / Wo, ox = p % Wo;  // advanced incrementally below
  const int step = blockDim.x, dOy = step / Wo, dOx = step % Wo;
  for (; q < (int)hi; q += step) {
    const float* plane = x + ((long long)b * C + c) * H * W;
    float g = dy[((long long)b * C + c) * ohw + oy * Wo + ox];
#pragma unroll
    for (int t = 0; t < 9; t++) {
      if (t < nt) {
        int iy = oy * stride - pad + kyt[t], ix = ox * stride - pad + kxt[t];
        if (iy >= 0 && iy < H && ix >= 0 && ix < W) acc[t] += g * plane[iy * W + ix];
      }
    }
    ox += dOx;
    oy += dOy;
    if (ox >= Wo) {
      ox -= Wo;
      oy++;
    }
    while (oy >= Ho) {
      oy -= Ho;
      b++;
    }
  }
#pragma unroll
  for (int t = 0; t < 9; t++) {
    float s = block_sum(acc[t]);
    if (threadIdx.x == 0 && t < nt) part[(long long)y * C * K * K + c * K * K + t0 + t] = s;
  }
}

// -------------------------------------------------------------- LayerNorm
// Per-pixel statistics over channels of (B, C, HW): mu and rstd = 1/sqrt(var+eps).
__device__ __forceinline__ void ln_pixel_stats(const float* x, int C, int HW, float* mu, float* rstd) {
  float m = 0.f;
  for (int c = 0; c < C; c++) m += x[(long long)c * HW];
  m /= C;
  float v = 0.f;
  for (int c = 0; c < C; c++) {
    float d = x[(long long)c * HW] - m;
    v += d * d;
  }
  *mu = m;
  *rstd = rsqrtf(v / C + 1e-5f);
}

__global__ void ln_stats_f32(float* mu, float* rstd, const float* x, int B, int C, int HW) {
  long long n = (long long)B * HW;
  GRID_STRIDE(i, n) {
    int b = i / HW, p = i % HW;
    float m, r;
    ln_pixel_stats(x + (long long)b * C * HW + p, C, HW, &m, &r);
    mu[i] = m;
    rstd[i] = r;
  }
}

__global__ void ln_fwd_f32(float* y, const float* x, const float* w, const float* bias, int B, int C, int HW,
                           int biasFree) {
  long long n = (long long)B * HW;
  GRID_STRIDE(i, n) {
    int b = i / HW, p = i % HW;
    const float* xp = x + (long long)b * C * HW + p;
    float* yp = y + (long long)b * C * HW + p;
    float m, r;
    ln_pixel_stats(xp, C, HW, &m, &r);
    for (int c = 0; c < C; c++) {
      float v = xp[(long long)c * HW];
      yp[(long long)c * HW] = biasFree ? v * r * w[c] : (v - m) * r * w[c] + bias[c];
    }
  }
}

__global__ void ln_bx_f32(float* dx, const float* x, const float* w, const float* dy, int B, int C, int HW,
                          int biasFree) {
  long long n = (long long)B * HW;
  GRID_STRIDE(i, n) {
    int b = i / HW, p = i % HW;
    long long base = (long long)b * C * HW + p;
    const float *xp = x + base, *dp = dy + base;
    float m, r;
    ln_pixel_stats(xp, C, HW, &m, &r);
    float s1 = 0.f, s2 = 0.f;
    for (int c = 0; c < C; c++) {
      float v = xp[(long long)c * HW];
      float g = dp[(long long)c * HW] * w[c];
      s1 += g;
      s2 += biasFree ? g * v : g * (v - m) * r;
    }
    s1 /= C;
    s2 /= C;
    if (biasFree) {
      s2 *= r;
      s1 = 0.f;
    }
    for (int c = 0; c < C; c++) {
      float v = xp[(long long)c * HW];
      float xh = (v - m) * r;
      dx[base + (long long)c * HW] = r * (dp[(long long)c * HW] * w[c] - s1 - xh * s2);
    }
  }
}

// Partial dw: part[y*C + c] = sum over the (b, p) chunk y of dy * xhat with
// xhat = (x - mu)*rstd (x*rstd when biasFree). Grid (C, chunks).
__global__ void ln_bw_f32(float* part, const float* x, const float* dy, const float* mu, const float* rstd, int B, int C,
                          int HW, int biasFree, int chunk) {
  int c = blockIdx.x, y = blockIdx.y;
  long long total = (long long)B * HW;
  long long lo = (long long)y * chunk, hi = min(total, lo + chunk);
  float s = 0.f;
  for (int q = (int)lo + threadIdx.x; q < (int)hi; q += blockDim.x) {
    int b = q / HW, p = q % HW;
    long long i = ((long long)b * C + c) * HW + p;
    float xh = biasFree ? x[i] * rstd[q] : (x[i] - mu[q]) * rstd[q];
    s += dy[i] * xh;
  }
  s = block_sum(s);
  if (threadIdx.x == 0) part[(long long)y * C + c] = s;
}

// -------------------------------------------------------------------- GELU gate
__device__ __forceinline__ void gelu_f(float x, float* y, float* dy) {
  float cdf = 0.5f * (1.f + erff(x * 0.70710678118654752f));
  float pdf = expf(-0.5f * x * x) * 0.39894228040143268f;
  *y = x * cdf;
  *dy = cdf + x * pdf;
}

// x (B, 2h, HW) -> out (B, h, HW) = GELU(x1)*x2.
__global__ void gelu_gate_f32(float* out, const float* x, int B, int h, int HW) {
  long long n = (long long)B * h * HW;
  GRID_STRIDE(i, n) {
    int p = i % HW, bc = i / HW;
    int c = bc % h, b = bc / h;
    long long o1 = ((long long)b * 2 * h + c) * HW + p, o2 = o1 + (long long)h * HW;
    float y, d;
    gelu_f(x[o1], &y, &d);
    out[i] = y * x[o2];
  }
}

__global__ void gelu_gate_grad_f32(float* dx, const float* x, const float* dy, int B, int h, int HW) {
  long long n = (long long)B * h * HW;
  GRID_STRIDE(i, n) {
    int p = i % HW, bc = i / HW;
    int c = bc % h, b = bc / h;
    long long o1 = ((long long)b * 2 * h + c) * HW + p, o2 = o1 + (long long)h * HW;
    float y, d;
    gelu_f(x[o1], &y, &d);
    float g = dy[i];
    dx[o1] = g * x[o2] * d;
    dx[o2] = g * y;
  }
}

// ------------------------------------------------------------ channel attention
// Row r of q (or k) in qkv (B, 3C, n): b = r / C, c = r % C at b*3C*n + off*C*n + c*n.
// Writes rows divided by max(|row|, 1e-12) to dst (B*C rows of n) and the divisors to norm. Grid B*C.
__global__ void attn_rownorm_f32(float* dst, float* norm, const float* qkv, int C, int n, int off) {
  int r = blockIdx.x;
  int b = r / C, c = r % C;
  const float* src = qkv + ((long long)b * 3 * C + off * C + c) * n;
  float s = 0.f;
  for (int j = threadIdx.x; j < n; j += blockDim.x) s += src[j] * src[j];
  s = block_sum(s);
  float nm = fmaxf(sqrtf(s), 1e-12f);
  float inv = 1.f / nm;
  float* d = dst + (long long)r * n;
  for (int j = threadIdx.x; j < n; j += blockDim.x) d[j] = src[j] * inv;
  if (threadIdx.x == 0) norm[r] = nm;
}

// In place on the gradient rows of q (or k) inside dqkv: g = (g - r (r.g)) / |x|
// (g / eps where clamped). Grid B*C.
__global__ void attn_rownorm_back_f32(float* dqkv, const float* rn, const float* norm, int C, int n, int off) {
  int r = blockIdx.x;
  int b = r / C, c = r % C;
  float* g = dqkv + ((long long)b * 3 * C + off * C + c) * n;
  const float* ri = rn + (long long)r * n;
  float nm = norm[r];
  float inv = 1.f / nm;
  float d = 0.f;
  if (nm > 1e-12f) {
    for (int j = threadIdx.x; j < n; j += blockDim.x) d += g[j] * ri[j];
    d = block_sum(d);
  }
  for (int j = threadIdx.x; j < n; j += blockDim.x) g[j] = (g[j] - ri[j] * d) * inv;
}

// A = softmax(t[h] * G) row-wise; G, A (B*heads, ch, ch). One thread per row.
__global__ void attn_softmax_f32(float* A, const float* G, const float* temp, int heads, int ch, int rows) {
  int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  int h = (r / ch) % heads;
  float t = temp[h];
  const float* g = G + (long long)r * ch;
  float* a = A + (long long)r * ch;
  float mx = -INFINITY;
  for (int j = 0; j < ch; j++) mx = fmaxf(mx, t * g[j]);
  float s = 0.f;
  for (int j = 0; j < ch; j++) {
    float e = expf(t * g[j] - mx);
    a[j] = e;
    s += e;
  }
  float inv = 1.f / s;
  for (int j = 0; j < ch; j++) a[j] *= inv;
}

// dS = A*(dA - rowsum(A*dA)); writes t*dS over dA and sum_j dS*G per row to rowdt. One thread per row.
__global__ void attn_dsoftmax_f32(float* dA, float* rowdt, const float* A, const float* G, const float* temp, int heads,
                                  int ch, int rows) {
  int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  int h = (r / ch) % heads;
  float t = temp[h];
  const float* a = A + (long long)r * ch;
  const float* g = G + (long long)r * ch;
  float* d = dA + (long long)r * ch;
  float ad = 0.f;
  for (int j = 0; j < ch; j++) ad += a[j] * d[j];
  float dt = 0.f;
  for (int j = 0; j < ch; j++) {
    float ds = a[j] * (d[j] - ad);
    dt += ds * g[j];
    d[j] = t * ds;
  }
  rowdt[r] = dt;
}

// dtemp[h] = sum over b and the head's rows of rowdt. Grid heads.
__global__ void attn_dtemp_f32(float* dtemp, const float* rowdt, int B, int heads, int ch) {
  int h = blockIdx.x;
  float s = 0.f;
  int total = B * ch;
  for (int i = threadIdx.x; i < total; i += blockDim.x) {
    int b = i / ch, j = i % ch;
    s += rowdt[((long long)b * heads + h) * ch + j];
  }
  s = block_sum(s);
  if (threadIdx.x == 0) dtemp[h] = s;
}


// out (outer, count, inner) = in (outer, A, inner) at axis indices start + k*step.
__global__ void slice_axis_f32(float* out, const float* in, int outer, int A, int inner, int start, int step, int count) {
  long long n = (long long)outer * count * inner;
  GRID_STRIDE(i, n) {
    int j = i % inner, t = i / inner;
    int k = t % count, o = t / count;
    out[i] = in[((long long)o * A + start + k * step) * inner + j];
  }
}

// ------------------------------------------------------------ IRC and BRO
// Per-sample losses on B rows of F: row norms, then small B x B work in one block.

// norm[i] = max(|x_i|, 1e-12). Grid B.
__global__ void row_norms_f32(float* norm, const float* x, int F) {
  const float* r = x + (long long)blockIdx.x * F;
  float s = 0.f;
  for (int j = threadIdx.x; j < F; j += blockDim.x) s += r[j] * r[j];
  s = block_sum(s);
  if (threadIdx.x == 0) norm[blockIdx.x] = fmaxf(sqrtf(s), 1e-12f);
}

// BRO from the raw dots D = b r^T: C = D/(nb nr^T). mode 0: out[i] = sum_j C_ij^2.
// mode 1: Cm = C and A_ij = 2 C_ij dl[i]. One block, thread per row.
__global__ void bro_small_f32(float* out, float* A, float* Cm, const float* D, const float* nb, const float* nr,
                              const float* dl, int B, int mode) {
  for (int i = threadIdx.x; i < B; i += blockDim.x) {
    float s = 0.f;
    for (int j = 0; j < B; j++) {
      float c = D[i * B + j] / (nb[i] * nr[j]);
      if (mode == 0) {
        s += c * c;
      } else {
        Cm[i * B + j] = c;
        A[i * B + j] = 2.f * c * dl[i];
      }
    }
    if (mode == 0) out[i] = s;
  }
}

// IRC from D = r r^T and the norms n; ids as floats. mode 0: out[i] = lseAll - lsePos
// (0 when all ids are equal to i's). mode 1: Cm = C, tmp = a, S = a + a^T with
// a_ij = dl[i] (p_ij - q_ij) / tau. One block, thread per row.
__global__ void irc_small_f32(float* out, float* S, float* tmp, float* Cm, const float* D, const float* n,
                              const float* ids, const float* dl, int B, float tau, int mode) {
  for (int i = threadIdx.x; i < B; i += blockDim.x) {
    float mAll = -INFINITY, mPos = -INFINITY;
    bool same = true;
    for (int j = 0; j < B; j++) {
      float c = D[i * B + j] / (n[i] * n[j]);
      mAll = fmaxf(mAll, c);
      if (ids[j] == ids[i]) mPos = fmaxf(mPos, c);
      else same = false;
    }
    // All sums shifted by the overall max; the loss log(all/pos) = log1p(neg/pos)
    // keeps float32 precision where all and pos nearly agree.
    float sPos = 0.f, sNeg = 0.f;
    for (int j = 0; j < B; j++) {
      float e = expf((D[i * B + j] / (n[i] * n[j]) - mAll) / tau);
      if (ids[j] == ids[i]) sPos += e;
      else sNeg += e;
    }
    (void)mPos;
    if (mode == 0) {
      out[i] = same ? 0.f : log1pf(sNeg / sPos);
      continue;
    }
    for (int j = 0; j < B; j++) {
      float c = D[i * B + j] / (n[i] * n[j]);
      Cm[i * B + j] = c;
      float a = 0.f;
      if (!same) {
        // p - q without cancellation: e/(pos+neg) - e/pos = -e neg/(pos (pos+neg)).
        float e = expf((c - mAll) / tau);
        float pq = ids[j] == ids[i] ? -e * sNeg / (sPos * (sPos + sNeg)) : e / (sPos + sNeg);
        a = dl[i] * pq / tau;
      }
      tmp[i * B + j] = a;
    }
  }
  if (mode == 1) {
    __syncthreads();
    for (int e = threadIdx.x; e < B * B; e += blockDim.x) {
      int i = e / B, j = e % B;
      S[e] = tmp[i * B + j] + tmp[j * B + i];
    }
  }
}

// For dx_i = sum_j W_ij y_j + s_i x_i (backRows of package losses):
// W_ij = A_ij / (nx_i ny_j), s_i = -sum_j A_ij C_ij / nx_i^2 (0 where nx_i <= eps);
// with trans, A and C are read transposed. One block, thread per row.
__global__ void backrows_prep_f32(float* W, float* s, const float* A, const float* C, const float* nx, const float* ny,
                                  int B, int trans) {
  for (int i = threadIdx.x; i < B; i += blockDim.x) {
    float proj = 0.f;
    for (int j = 0; j < B; j++) {
      float a = trans ? A[j * B + i] : A[i * B + j];
      float c = trans ? C[j * B + i] : C[i * B + j];
      W[i * B + j] = a / (nx[i] * ny[j]);
      proj += a * c;
    }
    s[i] = nx[i] <= 1e-12f ? 0.f : -proj / (nx[i] * nx[i]);
  }
}

// dx[i] += s[i / F] * x[i].
__global__ void row_axpy_f32(float* dx, const float* x, const float* s, int F, long long n) {
  GRID_STRIDE(i, n) dx[i] += s[i / F] * x[i];
}

// ------------------------------------------------------------------- losses
// out[i] = |x - y|
__global__ void absdiff_f32(float* out, const float* x, const float* y, long long n) {
  GRID_STRIDE(i, n) out[i] = fabsf(x[i] - y[i]);
}

// out = sign * dl[0] / N * sign(x - y)
__global__ void l1_grad_f32(float* out, const float* x, const float* y, const float* dl, long long n, float sign) {
  float g = sign * dl[0] / (float)n;
  GRID_STRIDE(i, n) {
    float d = x[i] - y[i];
    out[i] = d > 0.f ? g : (d < 0.f ? -g : 0.f);
  }
}

// ---------------------------------------------------------------- optimisers
// Gorgonia's RMSPropSolver (epsInside = 1): c = decay*c + (1-decay)*g^2; w -= lr*g/sqrt(c+eps).
// PyTorch's RMSprop (epsInside = 0): w -= lr*g/(sqrt(c)+eps).
__global__ void rmsprop_f32(float* w, const float* g, float* cache, long long n, float lr, float decay, float eps,
                            int epsInside) {
  GRID_STRIDE(i, n) {
    float gi = g[i];
    float c = decay * cache[i] + (1.f - decay) * gi * gi;
    cache[i] = c;
    float den = epsInside ? sqrtf(c + eps) : sqrtf(c) + eps;
    w[i] -= lr * gi / den;
  }
}

// PyTorch's Adam; bc1 = 1 - beta1^t, bc2 = 1 - beta2^t.
__global__ void adam_f32(float* w, const float* g, float* m, float* v, long long n, float lr, float b1, float b2,
                         float eps, float bc1, float bc2) {
  GRID_STRIDE(i, n) {
    float gi = g[i];
    float mi = b1 * m[i] + (1.f - b1) * gi;
    float vi = b2 * v[i] + (1.f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] -= lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
  }
}

}  // extern "C"
