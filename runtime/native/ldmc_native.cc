// ldmc's optional native kernels: oneDNN convolutions and matrix products, plus a GroupNorm,
// for the tensors of the tfjs wasm backend. They work in place on the wasm heap (a typed-array
// view of it is passed in, so nothing is copied) and are registered as that backend's kernels by
// runtime/perf/native-kernels.ts when this addon loads. On CPUs with AVX2/AVX-512, oneDNN's JIT
// convolutions run several times faster than the 128-bit SIMD that wasm can express.
//
// Built by scripts/build-native.mjs with g++ against Node-API (no node-gyp, no node headers beyond
// node_api.h) and libdnnl; the runtime runs without it.
#include <node_api.h>
#include <dnnl.hpp>
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::engine& eng() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& strm() {
  static dnnl::stream s(eng());
  return s;
}

// ------------------------------------------------------------------ Node-API helpers

struct JsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(napi_env env, napi_status s, const char* what) {
  if (s != napi_ok) throw JsError(std::string("ldmc-native: ") + what);
}

std::vector<napi_value> args(napi_env env, napi_callback_info info, size_t n) {
  std::vector<napi_value> v(n);
  size_t argc = n;
  check(env, napi_get_cb_info(env, info, &argc, v.data(), nullptr, nullptr), "arguments");
  if (argc < n) throw JsError("ldmc-native: expected " + std::to_string(n) + " arguments, got " + std::to_string(argc));
  return v;
}

float* f32(napi_env env, napi_value v, size_t* len = nullptr) {
  bool is = false;
  check(env, napi_is_typedarray(env, v, &is), "typed array");
  if (!is) throw JsError("ldmc-native: expected a Float32Array");
  napi_typedarray_type t;
  size_t n = 0;
  void* data = nullptr;
  check(env, napi_get_typedarray_info(env, v, &t, &n, &data, nullptr, nullptr), "typed array info");
  if (t != napi_float32_array) throw JsError("ldmc-native: expected a Float32Array");
  if (len) *len = n;
  return static_cast<float*>(data);
}

bool isNull(napi_env env, napi_value v) {
  napi_valuetype t;
  check(env, napi_typeof(env, v, &t), "typeof");
  return t == napi_null || t == napi_undefined;
}

int64_t i64(napi_env env, napi_value v) {
  int64_t r = 0;
  check(env, napi_get_value_int64(env, v, &r), "integer");
  return r;
}

double f64(napi_env env, napi_value v) {
  double r = 0;
  check(env, napi_get_value_double(env, v, &r), "number");
  return r;
}

bool boolean(napi_env env, napi_value v) {
  bool r = false;
  check(env, napi_get_value_bool(env, v, &r), "boolean");
  return r;
}

std::vector<int64_t> ints(napi_env env, napi_value v, size_t n) {
  uint32_t len = 0;
  check(env, napi_get_array_length(env, v, &len), "array");
  if (len != n) throw JsError("ldmc-native: expected an array of " + std::to_string(n) + " integers");
  std::vector<int64_t> r(n);
  for (uint32_t i = 0; i < len; i++) {
    napi_value e;
    check(env, napi_get_element(env, v, i, &e), "array element");
    r[i] = i64(env, e);
  }
  return r;
}

/** Wraps a kernel body so that C++ exceptions (ours or oneDNN's) become JS errors. */
template <typename F>
napi_value guarded(napi_env env, F&& body) {
  try {
    body();
  } catch (const dnnl::error& e) {
    napi_throw_error(env, "LDMC_NATIVE", (std::string("oneDNN: ") + e.what()).c_str());
  } catch (const std::exception& e) {
    napi_throw_error(env, "LDMC_NATIVE", e.what());
  }
  return nullptr;
}

// ------------------------------------------------------------------ convolution

/** One conv geometry, in tfjs terms: NHWC activations, HWIO filters. */
struct ConvGeom {
  int64_t B, H, W, C;      // input
  int64_t KH, KW, O;       // filter [KH, KW, C, O]
  int64_t Ho, Wo;          // output [B, Ho, Wo, O]
  int64_t sh, sw, dh, dw;  // strides, dilations (1 = none)
  int64_t pt, pb, pl, pr;  // explicit padding

  std::string key(const char* op) const {
    std::string k(op);
    for (int64_t v : {B, H, W, C, KH, KW, O, Ho, Wo, sh, sw, dh, dw, pt, pb, pl, pr}) k += ':' + std::to_string(v);
    return k;
  }
  memory::desc src() const { return memory::desc({B, C, H, W}, dt::f32, tag::nhwc); }
  memory::desc dst() const { return memory::desc({B, O, Ho, Wo}, dt::f32, tag::nhwc); }
  memory::desc weiUser() const { return memory::desc({O, C, KH, KW}, dt::f32, tag::hwio); }
  memory::desc weiAny() const { return memory::desc({O, C, KH, KW}, dt::f32, tag::any); }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims dil() const { return {dh - 1, dw - 1}; }  // oneDNN counts dilation from 0
  memory::dims padL() const { return {pt, pl}; }
  memory::dims padR() const { return {pb, pr}; }

  dnnl::convolution_forward::primitive_desc fwdPd() const {
    auto d = dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                             src(), weiAny(), dst(), strides(), dil(), padL(), padR());
    return dnnl::convolution_forward::primitive_desc(d, eng());
  }
};

ConvGeom convGeom(napi_env env, napi_value xDims, napi_value wDims, napi_value yDims, napi_value strides,
                  napi_value dil, napi_value pads) {
  auto x = ints(env, xDims, 4), w = ints(env, wDims, 4), y = ints(env, yDims, 4);
  auto s = ints(env, strides, 2), d = ints(env, dil, 2), p = ints(env, pads, 4);
  if (w[2] != x[3] || y[3] != w[3] || y[0] != x[0]) throw JsError("ldmc-native: conv2d shapes do not agree");
  return ConvGeom{x[0], x[1], x[2], x[3], w[0], w[1], w[3], y[1], y[2], s[0], s[1], d[0], d[1], p[0], p[1], p[2], p[3]};
}

/** A primitive with the scratch memory for its reordered weights, built once per geometry. */
struct CachedConv {
  dnnl::primitive prim;
  memory wei;                     // weights (or diff weights) in the primitive's own layout
  std::unique_ptr<dnnl::reorder> toPrim;   // user HWIO → wei (forward, backward data)
  std::unique_ptr<dnnl::reorder> fromPrim; // wei → user HWIO (backward weights)
  bool sameLayout = false;        // the primitive takes HWIO as is
};

std::unordered_map<std::string, std::unique_ptr<CachedConv>>& convCache() {
  static std::unordered_map<std::string, std::unique_ptr<CachedConv>> c;
  return c;
}

enum class ConvOp { Forward, BackwardData, BackwardWeights };

