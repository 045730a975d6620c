// Every SIMD kernel against the scalar reference on random data: identical Q8_0 activation
// bytes, dot products and AXPYs equal up to float summation order. Prints one line per check
// and "N passed, M failed" at the end; exits non-zero on any failure.
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/exact_ops.h"
#include "kernels/fp16.h"
#include "kernels/kernels.h"
#include "runtime/float_mode.h"
#include "runtime/portable_math.h"
#include "runtime/thread_pool.h"
#include "check.h"

using namespace st;
using namespace st::kernels;

static bool close(float a, float b, float scale) { return std::fabs(a - b) <= 1e-5f * scale + 1e-6f; }

// Q4_0 blocks with the scales of `w8` (weights quantised to Q8_0) and random 4-bit codes.
static std::vector<BlockQ4_0> random_q4_0_like(const std::vector<BlockQ8_0>& w8, std::mt19937& rng) {
  std::vector<BlockQ4_0> w4(w8.size());
  for (size_t b = 0; b < w4.size(); b++) {
    w4[b].d = w8[b].d;
    for (int j = 0; j < 16; j++) w4[b].qs[j] = static_cast<uint8_t>((rng() & 15) | ((rng() & 15) << 4));
  }
  return w4;
}

static void test_table(const KernelTable& ref, const KernelTable& simd, int64_t n) {
  std::mt19937 rng(static_cast<unsigned>(n));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n), w(n * 4);
  for (float& v : x) v = normal(rng);
  for (float& v : w) v = normal(rng) * 0.05f;
  const std::string tag = std::string(simd.isa) + " n=" + std::to_string(n) + ": ";

  std::vector<BlockQ8_0> xq_ref(n / 32), xq_simd(n / 32);
  ref.quantize_row_q8_0(x.data(), xq_ref.data(), n);
  simd.quantize_row_q8_0(x.data(), xq_simd.data(), n);
  check(std::memcmp(xq_ref.data(), xq_simd.data(), xq_ref.size() * sizeof(BlockQ8_0)) == 0, tag + "quantize_row_q8_0 bytes");

  // Weights as Q8_0 and Q4_0 (quantised with the Q8_0 reference, then truncated to 4 bits).
  std::vector<BlockQ8_0> w8(n * 4 / 32);
  ref.quantize_row_q8_0(w.data(), w8.data(), n * 4);
  const std::vector<BlockQ4_0> w4 = random_q4_0_like(w8, rng);
  std::vector<uint16_t> w16(n * 4), wb16(n * 4);
  for (int64_t i = 0; i < n * 4; i++) { w16[i] = fp32_to_fp16(w[i]); wb16[i] = static_cast<uint16_t>(fp16_to_fp32(w16[i]) == 0 ? 0 : (reinterpret_cast<uint32_t&>(w[i]) >> 16)); }

  const float s4 = std::fabs(ref.dot_q4_0_q8_0(w4.data(), xq_ref.data(), n)) + 1;
  check(close(ref.dot_q4_0_q8_0(w4.data(), xq_ref.data(), n), simd.dot_q4_0_q8_0(w4.data(), xq_ref.data(), n), s4), tag + "dot_q4_0_q8_0");
  // Four activations (the weights quantised as Q8_0 serve as four more activation rows).
  float out_ref[4], out_simd[4];
  const BlockQ8_0* xs[4] = {w8.data(), w8.data() + n / 32, w8.data() + 2 * n / 32, w8.data() + 3 * n / 32};
  ref.dot_q4_0_q8_0_x4(w4.data(), xs, n, out_ref);
  simd.dot_q4_0_q8_0_x4(w4.data(), xs, n, out_simd);
  for (int t = 0; t < 4; t++) {
    const float single = simd.dot_q4_0_q8_0(w4.data(), w8.data() + t * n / 32, n);
    check(close(out_ref[t], out_simd[t], std::fabs(out_ref[t]) + 1) && close(single, out_simd[t], std::fabs(single) + 1), tag + "dot_q4_0_q8_0_x4 token " + std::to_string(t));
    // NEON keeps Q4_0 rows as in the file, and its four-at-a-time kernel gives the one-row bits
    // (its kept bit-identity hashes rely on it); the x86 tables pack Q4_0, and their x4 kernels
    // round otherwise.
    if (std::string(simd.isa) == "neon" || std::string(simd.isa) == "neondot") check(single == out_simd[t], tag + "dot_q4_0_q8_0_x4 token " + std::to_string(t) + " = the one-row value, bit for bit");
  }
  if (simd.dot_q4_0_q8_0_sums) {
    // The variants that take the activation's block sums compute the same products.
    std::vector<int32_t> sums(n / 32), sums_t[4];
    q8_0_block_sums(xq_ref.data(), sums.data(), n / 32);
    check(close(ref.dot_q4_0_q8_0(w4.data(), xq_ref.data(), n), simd.dot_q4_0_q8_0_sums(w4.data(), xq_ref.data(), sums.data(), n), s4),
          tag + "dot_q4_0_q8_0_sums");
    const int32_t* sp[4];
    for (int t = 0; t < 4; t++) {
      sums_t[t].resize(n / 32);
      q8_0_block_sums(xs[t], sums_t[t].data(), n / 32);
      sp[t] = sums_t[t].data();
    }
    float out_sums[4];
    simd.dot_q4_0_q8_0_x4_sums(w4.data(), xs, sp, n, out_sums);
    for (int t = 0; t < 4; t++) {
      check(close(out_ref[t], out_sums[t], std::fabs(out_ref[t]) + 1), tag + "dot_q4_0_q8_0_x4_sums token " + std::to_string(t));
    }
  }
  const float s8 = std::fabs(ref.dot_q8_0_q8_0(w8.data(), xq_ref.data(), n)) + 1;
  check(close(ref.dot_q8_0_q8_0(w8.data(), xq_ref.data(), n), simd.dot_q8_0_q8_0(w8.data(), xq_ref.data(), n), s8), tag + "dot_q8_0_q8_0");
  if (simd.dot_q8_0_q8_0_x4) {
    // One Q8_0 row against four activations: each exactly the table's one-row value.
    const BlockQ8_0* acts[4] = {xq_ref.data(), xs[1], xs[2], xs[3]};
    float four[4];
    simd.dot_q8_0_q8_0_x4(w8.data(), acts, n, four);
    bool same = true;
    for (int t = 0; t < 4; t++) same = same && four[t] == simd.dot_q8_0_q8_0(w8.data(), acts[t], n);
    check(same, tag + "dot_q8_0_q8_0_x4 = four dot_q8_0_q8_0, bit for bit");
  }
  if (simd.dot_q4_0_q8_0_rows4 && simd.dot_q8_0_q8_0_rows4) {
    // Four rows against one activation: each exactly the table's one-row value.
    const BlockQ4_0* rows4[4];
    const BlockQ8_0* rows8[4];
    for (int r = 0; r < 4; r++) {
      rows4[r] = w4.data() + (3 - r) * n / 32;  // not in order: the rows are any four
      rows8[r] = w8.data() + (3 - r) * n / 32;
    }
    float got4[4], got8[4];
    simd.dot_q4_0_q8_0_rows4(rows4, xq_ref.data(), n, got4);
    simd.dot_q8_0_q8_0_rows4(rows8, xq_ref.data(), n, got8);
    bool same4 = true, same8 = true;
    for (int r = 0; r < 4; r++) {
      same4 = same4 && got4[r] == simd.dot_q4_0_q8_0(rows4[r], xq_ref.data(), n);
      same8 = same8 && got8[r] == simd.dot_q8_0_q8_0(rows8[r], xq_ref.data(), n);
    }
    check(same4, tag + "dot_q4_0_q8_0_rows4 = four dot_q4_0_q8_0, bit for bit");
    check(same8, tag + "dot_q8_0_q8_0_rows4 = four dot_q8_0_q8_0, bit for bit");
  }
  check(close(ref.dot_f32_f32(w.data(), x.data(), n), simd.dot_f32_f32(w.data(), x.data(), n), 10), tag + "dot_f32_f32");
  check(close(ref.dot_f16_f32(w16.data(), x.data(), n), simd.dot_f16_f32(w16.data(), x.data(), n), 10), tag + "dot_f16_f32");
  check(close(ref.dot_bf16_f32(wb16.data(), x.data(), n), simd.dot_bf16_f32(wb16.data(), x.data(), n), 10), tag + "dot_bf16_f32");
  std::vector<uint16_t> x16(n), xb16(n);
  for (int64_t i = 0; i < n; i++) { x16[i] = fp32_to_fp16(x[i]); xb16[i] = fp32_to_bf16(x[i]); }
  check(close(ref.dot_f16_f16(w16.data(), x16.data(), n), simd.dot_f16_f16(w16.data(), x16.data(), n), 10), tag + "dot_f16_f16");
  check(close(ref.dot_bf16_bf16(wb16.data(), xb16.data(), n), simd.dot_bf16_bf16(wb16.data(), xb16.data(), n), 10), tag + "dot_bf16_bf16");

  if (simd.dot_f16_f32_heads) {
    // One F16 head against several query heads: bit for bit the one-head kernels.
    const int m = 6;
    std::vector<std::vector<float>> q(m, std::vector<float>(n)), y(m, x), y1(m, x);
    const float* qs[m];
    float* ys[m];
    float s[m], got[m];
    for (int j = 0; j < m; j++) {
      for (float& v : q[j]) v = normal(rng);
      qs[j] = q[j].data();
      ys[j] = y[j].data();
      s[j] = 0.1f * (j + 1);
    }
    simd.dot_f16_f32_heads(w16.data(), qs, m, n, got);
    simd.axpy_f16_heads(w16.data(), s, ys, m, n);
    bool dots = true, axpys = true;
    for (int j = 0; j < m; j++) {
      const float one = simd.dot_f16_f32(w16.data(), q[j].data(), n);
      dots = dots && std::memcmp(&one, &got[j], sizeof one) == 0;
      simd.axpy_f16(w16.data(), s[j], y1[j].data(), n);
      axpys = axpys && std::memcmp(y1[j].data(), y[j].data(), n * sizeof(float)) == 0;
    }
    // 5 short of whole vectors: the value-by-value tails too.
    simd.dot_f16_f32_heads(w16.data(), qs, m, n - 5, got);
    for (int j = 0; j < m; j++) {
      const float one = simd.dot_f16_f32(w16.data(), q[j].data(), n - 5);
      dots = dots && std::memcmp(&one, &got[j], sizeof one) == 0;
    }
    check(dots, tag + "dot_f16_f32_heads = dot_f16_f32 per head, bit for bit");
    check(axpys, tag + "axpy_f16_heads = axpy_f16 per head, bit for bit");
    if (simd.axpy_f16_rows_heads) {
      // Several value rows at once: bit for bit axpy_f16_heads row after row, for 1..8 rows,
      // over whole vectors and with the last values short of one (5 short: an 8-wide step
      // after the 16-wide ones, then single values).
      bool rows_ok = true;
      for (int round = 0; round < 2 * kMaxAxpyRows; round++) {
        const int rows_now = round % kMaxAxpyRows + 1;
        const int64_t len = round < kMaxAxpyRows ? n : n - 5;
        std::vector<std::vector<uint16_t>> rows(rows_now, std::vector<uint16_t>(n));
        std::vector<std::vector<float>> weights(rows_now, std::vector<float>(m));
        const uint16_t* row_ptrs[kMaxAxpyRows];
        const float* weight_ptrs[kMaxAxpyRows];
        for (int r = 0; r < rows_now; r++) {
          for (auto& v : rows[r]) v = fp32_to_fp16(normal(rng));
          for (auto& v : weights[r]) v = normal(rng);
          row_ptrs[r] = rows[r].data();
          weight_ptrs[r] = weights[r].data();
        }
        std::vector<std::vector<float>> a(m, x), b(m, x);
        float* as[m];
        float* bs[m];
        for (int j = 0; j < m; j++) { as[j] = a[j].data(); bs[j] = b[j].data(); }
        simd.axpy_f16_rows_heads(row_ptrs, rows_now, weight_ptrs, as, m, len);
        for (int r = 0; r < rows_now; r++) simd.axpy_f16_heads(row_ptrs[r], weight_ptrs[r], bs, m, len);
        for (int j = 0; j < m; j++) rows_ok = rows_ok && std::memcmp(as[j], bs[j], n * sizeof(float)) == 0;
      }
      check(rows_ok, tag + "axpy_f16_rows_heads = axpy_f16_heads row after row, bit for bit");
      // More heads than the kernel takes in one block (16), with a partial last block.
      const int many = 20;
      std::vector<std::vector<float>> a(many, x), b(many, x), wts(kMaxAxpyRows, std::vector<float>(many));
      std::vector<std::vector<uint16_t>> rows(kMaxAxpyRows, std::vector<uint16_t>(n));
      const uint16_t* row_ptrs[kMaxAxpyRows];
      const float* weight_ptrs[kMaxAxpyRows];
      for (int r = 0; r < kMaxAxpyRows; r++) {
        for (auto& v : rows[r]) v = fp32_to_fp16(normal(rng));
        for (auto& v : wts[r]) v = normal(rng);
        row_ptrs[r] = rows[r].data();
        weight_ptrs[r] = wts[r].data();
      }
      std::vector<float*> as(many), bs(many);
      for (int j = 0; j < many; j++) { as[j] = a[j].data(); bs[j] = b[j].data(); }
      simd.axpy_f16_rows_heads(row_ptrs, kMaxAxpyRows, weight_ptrs, as.data(), many, n);
      for (int r = 0; r < kMaxAxpyRows; r++) simd.axpy_f16_heads(row_ptrs[r], weight_ptrs[r], bs.data(), many, n);
      bool many_ok = true;
      for (int j = 0; j < many; j++) many_ok = many_ok && std::memcmp(as[j], bs[j], n * sizeof(float)) == 0;
      check(many_ok, tag + "axpy_f16_rows_heads with 20 heads = axpy_f16_heads row after row, bit for bit");
    }
    if (simd.dot_f16_f32_rows_heads) {
      // Several key rows at once: bit for bit dot_f16_f32_heads row by row, for every group
      // size up to 8 query heads (the kernel's register plan covers 6; more go row by row),
      // over whole vectors and 5 values short of them (each kernel's value-by-value tail).
      bool rows_ok = true;
      std::vector<std::vector<float>> q8(8, std::vector<float>(n));
      const float* q8s[8];
      for (int j = 0; j < 8; j++) {
        for (float& v : q8[j]) v = normal(rng);
        q8s[j] = q8[j].data();
      }
      for (int heads = 1; heads <= 8; heads++) {
        for (int round = 0; round < 2 * kMaxDotRows; round++) {
          const int rows_now = round % kMaxDotRows + 1;
          const int64_t len = round < kMaxDotRows ? n : n - 5;
          std::vector<std::vector<uint16_t>> rows(rows_now, std::vector<uint16_t>(n));
          const uint16_t* row_ptrs[kMaxDotRows];
          float got_rows[kMaxDotRows][8], want[8];
          float* outs[kMaxDotRows];
          for (int r = 0; r < rows_now; r++) {
            for (auto& v : rows[r]) v = fp32_to_fp16(normal(rng));
            row_ptrs[r] = rows[r].data();
            outs[r] = got_rows[r];
          }
          simd.dot_f16_f32_rows_heads(row_ptrs, rows_now, q8s, heads, len, outs);
          for (int r = 0; r < rows_now; r++) {
            simd.dot_f16_f32_heads(row_ptrs[r], q8s, heads, len, want);
            rows_ok = rows_ok && std::memcmp(want, got_rows[r], heads * sizeof(float)) == 0;
          }
        }
      }
      check(rows_ok, tag + "dot_f16_f32_rows_heads = dot_f16_f32_heads row by row, bit for bit");
    }
  }

  auto axpy_check = [&](const char* name, auto fn_ref, auto fn_simd) {
    std::vector<float> ya(x), yb(x);
    fn_ref(ya.data());
    fn_simd(yb.data());
    bool ok = true;
    for (int64_t i = 0; i < n; i++) ok = ok && close(ya[i], yb[i], std::fabs(ya[i]) + 1);
    check(ok, tag + name);
  };
  axpy_check("axpy_q4_0", [&](float* y) { ref.axpy_q4_0(w4.data(), 0.7f, y, n); }, [&](float* y) { simd.axpy_q4_0(w4.data(), 0.7f, y, n); });
  axpy_check("axpy_q8_0", [&](float* y) { ref.axpy_q8_0(w8.data(), 0.7f, y, n); }, [&](float* y) { simd.axpy_q8_0(w8.data(), 0.7f, y, n); });
  axpy_check("axpy_f32", [&](float* y) { ref.axpy_f32(w.data(), 0.7f, y, n); }, [&](float* y) { simd.axpy_f32(w.data(), 0.7f, y, n); });
  axpy_check("axpy_f16", [&](float* y) { ref.axpy_f16(w16.data(), 0.7f, y, n); }, [&](float* y) { simd.axpy_f16(w16.data(), 0.7f, y, n); });
  axpy_check("axpy_bf16", [&](float* y) { ref.axpy_bf16(wb16.data(), 0.7f, y, n); }, [&](float* y) { simd.axpy_bf16(wb16.data(), 0.7f, y, n); });
}

