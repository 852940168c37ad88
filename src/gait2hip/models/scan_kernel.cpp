// Mamba's selective scan on the CPU, forward and backward, one pass over time per batch row;
// after it, the causal depthwise convolution + SiLU before the scan (conv_silu_*) and the
// Transformer's dropouts in training (dropout_*, relu_dropout_*).
// Built on first use by gait2hip.models.scan_kernel (torch.utils.cpp_extension.load_inline).
//
// Batch-major, contiguous: u, d (b, L, E); At (N, E); B, C (b, L, N).
//   h[t] = exp(d[t] * A) * h[t-1] + B[t] (d[t] u[t]),   y[t] = sum_n C[t, n] h[t, n]
// Batch rows run in parallel (PyTorch's intra-op threads); the channel axis E is the inner,
// vectorised loop. The backward is the same recurrence run backwards in time (the adjoint
// of a linear recurrence), as in gait2hip.models.scan._FusedScan.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

// exp inlined so that the loops vectorise without a library call: in float, Cody-Waite range
// reduction and Cephes' degree-6 polynomial (within 2 ulp of std::exp on [-87, 88]);
// arguments below -87 give ~1e-38 instead of a denormal or 0, above 88 exp(88). In double,
// std::exp (the exactness tests run in double).
static inline float fast_exp(float x) {
  x = std::fmin(std::fmax(x, -87.0f), 88.0f);
  const float k = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = x - k * 0.693359375f;
  r = r + k * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

static inline double fast_exp(double x) { return std::exp(x); }

template <typename T>
static inline T sigmoid(T x) {
  return T(1) / (T(1) + fast_exp(-x));
}

// States kept for the backward: the state entering every CHUNK-th step only (the backward
// recomputes each chunk's states from it into a buffer that stays in cache), instead of all
// (b, L, N, E) of them, which the forward would spend its time writing to memory.
constexpr int64_t CHUNK = 16;

static int64_t n_chunks(int64_t L) { return (L + CHUNK - 1) / CHUNK; }

// One step of one batch row: h = exp(d A) hp + B (d u) (hp == nullptr: no earlier state),
// and into out: in the forward, y = C . h (E,); in the backward's recompute, the decay factors
// exp(d A) (N, E), which the backward then reads instead of computing them again. du and acc
// are (E,) scratch.
template <bool Recompute, typename T>
static inline void step(const T* ut, const T* dt, const T* A, const T* Bt, const T* Ct,
                        const T* hp, T* h, T* out, T* du, T* acc, int64_t E, int64_t N) {
#pragma omp simd
  for (int64_t e = 0; e < E; ++e) {
    du[e] = dt[e] * ut[e];
    acc[e] = T(0);
  }
  for (int64_t n = 0; n < N; ++n) {
    const T* An = A + n * E;
    T* hn = h + n * E;
    T* an = out + n * E;
    const T bn = Bt[n], cn = Ct[n];
    if (hp) {
      const T* hpn = hp + n * E;
#pragma omp simd
      for (int64_t e = 0; e < E; ++e) {
        const T a = fast_exp(dt[e] * An[e]);
        const T v = a * hpn[e] + bn * du[e];
        hn[e] = v;
        if constexpr (Recompute) an[e] = a;
        else acc[e] += cn * v;
      }
    } else {
#pragma omp simd
      for (int64_t e = 0; e < E; ++e) {
        const T v = bn * du[e];
        hn[e] = v;
        if constexpr (Recompute) an[e] = T(1);  // unused: nothing earlier to decay
        else acc[e] += cn * v;
      }
    }
  }
  if constexpr (!Recompute) {
#pragma omp simd
    for (int64_t e = 0; e < E; ++e) out[e] = acc[e];
  }
}

template <typename T>
static void forward_rows(const T* u, const T* d, const T* A, const T* B, const T* C, T* y, T* ck,
                         int64_t L, int64_t b, int64_t E, int64_t N, int64_t j0, int64_t j1) {
  // the running state in two alternating buffers; ck (nullable): the chunks' entering states
  std::vector<T> du(E), acc(E), ring(2 * N * E);
  const int64_t nc = n_chunks(L);
  for (int64_t j = j0; j < j1; ++j) {
    for (int64_t t = 0; t < L; ++t) {
      const int64_t row = j * L + t;
      T* h = ring.data() + (t % 2) * N * E;
      const T* hp = t ? ring.data() + ((t - 1) % 2) * N * E : nullptr;
      step<false>(u + row * E, d + row * E, A, B + row * N, C + row * N, hp, h, y + row * E,
                  du.data(), acc.data(), E, N);
      if (ck && (t + 1) % CHUNK == 0 && t + 1 < L)
        std::copy(h, h + N * E, ck + (j * nc + (t + 1) / CHUNK) * N * E);
    }
  }
}

// One state n of one backward step: with l = lam + C[t, n] gy[t] (y[t] = C[t] . h[t]), the
// gradients of C[t, n] (sC) and B[t, n] (sB), du[t] (h[t] = dA[t] h[t-1] + B[t] du[t]) and,
// with an earlier state, of d[t] A (dA[t] = exp(d[t] A): lam h[t-1] dA[t]); lam becomes the
// earlier state's adjoint, l dA[t].
template <bool HasPrev, typename T>
static inline void adjoint_state(T* ln, const T* hn, const T* gyt, const T* du, const T* hpn,
                                 const T* an, const T* An, const T* dt, T* gAn, T* gdu, T* gdA,
                                 T bn, T cn, T& sC_out, T& sB_out, int64_t E) {
  T sC = T(0), sB = T(0);
#pragma omp simd reduction(+ : sC, sB)
  for (int64_t e = 0; e < E; ++e) {
    const T l = ln[e] + cn * gyt[e];
    sC += hn[e] * gyt[e];
    gdu[e] += bn * l;
    sB += l * du[e];
    if constexpr (HasPrev) {
      const T a = an[e];
      const T z = l * hpn[e] * a;
      gdA[e] += z * An[e];
      gAn[e] += z * dt[e];
      ln[e] = l * a;
    } else {
      ln[e] = l;
    }
  }
  sC_out = sC;
  sB_out = sB;
}

template <typename T>
static void backward_rows(const T* gy, const T* u, const T* d, const T* A, const T* B, const T* C,
                          const T* ck, T* gu, T* gd, T* gA_rows, T* gB, T* gC, int64_t L,
                          int64_t b, int64_t E, int64_t N, int64_t j0, int64_t j1) {
  std::vector<T> lam(N * E), du(E), gdu(E), gdA(E), acc(E), buf(CHUNK * N * E),
      decay(CHUNK * N * E);
  const int64_t nc = n_chunks(L);
  for (int64_t j = j0; j < j1; ++j) {
    std::fill(lam.begin(), lam.end(), T(0));
    T* gA = gA_rows + j * N * E;  // this row's share of dL/dA, summed over rows afterwards
    std::fill(gA, gA + N * E, T(0));
    for (int64_t c = nc - 1; c >= 0; --c) {
      const int64_t t0 = c * CHUNK, t1 = std::min(L, t0 + CHUNK);
      const T* entering = c ? ck + (j * nc + c) * N * E : nullptr;
      for (int64_t t = t0; t < t1; ++t) {  // the chunk's states again, from the one entering it
        const int64_t row = j * L + t;
        step<true>(u + row * E, d + row * E, A, B + row * N, C + row * N,
                   t > t0 ? buf.data() + (t - t0 - 1) * N * E : entering,
                   buf.data() + (t - t0) * N * E, decay.data() + (t - t0) * N * E, du.data(),
                   acc.data(), E, N);
      }
      for (int64_t t = t1 - 1; t >= t0; --t) {
        const int64_t row = j * L + t;
        const T* gyt = gy + row * E;
        const T* ut = u + row * E;
        const T* dt = d + row * E;
        const T* Bt = B + row * N;
        const T* Ct = C + row * N;
        const T* h = buf.data() + (t - t0) * N * E;
        const T* hp = t > t0 ? buf.data() + (t - t0 - 1) * N * E : entering;
        const T* at = decay.data() + (t - t0) * N * E;
#pragma omp simd
        for (int64_t e = 0; e < E; ++e) {
          du[e] = dt[e] * ut[e];
          gdu[e] = T(0);
          gdA[e] = T(0);
        }
        for (int64_t n = 0; n < N; ++n) {
          T* ln = lam.data() + n * E;
          const T* hn = h + n * E;
          const T bn = Bt[n], cn = Ct[n];
          const T* hpn = hp ? hp + n * E : nullptr;
          T sC, sB;
          auto adjoint = hp ? adjoint_state<true, T> : adjoint_state<false, T>;  // t = 0: none
          adjoint(ln, hn, gyt, du.data(), hpn, at + n * E, A + n * E, dt, gA + n * E, gdu.data(),
                  gdA.data(), bn, cn, sC, sB, E);
          gC[row * N + n] = sC;
          gB[row * N + n] = sB;
        }
        T* gut = gu + row * E;
        T* gdt = gd + row * E;
#pragma omp simd
        for (int64_t e = 0; e < E; ++e) {
          gut[e] = gdu[e] * dt[e];
          gdt[e] = gdA[e] + gdu[e] * ut[e];
        }
      }
    }
  }
}

// keep_states: also return the states the backward starts each chunk from (b, chunks, N, E;
// the first chunk's, zero, is not used); without, an empty tensor.
std::vector<torch::Tensor> scan_forward(torch::Tensor u, torch::Tensor d, torch::Tensor At,
                                        torch::Tensor B, torch::Tensor C, bool keep_states) {
  const int64_t b = u.size(0), L = u.size(1), E = u.size(2), N = At.size(0);
  auto y = torch::empty({b, L, E}, u.options());
  auto hs = keep_states ? torch::empty({b, n_chunks(L), N, E}, u.options())
                        : torch::empty({0}, u.options());
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "scan_forward", [&] {
    const scalar_t *pu = u.data_ptr<scalar_t>(), *pd = d.data_ptr<scalar_t>();
    const scalar_t *pA = At.data_ptr<scalar_t>(), *pB = B.data_ptr<scalar_t>();
    const scalar_t* pC = C.data_ptr<scalar_t>();
    scalar_t* py = y.data_ptr<scalar_t>();
    scalar_t* ph = keep_states ? hs.data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, b, 1, [&](int64_t j0, int64_t j1) {
      forward_rows<scalar_t>(pu, pd, pA, pB, pC, py, ph, L, b, E, N, j0, j1);
    });
  });
  return {y, hs};
}