CachedConv& cachedConv(const ConvGeom& g, ConvOp op) {
  const char* name = op == ConvOp::Forward ? "fwd" : op == ConvOp::BackwardData ? "bwd_data" : "bwd_weights";
  auto key = g.key(name);
  auto& cache = convCache();
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  auto c = std::make_unique<CachedConv>();
  auto fwd = g.fwdPd();
  memory::desc weiDesc;
  if (op == ConvOp::Forward) {
    c->prim = dnnl::convolution_forward(fwd);
    weiDesc = fwd.weights_desc();
  } else if (op == ConvOp::BackwardData) {
    auto d = dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, g.src(), g.weiAny(), g.dst(),
                                                   g.strides(), g.dil(), g.padL(), g.padR());
    dnnl::convolution_backward_data::primitive_desc pd(d, eng(), fwd);
    c->prim = dnnl::convolution_backward_data(pd);
    weiDesc = pd.weights_desc();
  } else {
    auto d = dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, g.src(), g.weiAny(), g.dst(),
                                                      g.strides(), g.dil(), g.padL(), g.padR());
    dnnl::convolution_backward_weights::primitive_desc pd(d, eng(), fwd);
    c->prim = dnnl::convolution_backward_weights(pd);
    weiDesc = pd.diff_weights_desc();
  }
  c->sameLayout = weiDesc == g.weiUser();
  if (!c->sameLayout) {
    c->wei = memory(weiDesc, eng());
    if (op == ConvOp::BackwardWeights)
      c->fromPrim = std::make_unique<dnnl::reorder>(dnnl::reorder::primitive_desc(eng(), weiDesc, eng(), g.weiUser()));
    else
      c->toPrim = std::make_unique<dnnl::reorder>(dnnl::reorder::primitive_desc(eng(), g.weiUser(), eng(), weiDesc));
  }
  auto& ref = *c;
  cache.emplace(key, std::move(c));
  return ref;
}

/** conv2d(x, xDims, w, wDims, y, yDims, strides, dilations, pads[t,b,l,r]): y = x ⋆ w. */
napi_value Conv2d(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 9);
    auto g = convGeom(env, a[1], a[3], a[5], a[6], a[7], a[8]);
    float *x = f32(env, a[0]), *w = f32(env, a[2]), *y = f32(env, a[4]);
    auto& c = cachedConv(g, ConvOp::Forward);
    memory xm(g.src(), eng(), x), wm(g.weiUser(), eng(), w), ym(g.dst(), eng(), y);
    if (!c.sameLayout) c.toPrim->execute(strm(), wm, c.wei);
    c.prim.execute(strm(), {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, c.sameLayout ? wm : c.wei}, {DNNL_ARG_DST, ym}});
    strm().wait();
  });
}

/** conv2dBackpropInput(dy, dyDims, w, wDims, dx, dxDims, strides, dilations, pads): dx = ∂(x ⋆ w)/∂x · dy. */
napi_value Conv2dBackpropInput(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 9);
    auto g = convGeom(env, a[5], a[3], a[1], a[6], a[7], a[8]);
    float *dy = f32(env, a[0]), *w = f32(env, a[2]), *dx = f32(env, a[4]);
    auto& c = cachedConv(g, ConvOp::BackwardData);
    memory dym(g.dst(), eng(), dy), wm(g.weiUser(), eng(), w), dxm(g.src(), eng(), dx);
    if (!c.sameLayout) c.toPrim->execute(strm(), wm, c.wei);
    c.prim.execute(strm(), {{DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_WEIGHTS, c.sameLayout ? wm : c.wei}, {DNNL_ARG_DIFF_SRC, dxm}});
    strm().wait();
  });
}

/** conv2dBackpropFilter(x, xDims, dy, dyDims, dw, wDims, strides, dilations, pads): dw = ∂(x ⋆ w)/∂w · dy. */
napi_value Conv2dBackpropFilter(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 9);
    auto g = convGeom(env, a[1], a[5], a[3], a[6], a[7], a[8]);
    float *x = f32(env, a[0]), *dy = f32(env, a[2]), *dw = f32(env, a[4]);
    auto& c = cachedConv(g, ConvOp::BackwardWeights);
    memory xm(g.src(), eng(), x), dym(g.dst(), eng(), dy), dwm(g.weiUser(), eng(), dw);
    c.prim.execute(strm(), {{DNNL_ARG_SRC, xm}, {DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_DIFF_WEIGHTS, c.sameLayout ? dwm : c.wei}});
    if (!c.sameLayout) c.fromPrim->execute(strm(), c.wei, dwm);
    strm().wait();
  });
}


// ------------------------------------------------------------------ matrix product

struct CachedMatmul {
  dnnl::matmul prim;
  memory::desc a, b, c;
};

/**
 * matmul(a, b, c, batchA, batchB, m, k, n, transA, transB): c[i] = op(a[i or 0]) · op(b[i or 0]),
 * a batch of 1 broadcasting against the other; op transposes the last two axes when asked.
 */
napi_value Matmul(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto v = args(env, info, 10);
    float *a = f32(env, v[0]), *b = f32(env, v[1]), *c = f32(env, v[2]);
    int64_t ba = i64(env, v[3]), bb = i64(env, v[4]), m = i64(env, v[5]), k = i64(env, v[6]), n = i64(env, v[7]);
    bool ta = boolean(env, v[8]), tb = boolean(env, v[9]);
    if (ba != bb && ba != 1 && bb != 1) throw JsError("ldmc-native: matmul batch sizes do not broadcast");
    int64_t bc = ba > bb ? ba : bb;
    std::string key = "mm";
    for (int64_t x : {ba, bb, m, k, n, int64_t(ta), int64_t(tb)}) key += ':' + std::to_string(x);
    static std::unordered_map<std::string, std::unique_ptr<CachedMatmul>> cache;
    auto it = cache.find(key);
    if (it == cache.end()) {
      auto e = std::make_unique<CachedMatmul>();
      e->a = memory::desc({ba, m, k}, dt::f32, ta ? memory::dims{m * k, 1, m} : memory::dims{m * k, k, 1});
      e->b = memory::desc({bb, k, n}, dt::f32, tb ? memory::dims{k * n, 1, k} : memory::dims{k * n, n, 1});
      e->c = memory::desc({bc, m, n}, dt::f32, memory::dims{m * n, n, 1});
      dnnl::matmul::desc d(e->a, e->b, e->c);
      e->prim = dnnl::matmul(dnnl::matmul::primitive_desc(d, eng()));
      it = cache.emplace(key, std::move(e)).first;
    }
    auto& e = *it->second;
    memory am(e.a, eng(), a), bm(e.b, eng(), b), cm(e.c, eng(), c);
    e.prim.execute(strm(), {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
    strm().wait();
  });
}

// ------------------------------------------------------------------ elementwise helpers

/**
 * e^x in float without a libm call, so loops over it vectorise (glibc's vector expf is only
 * declared under -ffast-math, and a scalar std::exp per element cost SiLU about 5 ns an element,
 * more than the GroupNorm it follows). Cephes' expf: x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in
 * two for the reduction), e^r by its polynomial, 2^n written into the exponent bits. n is rounded
 * by adding 1.5·2^23 (it lands in the low mantissa bits), not by a float→int conversion, which GCC
 * does not vectorise without -fno-trapping-math. Relative error below 1e-7 on [-87, 88]; clamped
 * there (e^-87.3 is about the smallest normal, e^88.3 stays finite).
 */