// Packed Q4_0×16: the packed kernels of `t` give exactly the scalar table's values (the packed
// contract fixes every rounding), each row of a group equals the single-row kernel, and both
// are the plain row-by-row dot product up to summation order.
static void test_packed(const KernelTable& t, int64_t n) {
  const KernelTable& ref = scalar_table();
  std::mt19937 rng(static_cast<unsigned>(n) + 7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t nb = n / 32;
  const std::string tag = std::string(t.isa) + " packed n=" + std::to_string(n) + ": ";
  std::vector<BlockQ4_0> rows(kPackRows * nb);
  for (BlockQ4_0& b : rows) {
    b.d = fp32_to_fp16(0.01f + 0.02f * std::fabs(normal(rng)));
    for (uint8_t& q : b.qs) q = static_cast<uint8_t>(rng() & 0xff);
  }
  std::vector<uint8_t> packed(nb * kPackedBlockBytes);
  pack_q4_0x16(rows.data(), nb, nb, packed.data());
  check(packed.size() == rows.size() * sizeof(BlockQ4_0), tag + "packing keeps the size");
  std::vector<std::vector<BlockQ8_0>> xq(kMaxPackedActivations, std::vector<BlockQ8_0>(nb));
  std::vector<std::vector<Q8_0BlockTerms>> terms(kMaxPackedActivations, std::vector<Q8_0BlockTerms>(nb));
  const BlockQ8_0* xs[kMaxPackedActivations];
  const Q8_0BlockTerms* xterms[kMaxPackedActivations];
  bool terms_right = true;
  for (int a = 0; a < kMaxPackedActivations; a++) {
    std::vector<float> x(n);
    for (float& v : x) v = normal(rng);
    ref.quantize_row_q8_0(x.data(), xq[a].data(), n);
    q8_0_block_terms(xq[a].data(), terms[a].data(), nb);
    std::vector<int32_t> sums(nb);
    q8_0_block_sums(xq[a].data(), sums.data(), nb);
    for (int64_t b = 0; b < nb; b++) {
      terms_right = terms_right && terms[a][b].zero == -8 * sums[b] && terms[a][b].d == fp16_to_fp32(xq[a][b].d);
    }
    xs[a] = xq[a].data();
    xterms[a] = terms[a].data();
  }
  for (int n_x = 1; n_x <= kMaxPackedActivations; n_x++) {
    std::vector<float> want(n_x * kPackRows), got(n_x * kPackRows);
    ref.gemm_q4_0x16(packed.data(), nb, xs, xterms, n_x, want.data());
    t.gemm_q4_0x16(packed.data(), nb, xs, xterms, n_x, got.data());
    check(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)) == 0, tag + "gemm bit-identical to scalar, " + std::to_string(n_x) + " activations");
  }
  float group[kPackRows];
  check(terms_right, tag + "block terms: the F16 scale as a float and −8·Σx");
  t.gemm_q4_0x16(packed.data(), nb, xs, xterms, 1, group);
  bool rows_equal = true, near_plain = true;
  for (int r = 0; r < kPackRows; r++) {
    const float one = t.dot_q4_0x16_row(packed.data(), nb, r, xs[0], xterms[0]);
    rows_equal = rows_equal && std::memcmp(&one, &group[r], sizeof one) == 0;
    const float plain = ref.dot_q4_0_q8_0(rows.data() + r * nb, xs[0], n);
    near_plain = near_plain && close(plain, group[r], std::fabs(plain) + 1);
  }
  check(rows_equal, tag + "single row = its lane of the group");
  check(near_plain, tag + "= the unpacked dot product up to rounding");
}

// A table that promises the scalar table's numbers (SSE4.2) gives attention's F16 dot products
// and value sums bit for bit: random halves, normal, subnormal and zero, heads of 128 and 72
// (a tail past the last eight).
static void test_f16_as_scalar(const KernelTable& t) {
  const KernelTable& ref = scalar_table();
  const std::string tag = std::string(t.isa) + " F16 attention as scalar: ";
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t n : {128, 72}) {
    std::vector<uint16_t> row(n);
    for (size_t i = 0; i < row.size(); i++) {
      const uint32_t r = rng();
      row[i] = i % 5 == 0 ? static_cast<uint16_t>(r & 0x83ff) : i % 11 == 0 ? static_cast<uint16_t>(r & 0x8000) : fp32_to_fp16(normal(rng));
    }
    constexpr int m = 6;
    std::vector<std::vector<float>> q(m, std::vector<float>(n));
    const float* qs[m];
    for (int j = 0; j < m; j++) {
      for (float& v : q[j]) v = normal(rng);
      qs[j] = q[j].data();
    }
    bool dots = true, adds = true;
    float want[m], got[m];
    for (int j = 0; j < m; j++) {
      want[j] = ref.dot_f16_f32(row.data(), qs[j], n);
      const float one = t.dot_f16_f32(row.data(), qs[j], n);
      dots = dots && std::memcmp(&want[j], &one, sizeof one) == 0;
    }
    if (t.dot_f16_f32_heads) {
      t.dot_f16_f32_heads(row.data(), qs, m, n, got);
      dots = dots && std::memcmp(want, got, sizeof want) == 0;
    }
    check(dots, tag + "dot products, n=" + std::to_string(n));
    const float s[m] = {0.5f, -1.25f, 3e-3f, 7.0f, -0.0f, 1e-30f};
    std::vector<std::vector<float>> y_ref(q), y_one(q), y_heads(q);
    float* outs[m];
    for (int j = 0; j < m; j++) {
      ref.axpy_f16(row.data(), s[j], y_ref[j].data(), n);
      t.axpy_f16(row.data(), s[j], y_one[j].data(), n);
      outs[j] = y_heads[j].data();
    }
    if (t.axpy_f16_heads) t.axpy_f16_heads(row.data(), s, outs, m, n);
    else y_heads = y_one;
    for (int j = 0; j < m; j++) {
      adds = adds && std::memcmp(y_ref[j].data(), y_one[j].data(), n * sizeof(float)) == 0 &&
             std::memcmp(y_ref[j].data(), y_heads[j].data(), n * sizeof(float)) == 0;
    }
    check(adds, tag + "value sums, n=" + std::to_string(n));
  }
}

// ... and the K-quant rows' dot products bit for bit: random bytes for every code and packed
// scale, finite F16 scales, activations quantised from random floats.
template <typename Block>
static void check_kquant_as_scalar(const KernelTable& t, BlockTypeKernels KernelTable::*type, const char* name, size_t d_offset,
                                   size_t dmin_offset) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t nb = 6, n = nb * kQK_K;
  std::vector<Block> w(nb);
  for (Block& b : w) {
    uint8_t* bytes = reinterpret_cast<uint8_t*>(&b);
    for (size_t i = 0; i < sizeof(Block); i++) bytes[i] = static_cast<uint8_t>(rng());
    const uint16_t d = fp32_to_fp16(0.01f * normal(rng)), dmin = fp32_to_fp16(0.01f * normal(rng));
    std::memcpy(bytes + d_offset, &d, 2);
    if (dmin_offset != d_offset) std::memcpy(bytes + dmin_offset, &dmin, 2);
  }
  bool same = true;
  std::vector<std::vector<BlockQ8_K>> xqs(4, std::vector<BlockQ8_K>(nb));
  float want[4];
  for (int a = 0; a < 4; a++) {
    std::vector<float> x(n);
    for (float& v : x) v = normal(rng);
    scalar_table().quantize_row_q8_K(x.data(), xqs[a].data(), n);
    want[a] = (scalar_table().*type).dot(w.data(), xqs[a].data(), n);
    const float got = (t.*type).dot(w.data(), xqs[a].data(), n);
    same = same && std::memcmp(&want[a], &got, sizeof got) == 0;
  }
  check(same, std::string(t.isa) + " " + name + " dot products bit-identical to scalar");
  if ((t.*type).dot4) {  // a prompt's four tokens at once: each still the scalar value
    const void* xs[4] = {xqs[0].data(), xqs[1].data(), xqs[2].data(), xqs[3].data()};
    float got[4];
    (t.*type).dot4(w.data(), xs, n, got);
    check(std::memcmp(want, got, sizeof got) == 0, std::string(t.isa) + " " + name + " dot4 bit-identical to scalar dot");
  }
}