std::vector<torch::Tensor> scan_backward(torch::Tensor gy, torch::Tensor u, torch::Tensor d,
                                         torch::Tensor At, torch::Tensor B, torch::Tensor C,
                                         torch::Tensor hs) {
  const int64_t b = u.size(0), L = u.size(1), E = u.size(2), N = At.size(0);
  auto gu = torch::empty_like(u), gd = torch::empty_like(d);
  auto gB = torch::empty_like(B), gC = torch::empty_like(C);
  auto gA_rows = torch::empty({b, N, E}, u.options());
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "scan_backward", [&] {
    const scalar_t *pg = gy.data_ptr<scalar_t>(), *pu = u.data_ptr<scalar_t>();
    const scalar_t *pd = d.data_ptr<scalar_t>(), *pA = At.data_ptr<scalar_t>();
    const scalar_t *pB = B.data_ptr<scalar_t>(), *pC = C.data_ptr<scalar_t>();
    const scalar_t* ph = hs.data_ptr<scalar_t>();
    scalar_t *pgu = gu.data_ptr<scalar_t>(), *pgd = gd.data_ptr<scalar_t>();
    scalar_t *pgA = gA_rows.data_ptr<scalar_t>(), *pgB = gB.data_ptr<scalar_t>();
    scalar_t* pgC = gC.data_ptr<scalar_t>();
    at::parallel_for(0, b, 1, [&](int64_t j0, int64_t j1) {
      backward_rows<scalar_t>(pg, pu, pd, pA, pB, pC, ph, pgu, pgd, pgA, pgB, pgC, L, b, E, N,
                              j0, j1);
    });
  });
  return {gu, gd, gA_rows.sum(0), gB, gC};
}