inline float expVec(float x) {
  x = std::min(std::max(x, -87.3f), 88.3f);
  const float k = x * 1.44269504088896341f + 12582912.0f;
  const float n = k - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  int32_t kb;
  std::memcpy(&kb, &k, sizeof kb);
  const int32_t bits = (kb - 0x4B400000 + 127) << 23;  // 0x4B400000: the bits of 1.5·2^23
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

inline float siluOf(float x) { return x / (1.0f + expVec(-x)); }

/** d silu(x)/dx = σ(x)·(1 + x·(1 − σ(x))). */
inline float siluSlope(float x) {
  const float s = 1.0f / (1.0f + expVec(-x));
  return s * (1.0f + x * (1.0f - s));
}

inline float geluOf(float x) { return 0.5f * x * (1.0f + std::erf(x * float(M_SQRT1_2))); }

/** d gelu(x)/dx = Φ(x) + x·φ(x). */
inline float geluSlope(float x) {
  const float cdf = 0.5f * (1.0f + std::erf(x * float(M_SQRT1_2)));
  return cdf + x * 0.3989422804014327f * std::exp(-0.5f * x * x);
}

/** (x, y): y = f(x) elementwise. */
template <typename F>
napi_value mapUnary(napi_env env, napi_callback_info info, F f) {
  return guarded(env, [&] {
    auto a = args(env, info, 2);
    size_t n = 0, ny = 0;
    const float* x = f32(env, a[0], &n);
    float* y = f32(env, a[1], &ny);
    if (n != ny) throw JsError("ldmc-native: elementwise op sizes differ");
#pragma omp parallel for simd schedule(static) if (n > 16384)
    for (size_t i = 0; i < n; i++) y[i] = f(x[i]);
  });
}

/** (dy, x, dx): dx = dy·f'(x) elementwise, with `slope` = f'. */
template <typename F>
napi_value mapUnaryGrad(napi_env env, napi_callback_info info, F slope) {
  return guarded(env, [&] {
    auto a = args(env, info, 3);
    size_t n = 0;
    const float *dy = f32(env, a[0], &n), *x = f32(env, a[1]);
    float* dx = f32(env, a[2]);
#pragma omp parallel for simd schedule(static) if (n > 16384)
    for (size_t i = 0; i < n; i++) dx[i] = dy[i] * slope(x[i]);
  });
}

// ------------------------------------------------------------------ GroupNorm (channels last)

/**
 * groupNormForward(x, B, S, C, G, eps, gamma|null, beta|null, y, mean, rstd, silu): y = (x − μ)·r·γ + β
 * (then y·σ(y) with `silu`) over x viewed as [B, S, C] with C split into G groups; μ and
 * r = (σ² + eps)^-½ per (b, g) are written out for the backward. Statistics are two-pass, with
 * double sums kept per channel and combined per group afterwards. Each thread takes whole batch
 * items and walks them in memory order.
 */
napi_value GroupNormForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 12);
    const float* x = f32(env, a[0]);
    const int64_t B = i64(env, a[1]), S = i64(env, a[2]), C = i64(env, a[3]), G = i64(env, a[4]);
    const double eps = f64(env, a[5]);
    const float* gamma = isNull(env, a[6]) ? nullptr : f32(env, a[6]);
    const float* beta = isNull(env, a[7]) ? nullptr : f32(env, a[7]);
    float *y = f32(env, a[8]), *mean = f32(env, a[9]), *rstd = f32(env, a[10]);
    const bool silu = boolean(env, a[11]);
    const int64_t Cg = C / G;
    const double n = double(S * Cg);
#pragma omp parallel
    {
      // Scratch per thread, reused across its batch items (a LayerNorm has thousands of one-row
      // items). Sums are kept per channel, in memory order (vectorised across channels), and only
      // then combined into groups: a loop per group ran one element at a time for narrow groups.
      std::vector<double> acc(C);
      std::vector<float> m(C), r(C);  // per channel: its group's μ and r
#pragma omp for schedule(static)
      for (int64_t b = 0; b < B; b++) {
        const float* xb = x + b * S * C;
        float* yb = y + b * S * C;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t i = 0; i < S; i++) {
          const float* xr = xb + i * C;
          for (int64_t c = 0; c < C; c++) acc[c] += xr[c];
        }
        for (int64_t g = 0; g < G; g++) {
          double t = 0;
          for (int64_t j = 0; j < Cg; j++) t += acc[g * Cg + j];
          mean[b * G + g] = float(t / n);
          for (int64_t j = 0; j < Cg; j++) m[g * Cg + j] = mean[b * G + g];
        }
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t i = 0; i < S; i++) {
          const float* xr = xb + i * C;
          for (int64_t c = 0; c < C; c++) {
            const float d = xr[c] - m[c];
            acc[c] += double(d) * d;
          }
        }
        for (int64_t g = 0; g < G; g++) {
          double t = 0;
          for (int64_t j = 0; j < Cg; j++) t += acc[g * Cg + j];
          rstd[b * G + g] = float(1.0 / std::sqrt(t / n + eps));
          for (int64_t j = 0; j < Cg; j++) r[g * Cg + j] = rstd[b * G + g];
        }
        for (int64_t i = 0; i < S; i++) {
          const float* xr = xb + i * C;
          float* yr = yb + i * C;
          if (gamma) {
            for (int64_t c = 0; c < C; c++) yr[c] = (xr[c] - m[c]) * r[c] * gamma[c] + beta[c];
          } else {
            for (int64_t c = 0; c < C; c++) yr[c] = (xr[c] - m[c]) * r[c];
          }
          if (silu) {
#pragma omp simd
            for (int64_t c = 0; c < C; c++) yr[c] = siluOf(yr[c]);
          }
        }
      }
    }
  });
}

/**
 * groupNormBackward(dy, x, mean, rstd, B, S, C, G, gamma|null, dx, dgamma|null, dbeta|null):
 *   x̂ = (x − μ)·r, g = dy·γ, dx = r·(g − mean_grp(g) − x̂·mean_grp(g·x̂)), dγ = Σ dy·x̂, dβ = Σ dy.
 */
napi_value GroupNormBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 14);
    const float *dyIn = f32(env, a[0]), *x = f32(env, a[1]), *mean = f32(env, a[2]), *rstd = f32(env, a[3]);
    const int64_t B = i64(env, a[4]), S = i64(env, a[5]), C = i64(env, a[6]), G = i64(env, a[7]);
    const float* gamma = isNull(env, a[8]) ? nullptr : f32(env, a[8]);
    const float* beta = isNull(env, a[9]) ? nullptr : f32(env, a[9]);
    float* dx = f32(env, a[10]);
    float* dgamma = isNull(env, a[11]) ? nullptr : f32(env, a[11]);
    float* dbeta = isNull(env, a[12]) ? nullptr : f32(env, a[12]);
    const bool silu = boolean(env, a[13]);
    // With SiLU after the norm, the norm's output gradient is dy·silu'(h), h = x̂·γ + β recomputed
    // from x (one more pass, written into dx, which the passes below then read as their dy).
    if (silu) {
#pragma omp parallel
      {
        // h = x̂·γ + β as an affine map per channel (scale a, shift s), so the row loop is one
        // multiply-add and the slope: it vectorises (no group index per element).
        std::vector<float> sa(C), sh(C);
#pragma omp for schedule(static)
        for (int64_t b = 0; b < B; b++) {
          const int64_t off = b * S * C;
          for (int64_t c = 0; c < C; c++) {
            const int64_t bg = b * G + c / (C / G);
            const float gm = gamma ? gamma[c] : 1.0f, bt = gamma ? beta[c] : 0.0f;
            sa[c] = rstd[bg] * gm;
            sh[c] = bt - mean[bg] * rstd[bg] * gm;
          }
          const float *pa = sa.data(), *ps = sh.data();
          for (int64_t i = 0; i < S; i++) {
            const float *xr = x + off + i * C, *dyr = dyIn + off + i * C;
            float* o = dx + off + i * C;
#pragma omp simd
            for (int64_t c = 0; c < C; c++) o[c] = dyr[c] * siluSlope(xr[c] * pa[c] + ps[c]);
          }
        }
      }
    }
    const float* dy = silu ? dx : dyIn;
    const int64_t Cg = C / G;
    const double n = double(S * Cg);
    std::vector<double> sumG(C, 0.0), sumB(C, 0.0);