// ... and the 32-value types' (Q4_1, Q5_0, Q5_1, IQ4_NL) likewise, against the activation
// form each takes (Q8_0 or Q8_1), with subnormal and negative scales among the random ones.
template <typename Block>
static void check_blocks32_as_scalar(const KernelTable& t, BlockTypeKernels KernelTable::*type, const char* name,
                                     const std::vector<size_t>& fp16_fields) {
  const bool q8_1 = std::is_same_v<Block, BlockQ4_1> || std::is_same_v<Block, BlockQ5_1>;  // types with a min
  std::mt19937 rng(17);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t nb = 40, n = nb * 32;
  std::vector<Block> w(nb);
  for (int64_t i = 0; i < nb; i++) {
    uint8_t* bytes = reinterpret_cast<uint8_t*>(&w[i]);
    for (size_t j = 0; j < sizeof(Block); j++) bytes[j] = static_cast<uint8_t>(rng());
    for (size_t off : fp16_fields) {
      const uint16_t h = i % 7 == 3 ? static_cast<uint16_t>(0x8000 | (rng() & 0x3ff)) : fp32_to_fp16(0.01f * normal(rng));
      std::memcpy(bytes + off, &h, 2);
    }
  }
  std::vector<std::vector<uint8_t>> acts(4);
  float want[4];
  bool same = true;
  for (int a = 0; a < 4; a++) {
    std::vector<float> x(n);
    for (float& v : x) v = normal(rng);
    if (q8_1) {
      acts[a].resize(nb * sizeof(BlockQ8_1));
      scalar_table().quantize_row_q8_1(x.data(), reinterpret_cast<BlockQ8_1*>(acts[a].data()), n);
    } else {
      acts[a].resize(nb * sizeof(BlockQ8_0));
      scalar_table().quantize_row_q8_0(x.data(), reinterpret_cast<BlockQ8_0*>(acts[a].data()), n);
    }
    want[a] = (scalar_table().*type).dot(w.data(), acts[a].data(), n);
    const float got = (t.*type).dot(w.data(), acts[a].data(), n);
    same = same && std::memcmp(&want[a], &got, sizeof got) == 0;
  }
  check(same, std::string(t.isa) + " " + name + " dot products bit-identical to scalar");
  if ((t.*type).dot4) {
    const void* xs[4] = {acts[0].data(), acts[1].data(), acts[2].data(), acts[3].data()};
    float got[4];
    (t.*type).dot4(w.data(), xs, n, got);
    check(std::memcmp(want, got, sizeof got) == 0, std::string(t.isa) + " " + name + " dot4 bit-identical to scalar dot");
  }
}

static void test_kquants_as_scalar(const KernelTable& t) {
  {
    std::mt19937 rng(13);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const int64_t n = 32 * 40;
    std::vector<float> wf(n), xf(n);
    for (float& v : wf) v = normal(rng);
    for (float& v : xf) v = normal(rng);
    std::vector<BlockQ8_0> w(n / 32), x(n / 32);
    scalar_table().quantize_row_q8_0(wf.data(), w.data(), n);
    scalar_table().quantize_row_q8_0(xf.data(), x.data(), n);
    w[3].qs[5] = -128;  // a file's byte may be −128 (an activation's never is)
    w[7].d = 0x0003;    // a subnormal half scale
    const float want = scalar_table().dot_q8_0_q8_0(w.data(), x.data(), n), got = t.dot_q8_0_q8_0(w.data(), x.data(), n);
    check(std::memcmp(&want, &got, sizeof got) == 0, std::string(t.isa) + " Q8_0 dot products bit-identical to scalar");
    // Four rows (decode) and four activations (prompts), each the scalar value.
    std::vector<std::vector<BlockQ8_0>> more(4, std::vector<BlockQ8_0>(n / 32));
    for (auto& m : more) {
      for (float& v : xf) v = normal(rng);
      scalar_table().quantize_row_q8_0(xf.data(), m.data(), n);
    }
    more[2][9].d = 0x0201;  // subnormal
    if (t.dot_q8_0_q8_0_x4) {
      const BlockQ8_0* xs[4] = {more[0].data(), more[1].data(), more[2].data(), more[3].data()};
      float four[4], ref[4];
      t.dot_q8_0_q8_0_x4(w.data(), xs, n, four);
      for (int a = 0; a < 4; a++) ref[a] = scalar_table().dot_q8_0_q8_0(w.data(), xs[a], n);
      check(std::memcmp(four, ref, sizeof ref) == 0, std::string(t.isa) + " Q8_0 x4 bit-identical to scalar");
    }
    if (t.dot_q8_0_q8_0_rows4) {
      const BlockQ8_0* rows[4] = {more[3].data(), w.data(), more[2].data(), more[0].data()};  // as rows: any four
      float four[4], ref[4];
      t.dot_q8_0_q8_0_rows4(rows, x.data(), n, four);
      for (int r = 0; r < 4; r++) ref[r] = scalar_table().dot_q8_0_q8_0(rows[r], x.data(), n);
      check(std::memcmp(four, ref, sizeof ref) == 0, std::string(t.isa) + " Q8_0 rows4 bit-identical to scalar");
    }
  }
  check_kquant_as_scalar<BlockQ4_K>(t, &KernelTable::q4_K, "Q4_K", offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin));
  check_kquant_as_scalar<BlockQ5_K>(t, &KernelTable::q5_K, "Q5_K", offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin));
  check_kquant_as_scalar<BlockQ6_K>(t, &KernelTable::q6_K, "Q6_K", offsetof(BlockQ6_K, d), offsetof(BlockQ6_K, d));
  check_kquant_as_scalar<BlockQ2_K>(t, &KernelTable::q2_K, "Q2_K", offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin));
  check_kquant_as_scalar<BlockQ3_K>(t, &KernelTable::q3_K, "Q3_K", offsetof(BlockQ3_K, d), offsetof(BlockQ3_K, d));
  check_kquant_as_scalar<BlockIQ4_XS>(t, &KernelTable::iq4_xs, "IQ4_XS", offsetof(BlockIQ4_XS, d), offsetof(BlockIQ4_XS, d));
  check_blocks32_as_scalar<BlockQ4_1>(t, &KernelTable::q4_1, "Q4_1", {offsetof(BlockQ4_1, d), offsetof(BlockQ4_1, m)});
  check_blocks32_as_scalar<BlockQ5_0>(t, &KernelTable::q5_0, "Q5_0", {offsetof(BlockQ5_0, d)});
  check_blocks32_as_scalar<BlockQ5_1>(t, &KernelTable::q5_1, "Q5_1", {offsetof(BlockQ5_1, d), offsetof(BlockQ5_1, m)});
  check_blocks32_as_scalar<BlockIQ4_NL>(t, &KernelTable::iq4_nl, "IQ4_NL", {offsetof(BlockIQ4_NL, d)});
}

// The packed contract's multiply-add is one rounding. A table without an FMA instruction
// (SSE4.2) adds in double and rounds to float, which is the fused result except when the double
// sum lies exactly halfway between two floats; this group is built to land there. Block 0 puts
// acc = 16,775,165·2^-11 (an odd last bit; scales 2047·2^-5 and 1639·2^-6, the integer sum 5);
// block 1 adds 28,231 · (1235·2^-24) · (1971·2^-24) = 2^-12 − 2^-48: in double the sum rounds to
// acc + half an ulp, which ties-to-even would round up, but the exact sum is below the halfway
// point, so the fused result is acc itself. Every table must give exactly that. Also: scales
// that are subnormal halves, zero or negative, for rows and activations alike.
static void test_packed_rounding_edges(const KernelTable& t) {
  const std::string tag = std::string(t.isa) + " packed edges: ";
  {
    std::vector<BlockQ4_0> rows(kPackRows * 2);
    for (int r = 0; r < kPackRows; r++) {
      BlockQ4_0& b0 = rows[r * 2];
      BlockQ4_0& b1 = rows[r * 2 + 1];
      b0.d = 21503;  // 2047·2^-5
      std::memset(b0.qs, 0x88, sizeof b0.qs);
      b0.qs[0] = 0x89;  // element 0: 9 − 8 = 1
      b1.d = 1235;      // 1235·2^-24
      std::memset(b1.qs, 0xff, sizeof b1.qs);  // every element 15 − 8 = 7
    }
    std::vector<uint8_t> packed(2 * kPackedBlockBytes);
    pack_q4_0x16(rows.data(), 2, 2, packed.data());
    BlockQ8_0 x[2] = {};
    x[0].d = 20071;  // 1639·2^-6
    x[0].qs[0] = 5;
    x[1].d = 1971;  // 1971·2^-24
    for (int j = 0; j < 31; j++) x[1].qs[j] = 127;
    x[1].qs[31] = 96;  // 7·(31·127 + 96) = 28,231
    Q8_0BlockTerms terms[2];
    q8_0_block_terms(x, terms, 2);
    const float acc = std::ldexp(16775165.0f, -11);
    const double block1 = 28231.0 * static_cast<double>(fp16_to_fp32(1235) * terms[1].d);
    check(static_cast<float>(block1 + static_cast<double>(acc)) != acc, tag + "the case is a tie that rounding twice gets wrong");
    const BlockQ8_0* xs[1] = {x};
    const Q8_0BlockTerms* xterms[1] = {terms};
    float got[kPackRows];
    t.gemm_q4_0x16(packed.data(), 2, xs, xterms, 1, got);
    bool all = true;
    for (int r = 0; r < kPackRows; r++) all = all && got[r] == acc && t.dot_q4_0x16_row(packed.data(), 2, r, x, terms) == acc;
    check(all, tag + "a double sum halfway between two floats rounds as the fused multiply-add");
  }
  std::mt19937 rng(99);
  const int64_t nb = 24, n = nb * 32;
  auto edge_scale = [&](int i) -> uint16_t {
    switch (i % 4) {
      case 0: return static_cast<uint16_t>(1 + rng() % 0x3ff);              // subnormal half
      case 1: return static_cast<uint16_t>(0x8000 | (1 + rng() % 0x3ff));  // negative subnormal
      case 2: return static_cast<uint16_t>(i % 8 == 2 ? 0 : 0x8000);        // ±0
      default: return static_cast<uint16_t>(rng() % 0x7c00);                 // any finite
    }
  };
  std::vector<BlockQ4_0> rows(kPackRows * nb);
  for (size_t i = 0; i < rows.size(); i++) {
    rows[i].d = edge_scale(static_cast<int>(i));
    for (uint8_t& q : rows[i].qs) q = static_cast<uint8_t>(rng() & 0xff);
  }
  std::vector<uint8_t> packed(nb * kPackedBlockBytes);
  pack_q4_0x16(rows.data(), nb, nb, packed.data());
  std::vector<std::vector<BlockQ8_0>> xq(kMaxPackedActivations, std::vector<BlockQ8_0>(nb));
  std::vector<std::vector<Q8_0BlockTerms>> terms(kMaxPackedActivations, std::vector<Q8_0BlockTerms>(nb));
  const BlockQ8_0* xs[kMaxPackedActivations];
  const Q8_0BlockTerms* xterms[kMaxPackedActivations];
  for (int a = 0; a < kMaxPackedActivations; a++) {
    for (int64_t b = 0; b < nb; b++) {
      xq[a][b].d = edge_scale(static_cast<int>(b + a));
      for (int8_t& q : xq[a][b].qs) q = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
    }
    q8_0_block_terms(xq[a].data(), terms[a].data(), nb);
    xs[a] = xq[a].data();
    xterms[a] = terms[a].data();
  }
  for (int n_x = 1; n_x <= kMaxPackedActivations; n_x++) {
    std::vector<float> want(n_x * kPackRows), got(n_x * kPackRows);
    scalar_table().gemm_q4_0x16(packed.data(), nb, xs, xterms, n_x, want.data());
    t.gemm_q4_0x16(packed.data(), nb, xs, xterms, n_x, got.data());
    check(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)) == 0,
          tag + "subnormal, zero and negative scales bit-identical to scalar, " + std::to_string(n_x) + " activations (n=" + std::to_string(n) + ")");
  }
}

// The other block types: random blocks (every code and packed scale byte random, the fp16
// scales finite), the dot product against the activation in the type's form equals the sum of
// the decoded weights times the decoded activation (computed in double) up to float rounding,
// and every table gives the scalar table's values. Extreme blocks (all codes 0 or all bits set,
// tiny and large scales) must stay finite and agree too.
struct BlockTypeCase {
  const char* name;
  GgmlType type;
  BlockTypeKernels KernelTable::*kernels;
  size_t block_bytes;
  int block_elems;
  std::vector<size_t> fp16_fields;  // byte offsets of the block's fp16 scales
};