// The causal depthwise convolution of Mamba's branch and its SiLU, in the scan's (b, L, E)
// layout (PyTorch's Conv1d needs (b, E, L) and two transposes): x (b, L, E), wT (K, E) the
// weights with tap k applied to x[t - (K - 1) + k], bias (E):
//   pre[t] = bias + sum_k wT[k] x[t - (K - 1) + k],   out[t] = pre[t] sigmoid(pre[t])
template <typename T>
static void conv_pre_row(const T* x, const T* wT, const T* bias, T* pre, int64_t L, int64_t E,
                         int64_t K) {
  for (int64_t t = 0; t < L; ++t) {
    T* p = pre + t * E;
#pragma omp simd
    for (int64_t e = 0; e < E; ++e) p[e] = bias[e];
    for (int64_t k = 0; k < K; ++k) {
      const int64_t s = t - (K - 1) + k;
      if (s < 0) continue;
      const T* xs = x + s * E;
      const T* wk = wT + k * E;
#pragma omp simd
      for (int64_t e = 0; e < E; ++e) p[e] += wk[e] * xs[e];
    }
  }
}

template <typename T>
static void conv_forward_rows(const T* x, const T* wT, const T* bias, T* out, int64_t L,
                              int64_t E, int64_t K, int64_t j0, int64_t j1) {
  for (int64_t j = j0; j < j1; ++j) {
    T* o = out + j * L * E;
    conv_pre_row(x + j * L * E, wT, bias, o, L, E, K);
#pragma omp simd
    for (int64_t i = 0; i < L * E; ++i) o[i] *= sigmoid(o[i]);
  }
}