#pragma omp parallel
    {
      // Per-thread scratch, and per-thread partial sums of dγ and dβ, merged once at the end.
      std::vector<float> m(C), r(C), gm(C), m1(C), m2(C);
      std::vector<double> s1(C), s2(C), pg(C, 0.0), pb(C, 0.0);  // per channel, combined into groups below
#pragma omp for schedule(static)
      for (int64_t b = 0; b < B; b++) {
        const int64_t off = b * S * C;
        for (int64_t c = 0; c < C; c++) {
          m[c] = mean[b * G + c / Cg];
          r[c] = rstd[b * G + c / Cg];
          gm[c] = gamma ? gamma[c] : 1.0f;
        }
        std::fill(s1.begin(), s1.end(), 0.0);
        std::fill(s2.begin(), s2.end(), 0.0);
        for (int64_t i = 0; i < S; i++) {
          const float *dyr = dy + off + i * C, *xr = x + off + i * C;
          for (int64_t c = 0; c < C; c++) {
            const float xh = (xr[c] - m[c]) * r[c];
            const float gv = dyr[c] * gm[c];
            s1[c] += gv;
            s2[c] += double(gv) * xh;
            pg[c] += double(dyr[c]) * xh;
            pb[c] += dyr[c];
          }
        }
        for (int64_t g = 0; g < G; g++) {
          double t1 = 0, t2 = 0;
          for (int64_t j = 0; j < Cg; j++) {
            t1 += s1[g * Cg + j];
            t2 += s2[g * Cg + j];
          }
          for (int64_t j = 0; j < Cg; j++) {
            m1[g * Cg + j] = float(t1 / n);
            m2[g * Cg + j] = float(t2 / n);
          }
        }
        for (int64_t i = 0; i < S; i++) {
          const float *dyr = dy + off + i * C, *xr = x + off + i * C;
          float* dxr = dx + off + i * C;
          for (int64_t c = 0; c < C; c++) {
            const float xh = (xr[c] - m[c]) * r[c];
            dxr[c] = r[c] * (dyr[c] * gm[c] - m1[c] - xh * m2[c]);
          }
        }
      }
#pragma omp critical
      for (int64_t c = 0; c < C; c++) {
        sumG[c] += pg[c];
        sumB[c] += pb[c];
      }
    }
    for (int64_t c = 0; c < C; c++) {
      if (dgamma) dgamma[c] = float(sumG[c]);
      if (dbeta) dbeta[c] = float(sumB[c]);
    }
  });
}

// ------------------------------------------------------------------ SiLU, GELU

/** silu(x, y): y = x·σ(x). */
napi_value Silu(napi_env env, napi_callback_info info) { return mapUnary(env, info, [](float x) { return siluOf(x); }); }

/** siluGrad(dy, x, dx): dx = dy·σ(x)·(1 + x·(1 − σ(x))). */
napi_value SiluGrad(napi_env env, napi_callback_info info) { return mapUnaryGrad(env, info, [](float x) { return siluSlope(x); }); }

/** gelu(x, y): y = x·Φ(x) = ½x(1 + erf(x/√2)), torch's exact GELU. */
napi_value Gelu(napi_env env, napi_callback_info info) { return mapUnary(env, info, [](float x) { return geluOf(x); }); }

/** geluGrad(dy, x, dx): dx = dy·(Φ(x) + x·φ(x)). */
napi_value GeluGrad(napi_env env, napi_callback_info info) { return mapUnaryGrad(env, info, [](float x) { return geluSlope(x); }); }

// ------------------------------------------------------------------ reductions, optimizer

/** sumLeading(x, rows, cols, out): out[c] = Σ_r x[r·cols + c] (a reduction over the leading axes). */
napi_value SumLeading(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 4);
    const float* x = f32(env, a[0]);
    const int64_t rows = i64(env, a[1]), cols = i64(env, a[2]);
    float* out = f32(env, a[3]);
    std::vector<double> total(cols, 0.0);
#pragma omp parallel
    {
      std::vector<double> part(cols, 0.0);
#pragma omp for schedule(static) nowait
      for (int64_t r = 0; r < rows; r++) {
        const float* row = x + r * cols;
        for (int64_t c = 0; c < cols; c++) part[c] += row[c];
      }
#pragma omp critical
      for (int64_t c = 0; c < cols; c++) total[c] += part[c];
    }
    for (int64_t c = 0; c < cols; c++) out[c] = float(total[c]);
  });
}

/**
 * adamStep(p, m, v, g, pOut, mOut, vOut, lr, beta1, beta2, eps, weightDecay, bc1, bc2): one
 * torch.optim.AdamW update in a single pass (weightDecay 0 is Adam):
 *   p ← p·(1 − lr·wd);  m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²;  p ← p − (lr/bc₁)·m/(√v/√bc₂ + eps)
 */
napi_value AdamStep(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 14);
    size_t n = 0;
    const float *p = f32(env, a[0], &n), *m = f32(env, a[1]), *v = f32(env, a[2]), *g = f32(env, a[3]);
    float *po = f32(env, a[4]), *mo = f32(env, a[5]), *vo = f32(env, a[6]);
    const double lr = f64(env, a[7]), b1 = f64(env, a[8]), b2 = f64(env, a[9]), eps = f64(env, a[10]), wd = f64(env, a[11]);
    const double bc1 = f64(env, a[12]), bc2 = f64(env, a[13]);
    const float decay = float(1 - lr * wd), fb1 = float(b1), fb1c = float(1 - b1), fb2 = float(b2), fb2c = float(1 - b2);
    const float sbc2 = float(std::sqrt(bc2)), feps = float(eps), step = float(lr / bc1);
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
      const float pi = wd != 0 ? p[i] * decay : p[i];
      const float mi = m[i] * fb1 + g[i] * fb1c;
      const float vi = v[i] * fb2 + g[i] * g[i] * fb2c;
      mo[i] = mi;
      vo[i] = vi;
      po[i] = pi - (mi / (std::sqrt(vi) / sbc2 + feps)) * step;
    }
  });
}

// ------------------------------------------------------------------ broadcast add / multiply

/**
 * rowOp(x, v, out, rows, cols, op): out[r, c] = x[r, c] ∘ v[c], ∘ = + (op 0) or · (op 1). With
 * rows = 1 it is the elementwise op of two equal shapes, threaded across the columns.
 */