static std::vector<BlockTypeCase> block_type_cases() {
  return {
      {"Q4_1", GgmlType::Q4_1, &KernelTable::q4_1, sizeof(BlockQ4_1), 32, {offsetof(BlockQ4_1, d), offsetof(BlockQ4_1, m)}},
      {"Q5_0", GgmlType::Q5_0, &KernelTable::q5_0, sizeof(BlockQ5_0), 32, {offsetof(BlockQ5_0, d)}},
      {"Q5_1", GgmlType::Q5_1, &KernelTable::q5_1, sizeof(BlockQ5_1), 32, {offsetof(BlockQ5_1, d), offsetof(BlockQ5_1, m)}},
      {"IQ4_NL", GgmlType::IQ4_NL, &KernelTable::iq4_nl, sizeof(BlockIQ4_NL), 32, {offsetof(BlockIQ4_NL, d)}},
      {"Q2_K", GgmlType::Q2_K, &KernelTable::q2_K, sizeof(BlockQ2_K), 256, {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)}},
      {"Q3_K", GgmlType::Q3_K, &KernelTable::q3_K, sizeof(BlockQ3_K), 256, {offsetof(BlockQ3_K, d)}},
      {"Q4_K", GgmlType::Q4_K, &KernelTable::q4_K, sizeof(BlockQ4_K), 256, {offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)}},
      {"Q5_K", GgmlType::Q5_K, &KernelTable::q5_K, sizeof(BlockQ5_K), 256, {offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)}},
      {"Q6_K", GgmlType::Q6_K, &KernelTable::q6_K, sizeof(BlockQ6_K), 256, {offsetof(BlockQ6_K, d)}},
      {"IQ4_XS", GgmlType::IQ4_XS, &KernelTable::iq4_xs, sizeof(BlockIQ4_XS), 256, {offsetof(BlockIQ4_XS, d)}},
  };
}

// A row of n values of `c`'s type: every byte from byte(), then every fp16 scale from scale().
template <class Byte, class Scale>
static std::vector<uint8_t> block_row(const BlockTypeCase& c, int64_t n, Byte byte, Scale scale) {
  std::vector<uint8_t> row(n / c.block_elems * c.block_bytes);
  for (uint8_t& v : row) v = byte();
  for (size_t at = 0; at < row.size(); at += c.block_bytes) {
    for (size_t off : c.fp16_fields) {
      const uint16_t h = fp32_to_fp16(scale());
      std::memcpy(row.data() + at + off, &h, sizeof h);
    }
  }
  return row;
}

// The activation in `form`, and its values decoded.
struct PreparedActivation {
  std::vector<uint8_t> bytes;
  std::vector<double> values;
};
static PreparedActivation prepare(const KernelTable& t, ActivationForm form, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  PreparedActivation a;
  a.values.resize(n);
  if (form == ActivationForm::Q8_0) {
    a.bytes.resize(n / 32 * sizeof(BlockQ8_0));
    auto* b = reinterpret_cast<BlockQ8_0*>(a.bytes.data());
    t.quantize_row_q8_0(x.data(), b, n);
    for (int64_t i = 0; i < n; i++) a.values[i] = double(fp16_to_fp32(b[i / 32].d)) * b[i / 32].qs[i % 32];
  } else if (form == ActivationForm::Q8_1) {
    a.bytes.resize(n / 32 * sizeof(BlockQ8_1));
    auto* b = reinterpret_cast<BlockQ8_1*>(a.bytes.data());
    t.quantize_row_q8_1(x.data(), b, n);
    for (int64_t i = 0; i < n; i++) a.values[i] = double(fp16_to_fp32(b[i / 32].d)) * b[i / 32].qs[i % 32];
  } else {
    a.bytes.resize(n / 256 * sizeof(BlockQ8_K));
    auto* b = reinterpret_cast<BlockQ8_K*>(a.bytes.data());
    t.quantize_row_q8_K(x.data(), b, n);
    for (int64_t i = 0; i < n; i++) a.values[i] = double(b[i / 256].d) * b[i / 256].qs[i % 256];
  }
  return a;
}

// Two builds of the same kernels that must give the same bits: NEON with and without the
// dot-product instruction (neon_dot.h: their int32 lanes hold the same products, and each lane
// becomes a float of its own). Every dot product of both tables, on random rows.
static void test_same_bits(const KernelTable& a, const KernelTable& b) {
  constexpr int64_t n = 1024;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const std::string tag = std::string(a.isa) + " and " + b.isa + ": ";
  std::vector<float> x(4 * n), w(4 * n);
  for (float& v : x) v = normal(rng);
  for (float& v : w) v = 0.05f * normal(rng);
  std::vector<BlockQ8_0> x8(4 * n / 32), w8(4 * n / 32);
  a.quantize_row_q8_0(x.data(), x8.data(), 4 * n);
  a.quantize_row_q8_0(w.data(), w8.data(), 4 * n);
  const std::vector<BlockQ4_0> w4 = random_q4_0_like(w8, rng);
  const BlockQ8_0* xs[4] = {&x8[0], &x8[n / 32], &x8[2 * n / 32], &x8[3 * n / 32]};
  const BlockQ8_0* rows8[4] = {&w8[0], &w8[n / 32], &w8[2 * n / 32], &w8[3 * n / 32]};
  const BlockQ4_0* rows4[4] = {&w4[0], &w4[n / 32], &w4[2 * n / 32], &w4[3 * n / 32]};
  // Runs one kernel call on both tables; its `count` outputs must be the same bytes.
  auto same = [&](const std::string& what, int count, auto run) {
    float pa[4], pb[4];
    run(a, pa);
    run(b, pb);
    check(std::memcmp(pa, pb, count * sizeof(float)) == 0, tag + what);
  };
  same("dot_q4_0_q8_0", 1, [&](const KernelTable& t, float* out) { out[0] = t.dot_q4_0_q8_0(rows4[1], xs[2], n); });
  same("dot_q8_0_q8_0", 1, [&](const KernelTable& t, float* out) { out[0] = t.dot_q8_0_q8_0(rows8[1], xs[2], n); });
  same("dot_q4_0_q8_0_x4", 4, [&](const KernelTable& t, float* out) { t.dot_q4_0_q8_0_x4(rows4[0], xs, n, out); });
  same("dot_q8_0_q8_0_x4", 4, [&](const KernelTable& t, float* out) { t.dot_q8_0_q8_0_x4(rows8[0], xs, n, out); });
  same("dot_q4_0_q8_0_rows4", 4, [&](const KernelTable& t, float* out) { t.dot_q4_0_q8_0_rows4(rows4, xs[0], n, out); });
  same("dot_q8_0_q8_0_rows4", 4, [&](const KernelTable& t, float* out) { t.dot_q8_0_q8_0_rows4(rows8, xs[0], n, out); });
  for (const BlockTypeCase& c : block_type_cases()) {
    const std::vector<uint8_t> row = block_row(c, n, [&] { return static_cast<uint8_t>(rng()); },
                                               [&] { return 0.001f + 0.01f * std::fabs(normal(rng)); });
    PreparedActivation acts[4];
    const void* act[4];
    for (int t = 0; t < 4; t++) {
      acts[t] = prepare(a, activation_form(c.type), std::vector<float>(x.begin() + t * n, x.begin() + (t + 1) * n));
      act[t] = acts[t].bytes.data();
    }
    same(std::string(c.name) + " dot", 1, [&](const KernelTable& t, float* out) { out[0] = (t.*(c.kernels)).dot(row.data(), act[0], n); });
    if ((a.*(c.kernels)).dot4 && (b.*(c.kernels)).dot4)
      same(std::string(c.name) + " dot4", 4, [&](const KernelTable& t, float* out) { (t.*(c.kernels)).dot4(row.data(), act, n, out); });
  }
}

static void test_activation_forms(const KernelTable& t) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(512);
  for (float& v : x) v = normal(rng);
  x[300] = -9.0f;  // the largest magnitude: Q8_K maps it to code −127 (then the scale is positive)
  const std::string tag = std::string(t.isa) + ": ";
  std::vector<BlockQ8_K> k(2);
  t.quantize_row_q8_K(x.data(), k.data(), 512);
  bool sums = true, within = true;
  for (int b = 0; b < 2; b++) {
    for (int g = 0; g < 16; g++) {
      int s = 0;
      for (int j = 0; j < 16; j++) s += k[b].qs[16 * g + j];
      sums = sums && s == k[b].bsums[g];
    }
    for (int j = 0; j < 256; j++) within = within && std::fabs(x[256 * b + j] - k[b].d * k[b].qs[j]) <= std::fabs(k[b].d) * 0.5001f;
  }
  check(sums && within, tag + "Q8_K: block sums and values within half a step");
  {
    // Byte for byte the scalar reference's blocks, with a tie for the largest magnitude and
    // values halfway between codes (nearbyint rounds them to even).
    std::vector<float> v = x;
    v[20] = 9.0f;  // the first of the tie: the scale maps +9 to −127
    for (int j = 40; j < 60; j++) v[j] = 9.0f / 127.0f * (j - 40 + 0.5f);
    std::vector<BlockQ8_K> mine(2), ref(2);
    t.quantize_row_q8_K(v.data(), mine.data(), 512);
    scalar_table().quantize_row_q8_K(v.data(), ref.data(), 512);
    check(std::memcmp(mine.data(), ref.data(), 2 * sizeof(BlockQ8_K)) == 0 && mine[0].d < 0, tag + "Q8_K: bytes = scalar's (ties, halfway codes)");
  }
  check(k[1].qs[300 - 256] == -127 && k[1].d > 0, tag + "Q8_K: the largest magnitude is code −127 (llama.cpp's sign convention)");
  std::vector<float> zero(256, 0.0f);
  t.quantize_row_q8_K(zero.data(), k.data(), 256);
  check(k[0].d == 0 && k[0].qs[0] == 0 && k[0].bsums[0] == 0, tag + "Q8_K: an all-zero block");
  std::vector<BlockQ8_1> q1(16);
  t.quantize_row_q8_1(x.data(), q1.data(), 512);
  bool s_ok = true;
  for (const BlockQ8_1& b : q1) {
    int s = 0;
    for (int8_t q : b.qs) s += q;
    // s is rounded from the unrounded scale: within an fp16 step of the rounded one's product.
    const float want = fp16_to_fp32(b.d) * static_cast<float>(s);
    s_ok = s_ok && std::fabs(fp16_to_fp32(b.s) - want) <= std::fabs(want) * 2e-3f + 1e-6f;
  }
  check(s_ok, tag + "Q8_1: s = d·Σq");
}

static void test_block_types(const KernelTable& t) {
  const KernelTable& ref = scalar_table();
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = 1024;
  std::vector<float> x(n);
  for (float& v : x) v = normal(rng);
  for (const BlockTypeCase& c : block_type_cases()) {
    const BlockTypeKernels& mine = t.*(c.kernels);
    const BlockTypeKernels& scalar = ref.*(c.kernels);
    const std::string tag = std::string(t.isa) + " " + c.name + ": ";
    check(block_type_kernels(t, c.type) == &(t.*(c.kernels)) && mine.dot && mine.to_float, tag + "has kernels");
    if (!mine.dot || !mine.to_float) continue;
    const PreparedActivation a = prepare(t, activation_form(c.type), x);
    const size_t row_bytes = n / c.block_elems * c.block_bytes;
    // Random blocks, then the extremes: all codes 0, all bits set, tiny and large scales.
    for (int variant = 0; variant < 5; variant++) {
      const std::vector<uint8_t> w = block_row(
          c, n, [&] { return variant == 1 ? uint8_t{0x00} : variant == 2 ? uint8_t{0xff} : static_cast<uint8_t>(rng()); },
          [&] { return variant == 3 ? 6e-8f : variant == 4 ? 60.0f : 0.001f + 0.01f * std::fabs(normal(rng)); });
      std::vector<float> decoded(n), decoded_ref(n);
      mine.to_float(w.data(), decoded.data(), n);
      scalar.to_float(w.data(), decoded_ref.data(), n);
      double want = 0, magnitude = 0;
      for (int64_t i = 0; i < n; i++) {
        want += double(decoded_ref[i]) * a.values[i];
        magnitude += std::fabs(double(decoded_ref[i]) * a.values[i]);
      }
      if (activation_form(c.type) == ActivationForm::Q8_1) {
        // The min's part uses the activation's sum s, which Q8_1 keeps as fp16 (2⁻¹¹ relative).
        for (size_t b = 0; b < row_bytes / c.block_bytes; b++) {
          uint16_t m;
          std::memcpy(&m, w.data() + b * c.block_bytes + c.fp16_fields[1], sizeof m);
          const BlockQ8_1& xb = reinterpret_cast<const BlockQ8_1*>(a.bytes.data())[b];
          magnitude += std::fabs(double(fp16_to_fp32(m)) * fp16_to_fp32(xb.s)) * 30;
        }
      }
      const float got = mine.dot(w.data(), a.bytes.data(), n), got_ref = scalar.dot(w.data(), a.bytes.data(), n);
      const std::string v = "variant " + std::to_string(variant) + ": ";
      check(std::memcmp(decoded.data(), decoded_ref.data(), n * sizeof(float)) == 0, tag + v + "decodes like scalar");
      check(std::isfinite(got) && std::fabs(got - want) <= 2e-5 * magnitude + 1e-30, tag + v + "dot = Σ decoded·x (" +
            std::to_string(got) + " vs " + std::to_string(want) + ")");
      check(std::fabs(got - got_ref) <= 1e-5 * magnitude + 1e-30, tag + v + "dot = scalar's");
      // The AVX-512 one-activation Q6_K kernel folds its sums into the AVX2 kernel's lanes and
      // takes the same float steps: decode gives the same bits on either table.
      if (const KernelTable* avx2 = avx2_table(); avx2 && &t == avx512_table() && c.type == GgmlType::Q6_K) {
        const float got_avx2 = (avx2->*(c.kernels)).dot(w.data(), a.bytes.data(), n);
        check(std::memcmp(&got, &got_avx2, sizeof got) == 0, tag + v + "dot = the AVX2 table's, to the bit");
      }
      if (mine.dot4) {
        // Four activations (this one and three others) against the row: each as dot gives it,
        // up to rounding (an ISA may take dot4 from wider kernels than dot).
        std::vector<PreparedActivation> acts = {a};
        for (int j = 1; j < 4; j++) {
          std::vector<float> other(n);
          for (float& f : other) f = normal(rng) * (variant == 4 ? 100.0f : 1.0f);
          acts.push_back(prepare(t, activation_form(c.type), other));
        }
        const void* xs[4] = {acts[0].bytes.data(), acts[1].bytes.data(), acts[2].bytes.data(), acts[3].bytes.data()};
        float four[4];
        mine.dot4(w.data(), xs, n, four);
        bool same = true;
        for (int j = 0; j < 4; j++) {
          double mag = 0;
          for (int64_t i = 0; i < n; i++) mag += std::fabs(double(decoded_ref[i]) * acts[j].values[i]);
          same = same && std::fabs(four[j] - mine.dot(w.data(), xs[j], n)) <= 1e-5 * mag + 1e-30;
        }
        check(same, tag + v + "dot4 = dot for each of four activations (up to rounding)");
      }
    }
  }
}

