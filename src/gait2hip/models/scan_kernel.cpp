// Mamba's selective scan on the CPU, forward and backward, one pass over time per batch row.
// Built on first use by gait2hip.models.scan_kernel (torch.utils.cpp_extension.load_inline).
//
// Batch-major, contiguous: u, d (b, L, E); At (N, E); B, C (b, L, N); states hs (b, L, N, E).
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

// exp for the decay factors exp(delta * A) (arguments <= 0): in float, Cody-Waite range
// reduction and Cephes' degree-6 polynomial (within 2 ulp of std::exp on [-87, 0]), inlined
// so that the loops vectorise without a library call; arguments below -87 give ~1e-38
// instead of a denormal or 0. In double, std::exp (the exactness tests run in double).
static inline float decay_exp(float x) {
  x = std::fmax(x, -87.0f);
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

static inline double decay_exp(double x) { return std::exp(x); }

template <typename T>
static void forward_rows(const T* u, const T* d, const T* A, const T* B, const T* C, T* y, T* hs,
                         int64_t L, int64_t b, int64_t E, int64_t N, int64_t j0, int64_t j1) {
  // hs == nullptr (inference): only the running state, in two alternating buffers
  std::vector<T> du(E), acc(E), ring(hs ? 0 : 2 * N * E);
  for (int64_t j = j0; j < j1; ++j) {
    for (int64_t t = 0; t < L; ++t) {
      const int64_t row = j * L + t;
      const T* ut = u + row * E;
      const T* dt = d + row * E;
      const T* Bt = B + row * N;
      const T* Ct = C + row * N;
      T* h = hs ? hs + row * N * E : ring.data() + (t % 2) * N * E;
      const T* hp = !t ? nullptr : hs ? hs + (row - 1) * N * E
                                      : ring.data() + ((t - 1) % 2) * N * E;
#pragma omp simd
      for (int64_t e = 0; e < E; ++e) {
        du[e] = dt[e] * ut[e];
        acc[e] = T(0);
      }
      for (int64_t n = 0; n < N; ++n) {
        const T* An = A + n * E;
        T* hn = h + n * E;
        const T bn = Bt[n], cn = Ct[n];
        if (hp) {
          const T* hpn = hp + n * E;
#pragma omp simd
          for (int64_t e = 0; e < E; ++e) {
            const T v = decay_exp(dt[e] * An[e]) * hpn[e] + bn * du[e];
            hn[e] = v;
            acc[e] += cn * v;
          }
        } else {
#pragma omp simd
          for (int64_t e = 0; e < E; ++e) {
            const T v = bn * du[e];
            hn[e] = v;
            acc[e] += cn * v;
          }
        }
      }
      T* yt = y + row * E;
#pragma omp simd
      for (int64_t e = 0; e < E; ++e) yt[e] = acc[e];
    }
  }
}

template <typename T>
static void backward_rows(const T* gy, const T* u, const T* d, const T* A, const T* B, const T* C,
                          const T* hs, T* gu, T* gd, T* gA_rows, T* gB, T* gC, int64_t L,
                          int64_t b, int64_t E, int64_t N, int64_t j0, int64_t j1) {
  std::vector<T> lam(N * E), du(E), gdu(E), gdA(E);
  for (int64_t j = j0; j < j1; ++j) {
    std::fill(lam.begin(), lam.end(), T(0));
    T* gA = gA_rows + j * N * E;  // this row's share of dL/dA, summed over rows afterwards
    std::fill(gA, gA + N * E, T(0));
    for (int64_t t = L - 1; t >= 0; --t) {
      const int64_t row = j * L + t;
      const T* gyt = gy + row * E;
      const T* ut = u + row * E;
      const T* dt = d + row * E;
      const T* Bt = B + row * N;
      const T* Ct = C + row * N;
      const T* h = hs + row * N * E;
      const T* hp = t ? hs + (row - 1) * N * E : nullptr;
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
        T sC = T(0), sB = T(0);
        if (hp) {  // one pass: y[t] = C[t] . h[t], h[t] = dA[t] h[t-1] + B[t] du[t], and
                   // dA[t] = exp(d[t] A): dL/d(d[t] A) = lam h[t-1] dA[t]
          const T* An = A + n * E;
          const T* hpn = hp + n * E;
          T* gAn = gA + n * E;
#pragma omp simd reduction(+ : sC, sB)
          for (int64_t e = 0; e < E; ++e) {
            const T l = ln[e] + cn * gyt[e];
            sC += hn[e] * gyt[e];
            gdu[e] += bn * l;
            sB += l * du[e];
            const T a = decay_exp(dt[e] * An[e]);
            const T z = l * hpn[e] * a;
            gdA[e] += z * An[e];
            gAn[e] += z * dt[e];
            ln[e] = l * a;
          }
        } else {  // t = 0: no earlier state
#pragma omp simd reduction(+ : sC, sB)
          for (int64_t e = 0; e < E; ++e) {
            const T l = ln[e] + cn * gyt[e];
            sC += hn[e] * gyt[e];
            gdu[e] += bn * l;
            sB += l * du[e];
            ln[e] = l;
          }
        }
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

// keep_states: also return every state hs (b, L, N, E), which the backward needs; without,
// hs is an empty tensor and only the running state is kept.
std::vector<torch::Tensor> scan_forward(torch::Tensor u, torch::Tensor d, torch::Tensor At,
                                        torch::Tensor B, torch::Tensor C, bool keep_states) {
  const int64_t b = u.size(0), L = u.size(1), E = u.size(2), N = At.size(0);
  auto y = torch::empty({b, L, E}, u.options());
  auto hs = keep_states ? torch::empty({b, L, N, E}, u.options()) : torch::empty({0}, u.options());
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