napi_value RowOp(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 6);
    const float *x = f32(env, a[0]), *v = f32(env, a[1]);
    float* out = f32(env, a[2]);
    const int64_t rows = i64(env, a[3]), cols = i64(env, a[4]), op = i64(env, a[5]);
    auto row = [&](const float* xr, const float* vr, float* o, int64_t len) {
      if (op == 0) {
        for (int64_t c = 0; c < len; c++) o[c] = xr[c] + vr[c];
      } else {
        for (int64_t c = 0; c < len; c++) o[c] = xr[c] * vr[c];
      }
    };
    if (rows == 1) {
      // One long row: split it into chunks across the threads.
      const int64_t chunk = 16384;
#pragma omp parallel for schedule(static) if (cols > 65536)
      for (int64_t c0 = 0; c0 < cols; c0 += chunk) row(x + c0, v + c0, out + c0, std::min(chunk, cols - c0));
      return;
    }
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
    for (int64_t r = 0; r < rows; r++) row(x + r * cols, v, out + r * cols, cols);
  });
}

// ------------------------------------------------------------------ copies (concat, split)

/**
 * copyRows(src, dst, outer, srcRow, srcOff, dstRow, dstOff, len): for o < outer, copies len floats
 * from src[o·srcRow + srcOff] to dst[o·dstRow + dstOff]; a concat or split along an inner axis.
 */
napi_value CopyRows(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 8);
    const float* src = f32(env, a[0]);
    float* dst = f32(env, a[1]);
    const int64_t outer = i64(env, a[2]), srcRow = i64(env, a[3]), srcOff = i64(env, a[4]);
    const int64_t dstRow = i64(env, a[5]), dstOff = i64(env, a[6]), len = i64(env, a[7]);
#pragma omp parallel for schedule(static) if (outer * len > 262144)
    for (int64_t o = 0; o < outer; o++) std::memcpy(dst + o * dstRow + dstOff, src + o * srcRow + srcOff, len * sizeof(float));
  });
}

/** emaStep(shadow, param, out, oneMinusDecay): out = shadow − (1 − decay)·(shadow − param), LitEma's update. */
napi_value EmaStep(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 4);
    size_t n = 0;
    const float *s = f32(env, a[0], &n), *p = f32(env, a[1]);
    float* out = f32(env, a[2]);
    const float k = float(f64(env, a[3]));
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) out[i] = s[i] - k * (s[i] - p[i]);
  });
}

// ================================================================== cpu backend (branch cpunative)
// General kernels for the tfjs cpu backend, whose tensors are plain JS typed arrays (no 4 GiB
// cap): there every op that tfjs would run in a JavaScript loop has to be native. These also work
// on wasm-heap views. Shapes and strides come as JS arrays of any length.

std::vector<int64_t> intList(napi_env env, napi_value v) {
  uint32_t len = 0;
  check(env, napi_get_array_length(env, v, &len), "array");
  std::vector<int64_t> r(len);
  for (uint32_t i = 0; i < len; i++) {
    napi_value e;
    check(env, napi_get_element(env, v, i, &e), "array element");
    r[i] = i64(env, e);
  }
  return r;
}

int32_t* i32(napi_env env, napi_value v) {
  bool is = false;
  check(env, napi_is_typedarray(env, v, &is), "typed array");
  napi_typedarray_type t;
  size_t n = 0;
  void* data = nullptr;
  if (is) check(env, napi_get_typedarray_info(env, v, &t, &n, &data, nullptr, nullptr), "typed array info");
  if (!is || t != napi_int32_array) throw JsError("ldmc-native: expected an Int32Array");
  return static_cast<int32_t*>(data);
}

int threadCount() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

enum BinOp { kAdd = 0, kSub, kMul, kDiv, kSqDiff, kMax, kMin, kBinOps };

template <int OP>
inline float binOf(float x, float y) {
  if constexpr (OP == kAdd) return x + y;
  else if constexpr (OP == kSub) return x - y;
  else if constexpr (OP == kMul) return x * y;
  else if constexpr (OP == kDiv) return x / y;
  else if constexpr (OP == kSqDiff) return (x - y) * (x - y);
  else if constexpr (OP == kMax) return x > y || std::isnan(x) ? x : y;
  else return x < y || std::isnan(x) ? x : y;
}

/** One run of n outputs, a and b read with element strides sa, sb (0 = broadcast). */
template <int OP>
void binRun(const float* a, int64_t sa, const float* b, int64_t sb, float* o, int64_t n) {
  if (sa == 1 && sb == 1) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) o[i] = binOf<OP>(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float y = b[0];
#pragma omp simd
    for (int64_t i = 0; i < n; i++) o[i] = binOf<OP>(a[i], y);
  } else if (sa == 0 && sb == 1) {
    const float x = a[0];
#pragma omp simd
    for (int64_t i = 0; i < n; i++) o[i] = binOf<OP>(x, b[i]);
  } else {
    for (int64_t i = 0; i < n; i++) o[i] = binOf<OP>(a[i * sa], b[i * sb]);
  }
}

using BinRunFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t);
constexpr BinRunFn kBinRuns[kBinOps] = {binRun<kAdd>, binRun<kSub>, binRun<kMul>, binRun<kDiv>, binRun<kSqDiff>, binRun<kMax>, binRun<kMin>};

/**
 * Collapses a strided loop nest: drops axes of size 1 and merges neighbours that are contiguous in
 * every operand (strides[k][i] == strides[k][i+1]·shape[i+1]). Returns the collapsed shape and
 * fills `out` with each operand's collapsed strides.
 */
std::vector<int64_t> collapse(const std::vector<int64_t>& shape, const std::vector<std::vector<int64_t>>& strides,
                              std::vector<std::vector<int64_t>>& out) {
  std::vector<int64_t> d;
  out.assign(strides.size(), {});
  for (size_t i = 0; i < shape.size(); i++) {
    if (shape[i] == 1) continue;
    bool merge = !d.empty();
    for (size_t k = 0; merge && k < strides.size(); k++) merge = out[k].back() == strides[k][i] * shape[i];
    if (merge) {
      d.back() *= shape[i];
      for (size_t k = 0; k < strides.size(); k++) out[k].back() = strides[k][i];
    } else {
      d.push_back(shape[i]);
      for (size_t k = 0; k < strides.size(); k++) out[k].push_back(strides[k][i]);
    }
  }
  if (d.empty()) {
    d.push_back(1);
    for (auto& s : out) s.push_back(1);
  }
  return d;
}

/**
 * binary(a, b, out, outShape, aStrides, bStrides, op): out = a ∘ b with numpy broadcasting, given
 * as element strides per output axis (0 where an operand is broadcast). out may alias a or b when
 * that operand is not broadcast. ∘: 0 +, 1 −, 2 ·, 3 ÷, 4 (a − b)², 5 max, 6 min.
 */