// Hand-made blocks whose values are known from the layout alone (a misread layout fails here
// even where the dot product and the decoder agree with each other).
static void test_known_blocks() {
  const KernelTable& k = scalar_table();
  const uint16_t one = fp32_to_fp16(1.0f), half = fp32_to_fp16(0.5f);
  float y[256];
  {
    BlockQ5_0 b{};
    b.d = one;
    b.qs[3] = 0x5a;          // element 3: low nibble 10; element 19: high nibble 5
    b.qh[2] = 0x08;          // bit 19: element 19 gets +16
    k.q5_0.to_float(&b, y, 32);
    check(y[3] == 10 - 16 && y[19] == 5 + 16 - 16 && y[0] == -16, "Q5_0 known block");
  }
  {
    BlockQ4_K b{};
    b.d = one;
    b.dmin = half;
    b.scales[1] = 3;         // sub-block 1: scale 3
    b.scales[5] = 4;         // sub-block 1: min 4
    b.scales[8] = 0x21;      // sub-block 4: scale low 1, min low 2
    b.scales[0] = 0x40;      // sub-block 4: scale +16 (bits 6-7 of scales[0])
    b.qs[5] = 0x70;          // element 37 (sub-block 1, low nibble of qs[5]... high nibble is element 37)
    k.q4_K.to_float(&b, y, 256);
    // qs[5] low nibble = element 5 (sub-block 0: scale 0, min 0) = 0; high nibble 7 = element 37.
    check(y[5] == 0.0f && y[37] == 3 * 7 - 0.5f * 4 && y[36] == -0.5f * 4 && y[128] == 17 * 0 - 0.5f * 2, "Q4_K known block");
  }
  {
    BlockQ6_K b{};
    b.d = one;
    for (int i = 0; i < 16; i++) b.scales[i] = static_cast<int8_t>(i - 8);
    b.ql[0] = 0x21;          // element 0: low 1; element 64: low 2
    b.qh[0] = 0x12;          // element 0: high bits 2 (→ 32+1); element 64: high bits 1 (→ 16+2)
    k.q6_K.to_float(&b, y, 256);
    check(y[0] == (-8) * (33 - 32) && y[64] == (4 - 8) * (18 - 32) && y[32] == (2 - 8) * -32, "Q6_K known block");
  }
  {
    BlockQ3_K b{};
    b.d = one;
    // Sub-block 9: low nibble from scales[1] >> 4 (5), high bits from scales[9] bits 4-5 (2):
    // 37 − 32 = 5. Sub-block 11: 0 − 32.
    b.scales[1] = 0x50;
    b.scales[9] = 0x20;
    b.qs[48] = 0x0c;         // half 1, l = 16: shift 0 gives code 0 (element 144), shift 2 code 3 (element 176)
    b.hmask[16] = 1u << 5;   // bit 4·1 + 1 set: element 176 has no −4; bit 4 clear: element 144 has
    k.q3_K.to_float(&b, y, 256);
    check(y[144] == 5 * (0 - 4) && y[176] == -32 * 3, "Q3_K known block");
  }
  {
    BlockIQ4_XS b{};
    b.d = half;
    b.scales_l[1] = 0x30;    // sub-block 3: low nibble 3
    b.scales_h = 2u << 6;    // sub-block 3: high bits 2 → 35 − 32 = 3
    b.qs[16 * 3 + 2] = 0xf0; // element 96 + 18: kIQ4Values[15] = 113
    k.iq4_xs.to_float(&b, y, 256);
    check(y[96 + 18] == 0.5f * 3 * 113 && y[96 + 2] == 0.5f * 3 * -127, "IQ4_XS known block");
  }
}

// `kernels_test decode TYPE_ID IN OUT`: decodes the blocks in IN with the scalar table and
// writes the floats to OUT, so that test/kernels-isa.test.ts can compare them with the
// generator's own decoders (written separately, from the same layouts).
static int decode_file(int type_id, const char* in, const char* out) {
  const BlockTypeKernels* k = block_type_kernels(scalar_table(), static_cast<GgmlType>(type_id));
  const GgmlTypeTraits tr = ggml_type_traits(static_cast<uint32_t>(type_id));
  std::FILE* f = std::fopen(in, "rb");
  if (!k || !tr.name || !f) return 2;
  std::vector<uint8_t> bytes;
  uint8_t buf[4096];
  for (size_t got; (got = std::fread(buf, 1, sizeof buf, f)) > 0;) bytes.insert(bytes.end(), buf, buf + got);
  std::fclose(f);
  const int64_t n = static_cast<int64_t>(bytes.size() / tr.block_bytes) * tr.block_elems;
  std::vector<float> values(n);
  k->to_float(bytes.data(), values.data(), n);
  std::FILE* o = std::fopen(out, "wb");
  if (!o) return 2;
  std::fwrite(values.data(), sizeof(float), values.size(), o);
  std::fclose(o);
  return 0;
}

// Every table packs 16 rows into the bytes the scalar packing gives (random bytes stand for
// the blocks: packing moves them and reads none), rows in a tensor whose rows are wider than
// the packed columns too.
static void test_packing(const KernelTable& t) {
  std::mt19937 rng(41);
  for (int64_t nb : {1, 2, 48}) {
    for (int64_t stride : {nb, nb + 3}) {
      const std::string tag = std::string(t.isa) + " packing nb=" + std::to_string(nb) + " stride=" + std::to_string(stride) + ": ";
      auto random_blocks = [&](auto& blocks) {
        auto* bytes = reinterpret_cast<uint8_t*>(blocks.data());
        for (size_t i = 0; i < blocks.size() * sizeof(blocks[0]); i++) bytes[i] = static_cast<uint8_t>(rng());
      };
      std::vector<BlockQ4_0> q4_0(kPackRows * stride);
      std::vector<BlockQ4_K> q4_K(kPackRows * stride);
      random_blocks(q4_0);
      random_blocks(q4_K);
      std::vector<uint8_t> want(nb * kPackedBlockBytes), got(want.size(), 0);
      pack_q4_0x16(q4_0.data(), stride, nb, want.data());
      t.pack_q4_0x16(q4_0.data(), stride, nb, got.data());
      check(want == got, tag + "Q4_0x16 = the scalar packing");
      std::vector<uint8_t> want_k(nb * kPackedQ4KBytes), got_k(want_k.size(), 0);
      pack_q4_Kx16(q4_K.data(), stride, nb, want_k.data());
      t.pack_q4_Kx16(q4_K.data(), stride, nb, got_k.data());
      check(want_k == got_k, tag + "Q4_Kx16 = the scalar packing");
      std::vector<BlockQ8_0> q8_0(kPackRows * stride);
      random_blocks(q8_0);
      std::vector<uint8_t> want_8(nb * kPackedQ8_0BlockBytes), got_8(want_8.size(), 0);
      pack_q8_0x16(q8_0.data(), stride, nb, want_8.data());
      t.pack_q8_0x16(q8_0.data(), stride, nb, got_8.data());
      check(want_8 == got_8, tag + "Q8_0x16 = the scalar packing");
      std::vector<BlockQ5_K> q5_K(kPackRows * stride);
      random_blocks(q5_K);
      std::vector<uint8_t> want_5(nb * kPackedQ5KBytes), got_5(want_5.size(), 0);
      pack_q5_Kx16(q5_K.data(), stride, nb, want_5.data());
      t.pack_q5_Kx16(q5_K.data(), stride, nb, got_5.data());
      check(want_5 == got_5, tag + "Q5_Kx16 = the scalar packing");
      std::vector<BlockQ6_K> q6_K(kPackRows * stride);
      random_blocks(q6_K);
      std::vector<uint8_t> want_6(nb * kPackedQ6KBytes), got_6(want_6.size(), 0);
      pack_q6_Kx16(q6_K.data(), stride, nb, want_6.data());
      t.pack_q6_Kx16(q6_K.data(), stride, nb, got_6.data());
      check(want_6 == got_6, tag + "Q6_Kx16 = the scalar packing");
      std::vector<BlockIQ4_XS> iq4_xs(kPackRows * stride);
      random_blocks(iq4_xs);
      std::vector<uint8_t> want_x(nb * kPackedIQ4XSBytes), got_x(want_x.size(), 0);
      pack_iq4_xsx16(iq4_xs.data(), stride, nb, want_x.data());
      t.pack_iq4_xsx16(iq4_xs.data(), stride, nb, got_x.data());
      check(want_x == got_x, tag + "IQ4_XSx16 = the scalar packing");
      std::vector<BlockQ5_0> q5_0(kPackRows * stride);
      random_blocks(q5_0);
      std::vector<uint8_t> want_q5(nb * kPackedQ5_0BlockBytes), got_q5(want_q5.size(), 0);
      pack_q5_0x16(q5_0.data(), stride, nb, want_q5.data());
      t.pack_q5_0x16(q5_0.data(), stride, nb, got_q5.data());
      check(want_q5 == got_q5, tag + "Q5_0x16 = the scalar packing");
      std::vector<BlockQ4_1> q4_1(kPackRows * stride);
      std::vector<BlockQ5_1> q5_1(kPackRows * stride);
      random_blocks(q4_1);
      random_blocks(q5_1);
      std::vector<uint8_t> want_41(nb * kPackedQ4_1BlockBytes), got_41(want_41.size(), 0);
      std::vector<uint8_t> want_51(nb * kPackedQ5_1BlockBytes), got_51(want_51.size(), 0);
      pack_q4_1x16(q4_1.data(), stride, nb, want_41.data());
      t.pack_q4_1x16(q4_1.data(), stride, nb, got_41.data());
      pack_q5_1x16(q5_1.data(), stride, nb, want_51.data());
      t.pack_q5_1x16(q5_1.data(), stride, nb, got_51.data());
      check(want_41 == got_41, tag + "Q4_1x16 = the scalar packing");
      check(want_51 == got_51, tag + "Q5_1x16 = the scalar packing");
    }
  }
}

// The checks every packed format's test shares, over kMaxPackedActivations activations: the
// table's group kernel for 1 to 8 of them and its one-row kernel bit for bit against the
// reference, and the reference against the unpacked dot product up to rounding.
//   reference(n_x, out), gemm(n_x, out): a group kernel on activations [0, n_x)
//   row_dot(r, j), plain(r, j): row r against activation j, packed and as in the file
//   near(plain, packed, j): whether the two agree up to rounding
using PackedGroupRun = std::function<void(int n_x, float* out)>;
template <typename RowDot, typename Plain, typename Near>
static void check_packed_group(const std::string& tag, const PackedGroupRun& reference, const PackedGroupRun& gemm, RowDot row_dot,
                               Plain plain, Near near) {
  for (int n_x = 1; n_x <= kMaxPackedActivations; n_x++) {  // every way a batch splits into fours and the rest
    std::vector<float> want(n_x * kPackRows), got(n_x * kPackRows);
    reference(n_x, want.data());
    gemm(n_x, got.data());
    check(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)) == 0,
          tag + "gemm bit-identical to the reference, " + std::to_string(n_x) + " activations");
  }
  std::vector<float> want(kMaxPackedActivations * kPackRows);
  reference(kMaxPackedActivations, want.data());
  bool rows_equal = true, near_plain = true;
  for (int j = 0; j < kMaxPackedActivations; j++) {
    for (int r = 0; r < kPackRows; r++) {
      const float one = row_dot(r, j);
      rows_equal = rows_equal && std::memcmp(&one, &want[j * kPackRows + r], sizeof one) == 0;
      near_plain = near_plain && near(plain(r, j), want[j * kPackRows + r], j);
    }
  }
  check(rows_equal, tag + "single row = its lane of the group");
  check(near_plain, tag + "= the unpacked dot product up to rounding");
}