template <typename T>
static void conv_backward_rows(const T* g, const T* x, const T* wT, const T* bias, T* gx,
                               T* gw_rows, T* gb_rows, int64_t L, int64_t E, int64_t K,
                               int64_t j0, int64_t j1) {
  std::vector<T> gpre(L * E);
  for (int64_t j = j0; j < j1; ++j) {
    const T* xj = x + j * L * E;
    const T* gj = g + j * L * E;
    conv_pre_row(xj, wT, bias, gpre.data(), L, E, K);  // pre, then dL/dpre in place
#pragma omp simd
    for (int64_t i = 0; i < L * E; ++i) {
      const T p = gpre[i];
      const T sg = sigmoid(p);
      gpre[i] = gj[i] * sg * (T(1) + p * (T(1) - sg));
    }
    T* gw = gw_rows + j * K * E;  // this row's share, summed over rows afterwards
    T* gb = gb_rows + j * E;
    T* gxj = gx + j * L * E;
    std::fill(gw, gw + K * E, T(0));
    std::fill(gb, gb + E, T(0));
    std::fill(gxj, gxj + L * E, T(0));
    for (int64_t t = 0; t < L; ++t) {
      const T* gp = gpre.data() + t * E;
#pragma omp simd
      for (int64_t e = 0; e < E; ++e) gb[e] += gp[e];
      for (int64_t k = 0; k < K; ++k) {
        const int64_t s = t - (K - 1) + k;
        if (s < 0) continue;
        const T* wk = wT + k * E;
        const T* xs = xj + s * E;
        T* gxs = gxj + s * E;
        T* gwk = gw + k * E;
#pragma omp simd
        for (int64_t e = 0; e < E; ++e) {
          gxs[e] += wk[e] * gp[e];
          gwk[e] += gp[e] * xs[e];
        }
      }
    }
  }
}