napi_value Binary(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto v = args(env, info, 7);
    const float *a = f32(env, v[0]), *b = f32(env, v[1]);
    float* o = f32(env, v[2]);
    auto shape = intList(env, v[3]), sa = intList(env, v[4]), sb = intList(env, v[5]);
    const int64_t op = i64(env, v[6]);
    if (op < 0 || op >= kBinOps) throw JsError("ldmc-native: unknown binary op");
    if (sa.size() != shape.size() || sb.size() != shape.size()) throw JsError("ldmc-native: binary: strides and shape differ in rank");
    std::vector<int64_t> os(shape.size());
    for (int64_t i = int64_t(shape.size()) - 1, s = 1; i >= 0; i--) os[i] = s, s *= shape[i];
    std::vector<std::vector<int64_t>> st;
    auto d = collapse(shape, {os, sa, sb}, st);
    const int64_t r = d.size(), inner = d[r - 1];
    int64_t outer = 1;
    for (int64_t i = 0; i < r - 1; i++) outer *= d[i];
    // Work items: (outer row, chunk of its inner run), so one long run is split across threads too.
    const int64_t chunk = 16384, perRow = (inner + chunk - 1) / chunk, items = outer * perRow;
    const BinRunFn run = kBinRuns[op];
#pragma omp parallel for schedule(static) if (outer * inner > 32768)
    for (int64_t it = 0; it < items; it++) {
      int64_t row = it / perRow, c0 = (it % perRow) * chunk;
      int64_t oa = 0, ob = 0, oo = 0;
      for (int64_t i = r - 2, rest = row; i >= 0; i--) {
        const int64_t k = rest % d[i];
        rest /= d[i];
        oo += k * st[0][i], oa += k * st[1][i], ob += k * st[2][i];
      }
      const int64_t sA = st[1][r - 1], sB = st[2][r - 1];
      run(a + oa + c0 * sA, sA, b + ob + c0 * sB, sB, o + oo + c0, std::min(chunk, inner - c0));
    }
  });
}

enum UnOp { kExp = 0, kLog, kSqrt, kRsqrt, kSquare, kNeg, kAbs, kSigmoid, kTanh, kSign, kReciprocal, kRelu, kLeakyRelu, kScale, kStep, kUnOps };

template <int OP>
inline float unOf(float x, float alpha) {
  if constexpr (OP == kExp) return std::exp(x);
  else if constexpr (OP == kLog) return std::log(x);
  else if constexpr (OP == kSqrt) return std::sqrt(x);
  else if constexpr (OP == kRsqrt) return 1.0f / std::sqrt(x);
  else if constexpr (OP == kSquare) return x * x;
  else if constexpr (OP == kNeg) return -x;
  else if constexpr (OP == kAbs) return std::fabs(x);
  else if constexpr (OP == kSigmoid) return 1.0f / (1.0f + std::exp(-x));
  else if constexpr (OP == kTanh) return std::tanh(x);
  else if constexpr (OP == kSign) return x > 0 ? 1.0f : x < 0 ? -1.0f : x == 0 ? 0.0f : x;
  else if constexpr (OP == kReciprocal) return 1.0f / x;
  else if constexpr (OP == kRelu) return x > 0 ? x : (std::isnan(x) ? x : 0.0f);
  else if constexpr (OP == kLeakyRelu) return x < 0 ? alpha * x : x;
  else if constexpr (OP == kScale) return x * alpha;
  else return std::isnan(x) ? x : x > 0 ? 1.0f : alpha;
}

template <int OP>
void unRun(const float* x, float* y, int64_t n, float alpha) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; i++) y[i] = unOf<OP>(x[i], alpha);
}

using UnRunFn = void (*)(const float*, float*, int64_t, float);
constexpr UnRunFn kUnRuns[kUnOps] = {unRun<kExp>, unRun<kLog>, unRun<kSqrt>, unRun<kRsqrt>, unRun<kSquare>, unRun<kNeg>, unRun<kAbs>,
                                     unRun<kSigmoid>, unRun<kTanh>, unRun<kSign>, unRun<kReciprocal>, unRun<kRelu>, unRun<kLeakyRelu>, unRun<kScale>, unRun<kStep>};

/**
 * unary(x, y, op, alpha): y = f(x) elementwise (y may be x). f: 0 exp, 1 log, 2 sqrt, 3 rsqrt,
 * 4 x², 5 −x, 6 |x|, 7 σ(x), 8 tanh, 9 sign, 10 1/x, 11 relu, 12 leaky relu (slope alpha), 13 alpha·x,
 * 14 step (1 above 0, else alpha; NaN stays).
 */
napi_value Unary(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto v = args(env, info, 4);
    size_t n = 0, ny = 0;
    const float* x = f32(env, v[0], &n);
    float* y = f32(env, v[1], &ny);
    const int64_t op = i64(env, v[2]);
    if (op < 0 || op >= kUnOps) throw JsError("ldmc-native: unknown unary op");
    if (n != ny) throw JsError("ldmc-native: unary: sizes differ");
    kUnRuns[op](x, y, int64_t(n), float(f64(env, v[3])));
  });
}

/**
 * transpose(x, shape, perm, y): y = x with its axes permuted (y's axis j is x's axis perm[j]), for
 * 4-byte elements of any type (float32 or int32 arrays).
 */
napi_value Transpose(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto v = args(env, info, 4);
    bool isF = false;
    napi_typedarray_type tx, ty;
    size_t nx = 0, ny = 0;
    void *px = nullptr, *py = nullptr;
    check(env, napi_is_typedarray(env, v[0], &isF), "typed array");
    if (!isF) throw JsError("ldmc-native: transpose: expected a typed array");
    check(env, napi_get_typedarray_info(env, v[0], &tx, &nx, &px, nullptr, nullptr), "typed array info");
    check(env, napi_get_typedarray_info(env, v[3], &ty, &ny, &py, nullptr, nullptr), "typed array info");
    if ((tx != napi_float32_array && tx != napi_int32_array) || tx != ty || nx != ny) throw JsError("ldmc-native: transpose: expected two 4-byte arrays of one size");
    const uint32_t* x = static_cast<const uint32_t*>(px);
    uint32_t* y = static_cast<uint32_t*>(py);
    auto shape = intList(env, v[1]), perm = intList(env, v[2]);
    const size_t r = shape.size();
    if (perm.size() != r) throw JsError("ldmc-native: transpose: perm and shape differ in rank");
    std::vector<int64_t> xs(r), outShape(r), inStr(r), os(r);
    for (int64_t i = int64_t(r) - 1, s = 1; i >= 0; i--) xs[i] = s, s *= shape[i];
    for (size_t j = 0; j < r; j++) outShape[j] = shape[perm[j]], inStr[j] = xs[perm[j]];
    for (int64_t i = int64_t(r) - 1, s = 1; i >= 0; i--) os[i] = s, s *= outShape[i];
    std::vector<std::vector<int64_t>> st;
    auto d = collapse(outShape, {os, inStr}, st);
    const int64_t rr = d.size(), inner = d[rr - 1], si = st[1][rr - 1];
    int64_t outer = 1;
    for (int64_t i = 0; i < rr - 1; i++) outer *= d[i];
    if (rr >= 2 && si != 1 && st[1][rr - 2] == 1) {
      // The last two output axes are a 2-D transpose of the input's innermost axes: go by tiles so
      // that both sides are read and written a cache line at a time.
      const int64_t R = d[rr - 2], Cn = inner, so = st[0][rr - 2];  // out[.., i, j] = in[.., j·si + i]
      int64_t outer2 = 1;
      for (int64_t i = 0; i < rr - 2; i++) outer2 *= d[i];
      const int64_t T = 32, tilesR = (R + T - 1) / T, tilesC = (Cn + T - 1) / T;
#pragma omp parallel for collapse(2) schedule(static) if (outer2 * R * Cn > 32768)
      for (int64_t o = 0; o < outer2; o++)
        for (int64_t tr = 0; tr < tilesR; tr++) {
          int64_t oo = 0, oi = 0;
          for (int64_t i = rr - 3, rest = o; i >= 0; i--) {
            const int64_t k = rest % d[i];
            rest /= d[i];
            oo += k * st[0][i], oi += k * st[1][i];
          }
          for (int64_t tc = 0; tc < tilesC; tc++)
            for (int64_t i = tr * T; i < std::min(R, tr * T + T); i++)
              for (int64_t j = tc * T; j < std::min(Cn, tc * T + T); j++) y[oo + i * so + j] = x[oi + j * si + i];
        }
      return;
    }
#pragma omp parallel for schedule(static) if (outer * inner > 32768)
    for (int64_t row = 0; row < outer; row++) {
      int64_t oo = 0, oi = 0;
      for (int64_t i = rr - 2, rest = row; i >= 0; i--) {
        const int64_t k = rest % d[i];
        rest /= d[i];
        oo += k * st[0][i], oi += k * st[1][i];
      }
      if (si == 1) std::memcpy(y + oo, x + oi, inner * 4);
      else for (int64_t j = 0; j < inner; j++) y[oo + j] = x[oi + j * si];
    }
  });
}