// Eight activations of n values for the 32-value packed formats, quantised by
// `quantize(x, n, out)`: normal values, one all positive and one all negative (Σx at its
// extremes).
template <typename Activation>
static std::vector<std::vector<Activation>> packed_32_activations(std::mt19937& rng, int64_t n,
                                                                  void (*quantize)(const float*, Activation*, int64_t)) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<Activation>> xq(kMaxPackedActivations, std::vector<Activation>(n / 32));
  for (int a = 0; a < kMaxPackedActivations; a++) {
    std::vector<float> x(n);
    for (float& v : x) v = a == 7 ? std::fabs(normal(rng)) : a == 6 ? -std::fabs(normal(rng)) : normal(rng);
    quantize(x.data(), xq[a].data(), n);
  }
  return xq;
}

static bool near_32(float plain, float packed, int) { return close(plain, packed, std::fabs(plain) + 1); }

// check_packed_group for the packed 32-value formats against Q8_0 activations with their block
// terms (Q8_0×16, IQ4_NL×16, Q5_0×16); `plain(row r, activation)` is the unpacked dot product.
using PackedGemm = void (*)(const uint8_t*, int64_t, const BlockQ8_0* const*, const Q8_0BlockTerms* const*, int, float*);
using PackedRowDot = float (*)(const uint8_t*, int64_t, int, const BlockQ8_0*, const Q8_0BlockTerms*);
template <typename PlainDot>
static void check_packed_32(const std::string& tag, std::mt19937& rng, const std::vector<uint8_t>& packed, int64_t n, PackedGemm reference,
                            PackedGemm gemm, PackedRowDot row_dot, PlainDot plain) {
  const int64_t nb = n / 32;
  const auto xq = packed_32_activations<BlockQ8_0>(rng, n, scalar_table().quantize_row_q8_0);
  std::vector<std::vector<Q8_0BlockTerms>> terms(kMaxPackedActivations, std::vector<Q8_0BlockTerms>(nb));
  const BlockQ8_0* xs[kMaxPackedActivations];
  const Q8_0BlockTerms* xterms[kMaxPackedActivations];
  for (int a = 0; a < kMaxPackedActivations; a++) {
    q8_0_block_terms(xq[a].data(), terms[a].data(), nb);
    xs[a] = xq[a].data();
    xterms[a] = terms[a].data();
  }
  check_packed_group(
      tag, [&](int n_x, float* out) { reference(packed.data(), nb, xs, xterms, n_x, out); },
      [&](int n_x, float* out) { gemm(packed.data(), nb, xs, xterms, n_x, out); },
      [&](int r, int j) { return row_dot(packed.data(), nb, r, xs[j], xterms[j]); }, [&](int r, int j) { return plain(r, xs[j]); }, near_32);
}

// 16 rows of nb random 32-value blocks (Q8_0, IQ4_NL: an F16 scale and code bytes) for the
// packed tests: small positive scales, random code bytes, and the extreme code bytes `low` and
// `high` in whole blocks (row 2's first, row 5's last).
template <typename Block, typename Code>
static std::vector<Block> random_rows_32(std::mt19937& rng, int64_t nb, Code low, Code high) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<Block> rows(kPackRows * nb);
  for (Block& b : rows) {
    b.d = fp32_to_fp16(0.001f + 0.01f * std::fabs(normal(rng)));
    for (auto& q : b.qs) q = static_cast<Code>(rng() & 0xff);
  }
  std::fill(std::begin(rows[2 * nb].qs), std::end(rows[2 * nb].qs), low);
  std::fill(std::begin(rows[5 * nb + nb - 1].qs), std::end(rows[5 * nb + nb - 1].qs), high);
  return rows;
}

// Q8_0 packed 16 rows at a time: every ISA's packed kernels give exactly the reference's value
// per row (kernels.h), whatever the number of activations, codes of −128 and 127 included, and
// the unpacked dot product's up to rounding.
static void test_packed_q8_0(const KernelTable& t, int64_t n) {
  const std::string tag = std::string(t.isa) + " Q8_0x16 n=" + std::to_string(n) + ": ";
  std::mt19937 rng(static_cast<unsigned>(n) + 29);
  const int64_t nb = n / 32;
  const std::vector<BlockQ8_0> rows = random_rows_32<BlockQ8_0>(rng, nb, int8_t(-128), int8_t(127));
  std::vector<uint8_t> packed(nb * kPackedQ8_0BlockBytes);
  pack_q8_0x16(rows.data(), nb, nb, packed.data());
  check(packed.size() == rows.size() * sizeof(BlockQ8_0), tag + "packing keeps the size");
  check_packed_32(tag, rng, packed, n, gemm_q8_0x16_reference, t.gemm_q8_0x16, t.dot_q8_0x16_row,
                  [&](int r, const BlockQ8_0* x) { return scalar_table().dot_q8_0_q8_0(rows.data() + r * nb, x, n); });
}

// IQ4_NL packed 16 rows at a time (Q4_0's layout, codes looked up): every ISA's packed kernels
// give exactly the reference's value per row, whatever the number of activations, the extreme
// codes (−127, 113) in whole blocks included, and the unpacked dot product's up to rounding.
static void test_packed_iq4_nl(const KernelTable& t, int64_t n) {
  const std::string tag = std::string(t.isa) + " IQ4_NLx16 n=" + std::to_string(n) + ": ";
  std::mt19937 rng(static_cast<unsigned>(n) + 31);
  const int64_t nb = n / 32;
  // Code bytes 0x00 and 0xff: −127 and 113 everywhere.
  const std::vector<BlockIQ4_NL> rows = random_rows_32<BlockIQ4_NL>(rng, nb, uint8_t(0x00), uint8_t(0xff));
  std::vector<uint8_t> packed(nb * kPackedBlockBytes);
  pack_q4_0x16(reinterpret_cast<const BlockQ4_0*>(rows.data()), nb, nb, packed.data());
  const BlockTypeKernels* plain = block_type_kernels(scalar_table(), GgmlType::IQ4_NL);
  check_packed_32(tag, rng, packed, n, gemm_iq4_nlx16_reference, t.gemm_iq4_nlx16, t.dot_iq4_nlx16_row,
                  [&](int r, const BlockQ8_0* x) { return plain->dot(rows.data() + r * nb, x, n); });
}

// Q5_0 packed 16 rows at a time (Q4_0's code vectors and the rows' qh words): every ISA's
// packed kernels give exactly the reference's value per row, whatever the number of
// activations, the extreme codes (−16, 15) in whole blocks included, and the unpacked dot
// product's up to rounding.
static void test_packed_q5_0(const KernelTable& t, int64_t n) {
  const std::string tag = std::string(t.isa) + " Q5_0x16 n=" + std::to_string(n) + ": ";
  std::mt19937 rng(static_cast<unsigned>(n) + 37);
  const int64_t nb = n / 32;
  std::vector<BlockQ5_0> rows = random_rows_32<BlockQ5_0>(rng, nb, uint8_t(0x00), uint8_t(0xff));
  for (BlockQ5_0& b : rows) {
    for (uint8_t& h : b.qh) h = static_cast<uint8_t>(rng() & 0xff);
  }
  std::memset(rows[2 * nb].qh, 0x00, 4);           // every code −16
  std::memset(rows[5 * nb + nb - 1].qh, 0xff, 4);  // every code 15
  std::vector<uint8_t> packed(nb * kPackedQ5_0BlockBytes);
  pack_q5_0x16(rows.data(), nb, nb, packed.data());
  check(packed.size() == rows.size() * sizeof(BlockQ5_0), tag + "packing keeps the size");
  const BlockTypeKernels* plain = block_type_kernels(scalar_table(), GgmlType::Q5_0);
  check_packed_32(tag, rng, packed, n, gemm_q5_0x16_reference, t.gemm_q5_0x16, t.dot_q5_0x16_row,
                  [&](int r, const BlockQ8_0* x) { return plain->dot(rows.data() + r * nb, x, n); });
}

// Q4_1 and Q5_1 packed 16 rows at a time (Q4_0's code vectors, Q5_1's fifth bits, the rows'
// m): every ISA's packed kernels give exactly the reference's value per row against Q8_1
// activations, whatever their number, the extreme codes in whole blocks included, and the
// unpacked dot product's up to rounding.
template <typename Block>
static void test_packed_affine(const KernelTable& t, int64_t n) {
  constexpr bool kQ5 = std::is_same_v<Block, BlockQ5_1>;
  const std::string tag = std::string(t.isa) + (kQ5 ? " Q5_1x16" : " Q4_1x16") + " n=" + std::to_string(n) + ": ";
  std::mt19937 rng(static_cast<unsigned>(n) + (kQ5 ? 43 : 41));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t nb = n / 32;
  std::vector<Block> rows = random_rows_32<Block>(rng, nb, uint8_t(0x00), uint8_t(0xff));
  for (Block& b : rows) {
    b.m = fp32_to_fp16(-0.05f * std::fabs(normal(rng)));
    if constexpr (kQ5) {
      for (uint8_t& h : b.qh) h = static_cast<uint8_t>(rng() & 0xff);
    }
  }
  if constexpr (kQ5) {
    std::memset(rows[2 * nb].qh, 0x00, 4);           // every code 0
    std::memset(rows[5 * nb + nb - 1].qh, 0xff, 4);  // every code 31
  }
  std::vector<uint8_t> packed(nb * kPackRows * sizeof(Block));
  if constexpr (kQ5) pack_q5_1x16(rows.data(), nb, nb, packed.data());
  else pack_q4_1x16(rows.data(), nb, nb, packed.data());
  const auto reference = kQ5 ? gemm_q5_1x16_reference : gemm_q4_1x16_reference;
  const auto gemm = kQ5 ? t.gemm_q5_1x16 : t.gemm_q4_1x16;
  const auto row_dot = kQ5 ? t.dot_q5_1x16_row : t.dot_q4_1x16_row;
  const BlockTypeKernels* plain = block_type_kernels(scalar_table(), kQ5 ? GgmlType::Q5_1 : GgmlType::Q4_1);
  const auto xq = packed_32_activations<BlockQ8_1>(rng, n, scalar_table().quantize_row_q8_1);
  const BlockQ8_1* xs[kMaxPackedActivations];
  for (int a = 0; a < kMaxPackedActivations; a++) xs[a] = xq[a].data();
  check_packed_group(
      tag, [&](int n_x, float* out) { reference(packed.data(), nb, xs, n_x, out); },
      [&](int n_x, float* out) { gemm(packed.data(), nb, xs, n_x, out); },
      [&](int r, int j) { return row_dot(packed.data(), nb, r, xs[j]); },
      [&](int r, int j) { return plain->dot(rows.data() + r * nb, xs[j], n); }, near_32);
}

// Q4_K and Q5_K packed 16 rows at a time: every ISA's packed kernels give exactly the
// reference's value per row (kernels.h), whatever the number of activations, and the unpacked
// dot product's up to rounding.
template <typename Block>
struct K4Packing;
template <>
struct K4Packing<BlockQ4_K> {
  static constexpr const char* name = "Q4_Kx16";
  static constexpr size_t bytes = kPackedQ4KBytes;
  static constexpr auto pack = pack_q4_Kx16;
  static constexpr auto reference = gemm_q4_Kx16_reference;
  static constexpr auto gemm = &KernelTable::gemm_q4_Kx16;
  static constexpr auto row = &KernelTable::dot_q4_Kx16_row;
  static constexpr auto plain = &KernelTable::q4_K;
};
template <>
struct K4Packing<BlockQ5_K> {
  static constexpr const char* name = "Q5_Kx16";
  static constexpr size_t bytes = kPackedQ5KBytes;
  static constexpr auto pack = pack_q5_Kx16;
  static constexpr auto reference = gemm_q5_Kx16_reference;
  static constexpr auto gemm = &KernelTable::gemm_q5_Kx16;
  static constexpr auto row = &KernelTable::dot_q5_Kx16_row;
  static constexpr auto plain = &KernelTable::q5_K;
};

template <>
struct K4Packing<BlockQ6_K> {
  static constexpr const char* name = "Q6_Kx16";
  static constexpr size_t bytes = kPackedQ6KBytes;
  static constexpr auto pack = pack_q6_Kx16;
  static constexpr auto reference = gemm_q6_Kx16_reference;
  static constexpr auto gemm = &KernelTable::gemm_q6_Kx16;
  static constexpr auto row = &KernelTable::dot_q6_Kx16_row;
  static constexpr auto plain = &KernelTable::q6_K;
};