torch::Tensor conv_silu_forward(torch::Tensor x, torch::Tensor wT, torch::Tensor bias) {
  const int64_t b = x.size(0), L = x.size(1), E = x.size(2), K = wT.size(0);
  auto out = torch::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "conv_silu_forward", [&] {
    const scalar_t *px = x.data_ptr<scalar_t>(), *pw = wT.data_ptr<scalar_t>();
    const scalar_t* pb = bias.data_ptr<scalar_t>();
    scalar_t* po = out.data_ptr<scalar_t>();
    at::parallel_for(0, b, 1, [&](int64_t j0, int64_t j1) {
      conv_forward_rows<scalar_t>(px, pw, pb, po, L, E, K, j0, j1);
    });
  });
  return out;
}

// Gradients of conv_silu_forward's output g: dx, dwT (K, E), dbias (E).
std::vector<torch::Tensor> conv_silu_backward(torch::Tensor g, torch::Tensor x, torch::Tensor wT,
                                              torch::Tensor bias) {
  const int64_t b = x.size(0), L = x.size(1), E = x.size(2), K = wT.size(0);
  auto gx = torch::empty_like(x);
  auto gw_rows = torch::empty({b, K, E}, x.options());
  auto gb_rows = torch::empty({b, E}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "conv_silu_backward", [&] {
    const scalar_t *pg = g.data_ptr<scalar_t>(), *px = x.data_ptr<scalar_t>();
    const scalar_t *pw = wT.data_ptr<scalar_t>(), *pb = bias.data_ptr<scalar_t>();
    scalar_t *pgx = gx.data_ptr<scalar_t>(), *pgw = gw_rows.data_ptr<scalar_t>();
    scalar_t* pgb = gb_rows.data_ptr<scalar_t>();
    at::parallel_for(0, b, 1, [&](int64_t j0, int64_t j1) {
      conv_backward_rows<scalar_t>(pg, px, pw, pb, pgx, pgw, pgb, L, E, K, j0, j1);
    });
  });
  return {gx, gw_rows.sum(0), gb_rows.sum(0)};
}

// The Transformer's dropouts in training draw their masks from a counter-based hash of (seed,
// element index), so that a backward draws the same mask again instead of storing it. An
// element is dropped when the low 16 bits of its hash are below drop (= round(p * 65536));
// the kept are scaled by scale.
static inline uint32_t mask_bits(uint32_t seed, uint32_t key, uint32_t i) {
  uint32_t x = (i * 0x9E3779B9u) ^ seed;  // murmur3's finaliser, keyed twice
  x ^= x >> 16;
  x *= 0x85EBCA6Bu;
  x ^= (x >> 13) ^ key;
  x *= 0xC2B2AE35u;
  x ^= x >> 16;
  return x & 0xFFFFu;
}

// The mask alone (x * mask: the attention weights' dropout after PyTorch's softmax, and the
// backward of every dropout here), and fused with what surrounds it: the residual add after the
// attention and feed-forward outputs (res + x * mask) and the ReLU of the feed-forward hidden
// layer (relu(x) * mask), whose backward needs only its output (> 0 exactly where the input
// was > 0 and kept).
template <typename T>
static void dropout_add_chunk(const T* x, const T* res, T* out, uint32_t drop, T scale,
                              uint32_t seed, uint32_t key, int64_t i0, int64_t i1) {
#pragma omp simd
  for (int64_t i = i0; i < i1; ++i)
    out[i] = res[i] + (mask_bits(seed, key, static_cast<uint32_t>(i)) >= drop ? x[i] * scale
                                                                              : T(0));
}

// x * mask (Relu: relu(x) * mask)
template <bool Relu, typename T>
static void masked_chunk(const T* x, T* out, uint32_t drop, T scale, uint32_t seed,
                         uint32_t key, int64_t i0, int64_t i1) {
#pragma omp simd
  for (int64_t i = i0; i < i1; ++i) {
    const bool kept = mask_bits(seed, key, static_cast<uint32_t>(i)) >= drop &&
                      (!Relu || x[i] > T(0));
    out[i] = kept ? x[i] * scale : T(0);
  }
}