enum RedOp { kSum = 0, kMean, kMaxR, kMinR };

/**
 * reduce(x, outer, red, inner, out, op): x viewed as [outer, red, inner] reduced over its middle
 * axis into out [outer, inner]; op 0 sum, 1 mean, 2 max, 3 min. Sums accumulate in double.
 */
napi_value Reduce(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto v = args(env, info, 6);
    const float* x = f32(env, v[0]);
    const int64_t outer = i64(env, v[1]), red = i64(env, v[2]), inner = i64(env, v[3]);
    float* out = f32(env, v[4]);
    const int64_t op = i64(env, v[5]);
    const bool isSum = op == kSum || op == kMean;
    const double init = isSum ? 0.0 : op == kMaxR ? -INFINITY : INFINITY;
    const double scale = op == kMean ? 1.0 / double(red) : 1.0;
    auto fold = [op](double acc, float val) -> double {
      if (op == kSum || op == kMean) return acc + val;
      if (std::isnan(val)) return val;
      return op == kMaxR ? (val > acc ? val : acc) : (val < acc ? val : acc);
    };
    const int T = threadCount();
    if (inner == 1 && outer >= T) {
#pragma omp parallel for schedule(static) if (outer * red > 32768)
      for (int64_t o = 0; o < outer; o++) {
        const float* row = x + o * red;
        double acc = init;
        if (isSum) {
          for (int64_t i = 0; i < red; i++) acc += row[i];
        } else {
          for (int64_t i = 0; i < red; i++) acc = fold(acc, row[i]);
        }
        out[o] = float(acc * scale);
      }
      return;
    }
    if (outer >= T) {
#pragma omp parallel if (outer * red * inner > 32768)
      {
        std::vector<double> acc(inner);
#pragma omp for schedule(static)
        for (int64_t o = 0; o < outer; o++) {
          std::fill(acc.begin(), acc.end(), init);
          for (int64_t i = 0; i < red; i++) {
            const float* row = x + (o * red + i) * inner;
            if (isSum) {
              for (int64_t c = 0; c < inner; c++) acc[c] += row[c];
            } else {
              for (int64_t c = 0; c < inner; c++) acc[c] = fold(acc[c], row[c]);
            }
          }
          for (int64_t c = 0; c < inner; c++) out[o * inner + c] = float(acc[c] * scale);
        }
      }
      return;
    }
    // Few outputs rows: split the reduced axis across the threads, partial results merged after.
    for (int64_t o = 0; o < outer; o++) {
      std::vector<double> total(inner, init);
#pragma omp parallel if (red * inner > 32768)
      {
        std::vector<double> part(inner, init);
#pragma omp for schedule(static) nowait
        for (int64_t i = 0; i < red; i++) {
          const float* row = x + (o * red + i) * inner;
          if (isSum) {
            for (int64_t c = 0; c < inner; c++) part[c] += row[c];
          } else {
            for (int64_t c = 0; c < inner; c++) part[c] = fold(part[c], row[c]);
          }
        }
#pragma omp critical
        for (int64_t c = 0; c < inner; c++) total[c] = isSum ? total[c] + part[c] : fold(total[c], float(part[c]));
      }
      for (int64_t c = 0; c < inner; c++) out[o * inner + c] = float(total[c] * scale);
    }
  });
}

/** argReduce(x, outer, red, inner, out Int32Array, op): index of the min (op 0) or max (op 1) along the middle axis; first one wins. */
napi_value ArgReduce(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto v = args(env, info, 6);
    const float* x = f32(env, v[0]);
    const int64_t outer = i64(env, v[1]), red = i64(env, v[2]), inner = i64(env, v[3]);
    int32_t* out = i32(env, v[4]);
    const bool isMax = i64(env, v[5]) == 1;
#pragma omp parallel for collapse(2) schedule(static) if (outer * red * inner > 32768)
    for (int64_t o = 0; o < outer; o++)
      for (int64_t c = 0; c < inner; c++) {
        const float* p = x + o * red * inner + c;
        float best = p[0];
        int32_t bi = 0;
        for (int64_t i = 1; i < red; i++) {
          const float val = p[i * inner];
          if (isMax ? val > best : val < best) best = val, bi = int32_t(i);
        }
        out[o * inner + c] = bi;
      }
  });
}

/** softmax(x, rows, cols, y): y = softmax over the last axis of x viewed as [rows, cols]. */
napi_value Softmax(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto v = args(env, info, 4);
    const float* x = f32(env, v[0]);
    const int64_t rows = i64(env, v[1]), cols = i64(env, v[2]);
    float* y = f32(env, v[3]);
#pragma omp parallel for schedule(static) if (rows * cols > 16384)
    for (int64_t r = 0; r < rows; r++) {
      const float* xr = x + r * cols;
      float* yr = y + r * cols;
      float m = -INFINITY;
      for (int64_t c = 0; c < cols; c++) m = std::max(m, xr[c]);
      float s = 0;
      for (int64_t c = 0; c < cols; c++) s += (yr[c] = std::exp(xr[c] - m));
      const float inv = 1.0f / s;
      for (int64_t c = 0; c < cols; c++) yr[c] *= inv;
    }
  });
}

/**
 * attention(q, k, v, out, batch, heads, n, m, d, dv, scale): per batch item and head h,
 * out_h = softmax(scale·q_h·k_hᵀ)·v_h, with q [batch, n, heads·d], k [batch, m, heads·d],
 * v [batch, m, heads·dv] and out [batch, n, heads·dv]: each head is a column block read in place
 * (sgemm's leading dimensions), so the heads are never split out or merged back by transposes.
 * The whole point is that the [n, m] matrix never exists: each thread takes blocks of query rows,
 * whose logits (rows × m) stay in its cache from the first product through the softmax into the
 * second. Materialised, SD's first level at 512² writes and rereads 1 GiB per attention three
 * times over, and the step is bound by memory bandwidth, not arithmetic. The logits are the
 * product scaled once (sgemm's alpha: one rounding, like torch's `einsum(q, k) * scale`); softmax
 * is the usual max-shifted one.
 */