template <>
struct K4Packing<BlockIQ4_XS> {
  static constexpr const char* name = "IQ4_XSx16";
  static constexpr size_t bytes = kPackedIQ4XSBytes;
  static constexpr auto pack = pack_iq4_xsx16;
  static constexpr auto reference = gemm_iq4_xsx16_reference;
  static constexpr auto gemm = &KernelTable::gemm_iq4_xsx16;
  static constexpr auto row = &KernelTable::dot_iq4_xsx16_row;
  static constexpr auto plain = &KernelTable::iq4_xs;
};

template <typename Block>
static void test_packed_k4(const KernelTable& t) {
  using P = K4Packing<Block>;
  const std::string tag = std::string(t.isa) + " " + P::name + ": ";
  std::mt19937 rng(23);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = 1536, nb = n / 256;
  std::vector<Block> rows(kPackRows * nb);
  for (Block& b : rows) {
    auto* bytes = reinterpret_cast<uint8_t*>(&b);
    for (size_t i = 0; i < sizeof b; i++) bytes[i] = static_cast<uint8_t>(rng());
    b.d = fp32_to_fp16(0.001f + 0.01f * std::fabs(normal(rng)));
    if constexpr (!std::is_same_v<Block, BlockQ6_K> && !std::is_same_v<Block, BlockIQ4_XS>) {
      b.dmin = fp32_to_fp16(0.001f + 0.01f * std::fabs(normal(rng)));
    }
  }
  if constexpr (std::is_same_v<Block, BlockIQ4_XS>) {
    rows[3 * nb + 1].d = 0;                          // an all-zero-scale block
    rows[5 * nb + 2].scales_h = 0xffff;              // every scale 31
    std::memset(rows[5 * nb + 2].scales_l, 0xff, 4);
    std::memset(rows[5 * nb + 2].qs, 0x00, 128);     // every code −127
    rows[6 * nb + 3].scales_h = 0;                   // every scale −32
    std::memset(rows[6 * nb + 3].scales_l, 0x00, 4);
    std::memset(rows[6 * nb + 3].qs, 0x00, 128);     // every code −127
    std::memset(rows[7 * nb + 4].qs, 0xff, 128);     // every code 113
  } else if constexpr (std::is_same_v<Block, BlockQ6_K>) {
    rows[3 * nb + 1].d = 0;                                          // an all-zero-scale block
    std::memset(rows[5 * nb + 2].scales, 0x80, 16);                  // every scale −128
    std::memset(rows[6 * nb + 3].ql, 0xff, 128);                     // every code 63
    std::memset(rows[6 * nb + 3].qh, 0xff, 64);
    std::memset(rows[7 * nb + 4].scales, 0x7f, 16);                  // every scale 127
  } else {
    rows[3 * nb + 1].d = rows[3 * nb + 1].dmin = 0;  // an all-zero-scale block
    std::memset(rows[5 * nb + 2].scales, 0xff, 12);   // all scales and mins 63
    std::memset(rows[6 * nb + 3].qs, 0xff, 128);      // every code 15 (Q5_K: 31)
    if constexpr (std::is_same_v<Block, BlockQ5_K>) std::memset(rows[6 * nb + 3].qh, 0xff, 32);
  }
  std::vector<uint8_t> packed(P::bytes * nb);
  P::pack(rows.data(), nb, nb, packed.data());
  check(packed.size() == rows.size() * sizeof(Block), tag + "packing keeps the size");
  std::vector<std::vector<BlockQ8_K>> xq(kMaxPackedActivations, std::vector<BlockQ8_K>(nb));
  const BlockQ8_K* xs[kMaxPackedActivations];
  for (int j = 0; j < kMaxPackedActivations; j++) {
    std::vector<float> x(n);
    // Activation 6 is constant: every code −127, which against row 6's largest codes gives the
    // largest partial sums a kernel can meet (16-bit sums that add too many overflow there).
    for (float& v : x) v = j == 6 ? 1.0f : normal(rng) * (j == 7 ? 1000.0f : 1.0f);
    t.quantize_row_q8_K(x.data(), xq[j].data(), n);
    xs[j] = xq[j].data();
  }
  check_packed_group(
      tag, [&](int n_x, float* out) { P::reference(packed.data(), nb, xs, n_x, out); },
      [&](int n_x, float* out) { (t.*P::gemm)(packed.data(), nb, xs, n_x, out); },
      [&](int r, int j) { return (t.*P::row)(packed.data(), nb, r, xs[j]); },
      [&](int r, int j) { return (scalar_table().*P::plain).dot(&rows[r * nb], xs[j], n); },
      // Activation 7 is a thousand times larger.
      [](float plain, float packed, int j) { return std::fabs(plain - packed) <= 1e-4f * (std::fabs(plain) + 1) * (j == 7 ? 1000 : 1); });
}

// Subnormal floats are flushed on every thread that computes (runtime/float_mode.h): the
// pool's workers for good, the calling thread (Node's) only inside a scope.
static void test_float_mode() {
  volatile float tiny = 1e-39f;  // subnormal: FLT_MIN is 1.18e-38
  volatile float one = 1.0f;
  const bool flushed_before = denormals_flushed_on_this_thread();
  check(!flushed_before && tiny * one != 0.0f, "float mode: the calling thread keeps subnormals by default");
  {
    DenormalsFlushedScope scope;
    check(denormals_flushed_on_this_thread() && tiny * one == 0.0f, "float mode: inside the scope a subnormal operand is zero");
    volatile float small = 1e-30f;
    check(small * small == 0.0f, "float mode: inside the scope a subnormal result is zero");
  }
  check(!denormals_flushed_on_this_thread() && tiny * one != 0.0f, "float mode: the scope restores the caller's mode");
  ThreadPool pool(3);
  std::vector<int> workers_flushed(3, 0);
  pool.run_on_all([&](int w) { workers_flushed[w] = denormals_flushed_on_this_thread() ? 1 : 0; });
  check(workers_flushed[1] == 1 && workers_flushed[2] == 1, "float mode: the pool's workers flush subnormals");
}

// The exact operations and the portable math agree with a correct C library (glibc here):
// bit for bit where the operation is exactly defined, within an ulp where it is not.
static void test_exact_ops() {
  uint64_t state = 88172645463325252ull;
  auto rnd = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<uint32_t>(state);
  };
  int fma_bad = 0, round_bad = 0, exp_far = 0, trig_far = 0;
  for (int i = 0; i < 2000000; i++) {
    const float a = static_cast<float>(rnd() >> 8) / (1 << 12), b = static_cast<float>(rnd() >> 8) / (1 << 20);
    const float c = (i & 1 ? 1.0f : -1.0f) * static_cast<float>(rnd() >> 8) / (1 << 8);
    if (st::kernels::fma_exact(a, b, c) != std::fma(a, b, c)) fma_bad++;
    const float x = static_cast<float>(static_cast<int32_t>(rnd())) / 65536.0f;
    if (static_cast<float>(st::kernels::round_half_away(x)) != std::roundf(x)) round_bad++;
    if (static_cast<float>(st::kernels::round_half_even(x)) != std::nearbyint(x)) round_bad++;
    const float e = static_cast<float>(static_cast<int32_t>(rnd())) / 2.2e7f;  // about ±98
    const float mine = st::portable_math::exp(e), libm = std::exp(e);  // glibc's is not always correctly rounded
    int32_t mine_bits, libm_bits;
    std::memcpy(&mine_bits, &mine, 4);
    std::memcpy(&libm_bits, &libm, 4);
    if (std::abs(mine_bits - libm_bits) > 1) exp_far++;
    const double t = static_cast<double>(rnd()) / 4096.0;  // RoPE angles up to 1e6
    double s, co;
    st::portable_math::sincos(t, &s, &co);
    if (std::fabs(s - std::sin(t)) > 1e-15 || std::fabs(co - std::cos(t)) > 1e-15) trig_far++;
  }
  check(fma_bad == 0, "fma_exact = fma, bit for bit (" + std::to_string(fma_bad) + " differ)");
  check(st::kernels::round_half_away(0.49999997f) == 0 && st::kernels::round_half_away(-2.5f) == -3 && round_bad == 0,
        "round_half_away = roundf and round_half_even = nearbyint (" + std::to_string(round_bad) + " differ)");
  check(exp_far == 0, "portable exp within an ulp of expf (" + std::to_string(exp_far) + " further)");
  check(trig_far == 0, "portable sin and cos within 1e-15 of libm's (" + std::to_string(trig_far) + " further)");
  const double inv_freq = st::portable_math::pow(1.5e6, -2.0 * 17 / 128);
  check(std::fabs(inv_freq / std::pow(1.5e6, -2.0 * 17 / 128) - 1) < 1e-14, "portable pow close to libm's");
}

// Sampling's scans: every table's first_max and first_above give the scalar loops' indices (and
// the very value, sign of a zero included), over ties, NaNs, ±0, ±inf, every tail length and a
// whole vocabulary; the scalar ones give what their definitions say.
// F32 → F16 rows: every table's conversion is fp32_to_fp16 bit for bit, with subnormals flushed
// (the engine's threads) or not: ties to even at every exponent, F16 subnormals and the values
// that round into or out of them, float subnormals, overflow to infinity, NaNs with payloads,
// and every tail length.
static void test_to_f16(const KernelTable& t) {
  std::vector<float> x;
  std::mt19937 rng(13);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 200000; i++) {
    const uint32_t b = bits(rng);
    float f;
    std::memcpy(&f, &b, 4);
    x.push_back(f);  // every exponent, NaNs with any payload among them
  }
  std::uniform_real_distribution<float> wide(-70000.0f, 70000.0f), small(-1e-4f, 1e-4f), tiny(-1e-7f, 1e-7f);
  for (int i = 0; i < 50000; i++) x.insert(x.end(), {wide(rng), small(rng), tiny(rng)});
  for (uint32_t half = 0; half < 0x7c00; half++) {  // each F16's value and the ties around it
    const float v = fp16_to_fp32(static_cast<uint16_t>(half)), next = fp16_to_fp32(static_cast<uint16_t>(half + 1));
    const float mid = v + (next - v) / 2;
    x.insert(x.end(), {v, -v, mid, -mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f)});
  }
  x.insert(x.end(), {65504.0f, 65519.0f, 65520.0f, 1e-39f, -1e-39f, 1e-45f, NAN, -NAN, INFINITY, -INFINITY, 0.0f, -0.0f});
  const std::string tag = std::string(t.isa) + ": to_f16";
  for (bool flushed : {false, true}) {
    std::unique_ptr<DenormalsFlushedScope> scope(flushed ? new DenormalsFlushedScope : nullptr);
    std::vector<uint16_t> mine(x.size() + 1, 0xdead);
    t.to_f16(x.data(), mine.data(), static_cast<int64_t>(x.size()));
    size_t differ = 0;
    for (size_t i = 0; i < x.size(); i++) differ += mine[i] != fp32_to_fp16(x[i]);
    check(differ == 0 && mine[x.size()] == 0xdead, tag + (flushed ? " (flushed)" : "") + " = fp32_to_fp16 for every value, " +
                                                       std::to_string(differ) + " differ");
  }
  bool tails = true;
  for (int64_t n = 0; n <= 19; n++) {
    std::vector<uint16_t> mine(size_t(n) + 1, 0xdead);
    t.to_f16(x.data() + 3, mine.data(), n);
    for (int64_t i = 0; i < n; i++) tails &= mine[size_t(i)] == fp32_to_fp16(x[size_t(i) + 3]);
    tails &= mine[size_t(n)] == 0xdead;
  }
  check(tails, tag + ": every length from 0 to 19, nothing written beyond n");
}