template <typename T>
static void relu_dropout_backward_chunk(const T* g, const T* out, T* gx, T scale, int64_t i0,
                                        int64_t i1) {
#pragma omp simd
  for (int64_t i = i0; i < i1; ++i) gx[i] = out[i] > T(0) ? g[i] * scale : T(0);
}

// res + dropout(x); x and res contiguous, of one shape
torch::Tensor dropout_add_forward(torch::Tensor x, torch::Tensor res, int64_t drop, double scale,
                                  int64_t seed) {
  auto out = torch::empty_like(x);
  const uint32_t lo = static_cast<uint32_t>(seed), hi = static_cast<uint32_t>(seed >> 32);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "dropout_add_forward", [&] {
    const scalar_t *px = x.data_ptr<scalar_t>(), *pr = res.data_ptr<scalar_t>();
    scalar_t* po = out.data_ptr<scalar_t>();
    at::parallel_for(0, x.numel(), 16384, [&](int64_t i0, int64_t i1) {
      dropout_add_chunk<scalar_t>(px, pr, po, static_cast<uint32_t>(drop),
                                  static_cast<scalar_t>(scale), lo, hi, i0, i1);
    });
  });
  return out;
}

template <bool Relu>
static torch::Tensor masked(torch::Tensor x, int64_t drop, double scale, int64_t seed) {
  auto out = torch::empty_like(x);
  const uint32_t lo = static_cast<uint32_t>(seed), hi = static_cast<uint32_t>(seed >> 32);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "masked", [&] {
    const scalar_t* px = x.data_ptr<scalar_t>();
    scalar_t* po = out.data_ptr<scalar_t>();
    at::parallel_for(0, x.numel(), 16384, [&](int64_t i0, int64_t i1) {
      masked_chunk<Relu, scalar_t>(px, po, static_cast<uint32_t>(drop),
                                   static_cast<scalar_t>(scale), lo, hi, i0, i1);
    });
  });
  return out;
}

// g times the mask of seed: dropout(g), and the gradient through a dropout of that seed
torch::Tensor dropout_mask(torch::Tensor g, int64_t drop, double scale, int64_t seed) {
  return masked<false>(g, drop, scale, seed);
}

// dropout(relu(x)); x contiguous
torch::Tensor relu_dropout_forward(torch::Tensor x, int64_t drop, double scale, int64_t seed) {
  return masked<true>(x, drop, scale, seed);
}

// the gradient through dropout(relu(x)) from its output: g * scale where the output is > 0
torch::Tensor relu_dropout_backward(torch::Tensor g, torch::Tensor out, double scale) {
  auto gx = torch::empty_like(g);
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "relu_dropout_backward", [&] {
    const scalar_t *pg = g.data_ptr<scalar_t>(), *po = out.data_ptr<scalar_t>();
    scalar_t* pgx = gx.data_ptr<scalar_t>();
    const scalar_t s = static_cast<scalar_t>(scale);
    at::parallel_for(0, g.numel(), 16384, [&](int64_t i0, int64_t i1) {
      relu_dropout_backward_chunk<scalar_t>(pg, po, pgx, s, i0, i1);
    });
  });
  return gx;
}

// How many of PyTorch's threads at::parallel_for runs n items on here (a test that the kernels
// above are built to run in parallel, not on one thread).
int64_t parallel_threads(int64_t n) {
  std::vector<int64_t> seen(at::get_num_threads(), 0);
  at::parallel_for(0, n, 1, [&](int64_t, int64_t) {
    const int64_t id = at::get_thread_num();
    if (id >= 0 && id < static_cast<int64_t>(seen.size())) seen[id] = 1;
  });
  int64_t count = 0;
  for (int64_t s : seen) count += s;
  return count;
}