napi_value Attention(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto v = args(env, info, 11);
    const float *q = f32(env, v[0]), *k = f32(env, v[1]), *vv = f32(env, v[2]);
    float* out = f32(env, v[3]);
    const int64_t batch = i64(env, v[4]), heads = i64(env, v[5]), n = i64(env, v[6]), m = i64(env, v[7]);
    const int64_t d = i64(env, v[8]), dv = i64(env, v[9]);
    const float scale = float(f64(env, v[10]));
    const int64_t ldq = heads * d, ldv = heads * dv;
    // Rows per block: the logits block (rows × m floats) within 4 MiB. Smaller blocks repack k and
    // v in sgemm for every few rows: at SD's 4,096 tokens, 16-row blocks took 2.5× as long as
    // 256-row ones, and from 1 MiB blocks up the time was flat (measured, 2 threads).
    const int64_t rows = std::max<int64_t>(1, std::min<int64_t>(n, (1 << 20) / std::max<int64_t>(m, 1)));
    const int64_t blocks = (n + rows - 1) / rows;
#pragma omp parallel
    {
      std::vector<float> s(size_t(rows * m));
#pragma omp for collapse(3) schedule(dynamic, 1)
      for (int64_t b = 0; b < batch; b++)
        for (int64_t h = 0; h < heads; h++)
          for (int64_t blk = 0; blk < blocks; blk++) {
            const int64_t r0 = blk * rows, nr = std::min(rows, n - r0);
            const float* qh = q + (b * n + r0) * ldq + h * d;
            const float* kh = k + b * m * ldq + h * d;
            const float* vh = vv + b * m * ldv + h * dv;
            float* oh = out + (b * n + r0) * ldv + h * dv;
            dnnl_sgemm('N', 'T', nr, m, d, scale, qh, ldq, kh, ldq, 0.0f, s.data(), m);
            for (int64_t r = 0; r < nr; r++) {
              float* sr = s.data() + r * m;
              float mx = -INFINITY;
              for (int64_t c = 0; c < m; c++) mx = std::max(mx, sr[c]);
              float sum = 0;
#pragma omp simd reduction(+ : sum)
              for (int64_t c = 0; c < m; c++) {
                const float e = expVec(sr[c] - mx);
                sr[c] = e;
                sum += e;
              }
              const float inv = 1.0f / sum;
#pragma omp simd
              for (int64_t c = 0; c < m; c++) sr[c] *= inv;
            }
            dnnl_sgemm('N', 'N', nr, dv, m, 1.0f, s.data(), m, vh, ldv, 0.0f, oh, ldv);
          }
    }
  });
}

/** pad(x, shape, before, after, value, y): constant padding of x (any rank) into y. */
napi_value Pad(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto v = args(env, info, 6);
    const float* x = f32(env, v[0]);
    auto shape = intList(env, v[1]), before = intList(env, v[2]), after = intList(env, v[3]);
    const float value = float(f64(env, v[4]));
    size_t ny = 0;
    float* y = f32(env, v[5], &ny);
    const int64_t r = shape.size();
    if (r == 0 || int64_t(before.size()) != r || int64_t(after.size()) != r) throw JsError("ldmc-native: pad: ranks differ");
    std::vector<int64_t> os(r);
    for (int64_t i = r - 1, s = 1; i >= 0; i--) os[i] = s, s *= shape[i] + before[i] + after[i];
#pragma omp parallel for simd schedule(static) if (ny > 65536)
    for (size_t i = 0; i < ny; i++) y[i] = value;
    const int64_t inner = shape[r - 1];
    int64_t rows = 1;
    for (int64_t i = 0; i < r - 1; i++) rows *= shape[i];
    if (inner == 0) return;
#pragma omp parallel for schedule(static) if (rows * inner > 65536)
    for (int64_t row = 0; row < rows; row++) {
      int64_t off = before[r - 1];
      for (int64_t i = r - 2, rest = row; i >= 0; i--) {
        off += (rest % shape[i] + before[i]) * os[i];
        rest /= shape[i];
      }
      std::memcpy(y + off, x + row * inner, inner * sizeof(float));
    }
  });
}

/**
 * adviseHugePages(array): asks the kernel for 2 MiB pages under a new, not yet touched, typed
 * array. On the cpu backend every output is a fresh allocation (V8 → calloc → mmap for large
 * ones), and here the first touch of 4 KiB pages cost ~12 µs each (a 64 MiB output: ~190 ms to
 * fault in, against ~5 ms with huge pages; /sys/kernel/mm/transparent_hugepage is in "madvise"
 * mode). Only the 2 MiB-aligned interior is advised; a no-op where madvise is refused.
 */
napi_value AdviseHugePages(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto v = args(env, info, 1);
    napi_typedarray_type t;
    size_t n = 0;
    void* data = nullptr;
    napi_value ab;
    size_t off = 0;
    check(env, napi_get_typedarray_info(env, v[0], &t, &n, &data, &ab, &off), "typed array info");
    const size_t bytes = n * (t == napi_float64_array ? 8 : t == napi_int8_array || t == napi_uint8_array || t == napi_uint8_clamped_array ? 1 : 4);
    const uintptr_t huge = uintptr_t(2) << 20, lo = (uintptr_t(data) + huge - 1) & ~(huge - 1), hi = (uintptr_t(data) + bytes) & ~(huge - 1);
#ifdef MADV_HUGEPAGE
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
#endif
  });
}

// ================================================================== end of cpu backend section

/** info(): what this build is (for the runtime's start-up line and the benchmarks). */
napi_value Info(napi_env env, napi_callback_info) {
  napi_value o, v;
  napi_create_object(env, &o);
  const dnnl_version_t* ver = dnnl_version();
  std::string s = "oneDNN " + std::to_string(ver->major) + "." + std::to_string(ver->minor) + "." + std::to_string(ver->patch);
  napi_create_string_utf8(env, s.c_str(), s.size(), &v);
  napi_set_named_property(env, o, "library", v);
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  napi_create_int32(env, threads, &v);
  napi_set_named_property(env, o, "threads", v);
  return o;
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"conv2d", nullptr, Conv2d, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackpropInput", nullptr, Conv2dBackpropInput, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackpropFilter", nullptr, Conv2dBackpropFilter, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"matmul", nullptr, Matmul, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"groupNormForward", nullptr, GroupNormForward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"groupNormBackward", nullptr, GroupNormBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"silu", nullptr, Silu, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"siluGrad", nullptr, SiluGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sumLeading", nullptr, SumLeading, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adamStep", nullptr, AdamStep, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gelu", nullptr, Gelu, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"geluGrad", nullptr, GeluGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"rowOp", nullptr, RowOp, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"copyRows", nullptr, CopyRows, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"emaStep", nullptr, EmaStep, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"binary", nullptr, Binary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unary", nullptr, Unary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"transpose", nullptr, Transpose, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reduce", nullptr, Reduce, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"argReduce", nullptr, ArgReduce, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmax", nullptr, Softmax, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attention", nullptr, Attention, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"pad", nullptr, Pad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adviseHugePages", nullptr, AdviseHugePages, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(ldmc_native, Init)