static void test_sampling_scans(const KernelTable& t) {
  const std::string tag = std::string(t.isa) + ": ";
  std::mt19937 rng(11);
  std::vector<std::vector<float>> arrays;
  const auto ties = [&](size_t n, int distinct, float nan_share) {
    std::vector<float> v(n);
    std::uniform_int_distribution<int> level(-distinct, distinct);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (float& x : v) x = u(rng) < nan_share ? NAN : static_cast<float>(level(rng)) * 0.5f;
    return v;
  };
  for (size_t n = 0; n <= 70; n++) arrays.push_back(ties(n, 3, n % 3 == 0 ? 0.2f : 0.0f));
  for (int distinct : {2, 40, 100000}) arrays.push_back(ties(151936, distinct, 0.0f));
  arrays.push_back(ties(151936, 1000, 0.01f));
  {
    std::vector<float> v = ties(151936, 50, 0.0f);
    v.back() = 1000.0f;  // the largest last, in the tail of every vector width
    arrays.push_back(v);
    v[0] = NAN;  // a NaN first does not count
    arrays.push_back(v);
  }
  arrays.push_back({-0.0f, 0.0f, -1.0f, 0.0f});
  arrays.push_back({-1.0f, 0.0f, -0.0f});
  arrays.push_back(std::vector<float>(37, NAN));
  arrays.push_back(std::vector<float>(37, -INFINITY));
  arrays.push_back({NAN, -INFINITY, NAN, -INFINITY});
  arrays.push_back({1.0f, INFINITY, NAN, INFINITY, 2.0f});
  size_t max_bad = 0, above_bad = 0, definition_bad = 0;
  for (const std::vector<float>& v : arrays) {
    const int64_t n = static_cast<int64_t>(v.size());
    float mine = 0, want = 0;
    const int64_t got = t.first_max(v.data(), n, &mine), expect = scalar_table().first_max(v.data(), n, &want);
    if (got != expect || (got >= 0 && std::memcmp(&mine, &want, sizeof(float)) != 0)) max_bad++;
    // The definition: the first index of the largest value that is not NaN.
    int64_t first = -1;
    for (int64_t i = 0; i < n; i++) {
      if (!std::isnan(v[i]) && (first < 0 || v[i] > v[first])) first = i;
    }
    if (expect != first) definition_bad++;
    std::vector<float> thresholds = {NAN, -INFINITY, INFINITY, 0.0f, -0.0f, 1e30f};
    for (int k = 0; k < 6 && n > 0; k++) thresholds.push_back(v[static_cast<size_t>(rng() % v.size())]);
    for (float threshold : thresholds) {
      for (int64_t from : {int64_t(0), n / 3, n - 1}) {
        if (from < 0) continue;
        const int64_t a = t.first_above(v.data() + from, n - from, threshold);
        const int64_t b = scalar_table().first_above(v.data() + from, n - from, threshold);
        int64_t d = n - from;
        for (int64_t i = from; i < n; i++) {
          if (v[i] > threshold) {
            d = i - from;
            break;
          }
        }
        if (a != b) above_bad++;
        if (b != d) definition_bad++;
      }
    }
  }
  check(max_bad == 0, tag + "first_max = scalar over " + std::to_string(arrays.size()) + " arrays (" + std::to_string(max_bad) + " differ)");
  check(above_bad == 0, tag + "first_above = scalar (" + std::to_string(above_bad) + " differ)");
  check(definition_bad == 0, tag + "the scalar scans are their definitions (" + std::to_string(definition_bad) + " differ)");
}

// The softmax exponentials: every table's exp_shifted gives the scalar portable exp bit for bit,
// over the whole range a softmax reaches, its edges (−104, 88.8, NaN, ±inf, subnormal results),
// every tail length, and with subnormals flushed as the engine's threads run.
static void test_exp_shifted(const KernelTable& t) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> wide(-120.0f, 100.0f), softmax(-30.0f, 0.0f);
  std::vector<float> args;
  for (int i = 0; i < 1000000; i++) args.push_back(i & 1 ? wide(rng) : softmax(rng));
  for (float edge : {-104.0f, std::nextafter(-104.0f, 0.0f), std::nextafter(-104.0f, -200.0f), 88.8f,
                     std::nextafter(88.8f, 0.0f), std::nextafter(88.8f, 100.0f), -87.3f, -103.5f, 0.0f, -0.0f,
                     NAN, INFINITY, -INFINITY, 1e-30f, -1e-30f, -1e30f, 1e30f})
    args.push_back(edge);
  const std::string tag = std::string(t.isa) + ": exp_shifted";
  for (bool flushed : {false, true}) {
    std::unique_ptr<DenormalsFlushedScope> scope(flushed ? new DenormalsFlushedScope : nullptr);
    for (float shift : {0.0f, 3.25f, -7.5f}) {
      std::vector<float> mine(args), want(args);
      t.exp_shifted(mine.data(), &shift, 1, static_cast<int64_t>(mine.size()));
      scalar_table().exp_shifted(want.data(), &shift, 1, static_cast<int64_t>(want.size()));
      size_t differ = 0;
      for (size_t i = 0; i < args.size(); i++) {
        const bool same = std::memcmp(&mine[i], &want[i], 4) == 0 || (std::isnan(mine[i]) && std::isnan(want[i]));
        if (!same) differ++;
      }
      check(differ == 0, tag + " = scalar bit for bit over " + std::to_string(args.size()) + " arguments, shift " +
                             std::to_string(shift) + (flushed ? ", subnormals flushed" : "") + " (" + std::to_string(differ) +
                             " differ)");
    }
  }
  const float half_shift = 0.5f;
  for (int64_t n = 0; n <= 9; n++) {  // every tail length, and nothing written past n
    std::vector<float> mine(16, -1.5f), want(16, -1.5f);
    t.exp_shifted(mine.data(), &half_shift, 1, n);
    scalar_table().exp_shifted(want.data(), &half_shift, 1, n);
    check(std::memcmp(mine.data(), want.data(), 16 * sizeof(float)) == 0, tag + " n=" + std::to_string(n));
  }
  // Rows of heads side by side (attention's position-major scores): lane j minus shifts[j],
  // for the lane counts attention uses (multiples of 8) and others, with partial last rows.
  for (int lanes : {3, 4, 8, 16, 64}) {
    std::vector<float> shifts(static_cast<size_t>(lanes));
    for (int j = 0; j < lanes; j++) shifts[j] = args[static_cast<size_t>(j) * 7919 % args.size()] * 0.25f;
    for (int64_t n : {int64_t(lanes) * 100, int64_t(lanes) * 3 + 5, int64_t(2)}) {
      std::vector<float> mine(args.begin(), args.begin() + n + 4), want(mine);
      t.exp_shifted(mine.data(), shifts.data(), lanes, n);
      scalar_table().exp_shifted(want.data(), shifts.data(), lanes, n);
      size_t differ = 0;
      for (size_t i = 0; i < mine.size(); i++) {
        if (!(std::memcmp(&mine[i], &want[i], 4) == 0 || (std::isnan(mine[i]) && std::isnan(want[i])))) differ++;
      }
      check(differ == 0, tag + " " + std::to_string(lanes) + " lanes, n=" + std::to_string(n) + " (" + std::to_string(differ) + " differ)");
    }
  }
  {  // the scalar definition itself: each lane its own shift
    std::vector<float> x = {1.0f, 2.0f, 1.0f, 2.0f};
    const float shifts[2] = {1.0f, 2.0f};
    scalar_table().exp_shifted(x.data(), shifts, 2, 4);
    check(x[0] == 1.0f && x[1] == 1.0f && x[2] == 1.0f && x[3] == 1.0f, "scalar exp_shifted: lane j shifted by shifts[j]");
  }
}

// The CPU feature checks agree with the flags Linux lists for the CPU (where it lists them):
// a check that said no on a CPU that has the feature would leave its table untested and unused.
static void test_cpu_features_match_the_os() {
#if defined(__linux__) && defined(__x86_64__)
  std::FILE* f = std::fopen("/proc/cpuinfo", "r");
  if (!f) return;
  std::string flags;
  char line[8192];
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "flags", 5) == 0) {
      flags = std::string(line) + " ";
      break;
    }
  }
  std::fclose(f);
  if (flags.empty()) return;
  auto has = [&](const char* flag) { return flags.find(" " + std::string(flag) + " ") != std::string::npos ||
                                            flags.find(" " + std::string(flag) + "\n") != std::string::npos; };
  const bool sse42 = has("ssse3") && has("sse4_1") && has("sse4_2") && has("popcnt");
  check(cpu_has_sse42() == sse42, "SSE4.2 detected as /proc/cpuinfo lists it");
  check(cpu_has_avx() == (sse42 && has("avx")), "AVX detected as /proc/cpuinfo lists it");  // Linux lists avx only when it saves YMM
  const bool avx2 = has("avx2") && has("fma") && has("f16c");
  check(cpu_has_avx2_fma_f16c() == avx2, "AVX2 detected as /proc/cpuinfo lists it");
  check(cpu_has_avx_vnni() == (avx2 && has("avx_vnni")), "AVX-VNNI detected as /proc/cpuinfo lists it");
  check(cpu_has_avx512_vnni() == (avx2 && has("avx512f") && has("avx512bw") && has("avx512vl") && has("avx512_vnni")),
        "AVX-512 VNNI detected as /proc/cpuinfo lists it");
#endif
}

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "decode") return decode_file(std::atoi(argv[2]), argv[3], argv[4]);
  std::vector<const KernelTable*> tables;
  // Every table this CPU can run (the others are nullptr).
  for (const KernelTable* t : {sse42_table(), avx_table(), avx2_table(), avxvnni_table(), avx512_table(), neon_table(), neondot_table()}) {
    if (t) tables.push_back(t);
  }
  // Halfway cases must round away from zero in every ISA.
  {
    float x[32] = {0};
    x[0] = 127.0f;
    x[1] = 2.5f;
    x[2] = -2.5f;
    x[3] = 0.5f;
    BlockQ8_0 a, b;
    scalar_table().quantize_row_q8_0(x, &a, 32);
    check(a.qs[1] == 3 && a.qs[2] == -3 && a.qs[3] == 1, "scalar rounds half away from zero");
    for (const KernelTable* t : tables) {
      t->quantize_row_q8_0(x, &b, 32);
      check(std::memcmp(&a, &b, sizeof a) == 0, std::string(t->isa) + " rounds like scalar");
    }
  }
  for (const KernelTable* t : tables) {
    for (int64_t n : {32, 64, 96, 288, 768, 1536, 4096}) test_table(scalar_table(), *t, n);
  }
  for (const KernelTable* t : tables) {
    if (!t->gemm_q4_0x16) continue;
    for (int64_t n : {32, 64, 768, 1536}) test_packed(*t, n);
  }
  for (int64_t n : {32, 768}) test_packed(scalar_table(), n);
  test_packed_rounding_edges(scalar_table());
  for (const KernelTable* t : tables) {
    if (std::string(t->isa) == "sse42" || std::string(t->isa) == "avx") {  // the tables held to the scalar values
      test_f16_as_scalar(*t);
      test_kquants_as_scalar(*t);
    }
  }
  for (const KernelTable* t : tables) {
    if (t->gemm_q4_0x16) test_packed_rounding_edges(*t);
  }
  for (const KernelTable* t : tables) {
    if (t->gemm_q4_Kx16) test_packed_k4<BlockQ4_K>(*t);
    if (t->gemm_q5_Kx16) test_packed_k4<BlockQ5_K>(*t);
    if (t->gemm_q6_Kx16) test_packed_k4<BlockQ6_K>(*t);
    if (t->gemm_iq4_xsx16) test_packed_k4<BlockIQ4_XS>(*t);
  }
  for (const KernelTable* t : tables) {
    if (!t->gemm_q8_0x16) continue;
    for (int64_t n : {32, 64, 768, 1536}) test_packed_q8_0(*t, n);
  }
  for (const KernelTable* t : tables) {
    if (!t->gemm_iq4_nlx16) continue;
    for (int64_t n : {32, 64, 768, 1536}) test_packed_iq4_nl(*t, n);
  }
  for (const KernelTable* t : tables) {
    if (!t->gemm_q5_0x16) continue;
    for (int64_t n : {32, 64, 768, 1536}) test_packed_q5_0(*t, n);
  }
  for (const KernelTable* t : tables) {
    if (t->gemm_q4_1x16) {
      for (int64_t n : {32, 64, 768, 1536}) test_packed_affine<BlockQ4_1>(*t, n);
    }
    if (t->gemm_q5_1x16) {
      for (int64_t n : {32, 64, 768, 1536}) test_packed_affine<BlockQ5_1>(*t, n);
    }
  }
  for (const KernelTable* t : tables) test_packing(*t);
  test_packing(scalar_table());
  test_float_mode();
  test_exact_ops();
  test_cpu_features_match_the_os();
  for (const KernelTable* t : tables) test_exp_shifted(*t);
  for (const KernelTable* t : tables) test_sampling_scans(*t);
  for (const KernelTable* t : tables) test_to_f16(*t);
  {
    std::vector<float> x = {0.0f, -1.0f, -104.5f, 89.0f};
    const float zero = 0.0f;
    scalar_table().exp_shifted(x.data(), &zero, 1, 4);
    check(x[0] == 1.0f && std::fabs(x[1] - 0.36787944f) < 1e-7f && x[2] == 0.0f && std::isinf(x[3]),
          "scalar exp_shifted: 1, 1/e, 0 below -104, inf above 88.8");
  }
  test_known_blocks();
  test_activation_forms(scalar_table());
  test_block_types(scalar_table());
  for (const KernelTable* t : tables) {
    test_activation_forms(*t);
    test_block_types(*t);
  }
  if (neon_table() && neondot_table()) test_same_bits(*neon_table(), *neondot_table());
  std::string isas = tables.empty() ? "scalar only" : "";
  for (const KernelTable* t : tables) isas += (isas.empty() ? "" : ", ") + std::string(t->isa);
  std::printf("kernels (%s): %d passed, %d failed\n", isas.c_str(), passed, failed);
  return failed == 0 ? 0 : 1;
}
