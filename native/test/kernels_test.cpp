// Every SIMD kernel against the scalar reference on random data: identical Q8_0 activation
// bytes, dot products and AXPYs equal up to float summation order. Prints one line per check
// and "N passed, M failed" at the end; exits non-zero on any failure.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/fp16.h"
#include "kernels/kernels.h"

using namespace st;
using namespace st::kernels;

static int passed = 0, failed = 0;

static void check(bool ok, const std::string& what) {
  if (ok) passed++;
  else { failed++; std::printf("FAIL %s\n", what.c_str()); }
}

static bool close(float a, float b, float scale) { return std::fabs(a - b) <= 1e-5f * scale + 1e-6f; }

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
  std::vector<BlockQ4_0> w4(n * 4 / 32);
  for (size_t b = 0; b < w4.size(); b++) {
    w4[b].d = w8[b].d;
    for (int j = 0; j < 16; j++) w4[b].qs[j] = static_cast<uint8_t>((rng() & 15) | ((rng() & 15) << 4));
  }
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
    check(dots, tag + "dot_f16_f32_heads = dot_f16_f32 per head, bit for bit");
    check(axpys, tag + "axpy_f16_heads = axpy_f16 per head, bit for bit");
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
  std::vector<std::vector<int32_t>> sums(kMaxPackedActivations, std::vector<int32_t>(nb));
  const BlockQ8_0* xs[kMaxPackedActivations];
  const int32_t* xsums[kMaxPackedActivations];
  for (int a = 0; a < kMaxPackedActivations; a++) {
    std::vector<float> x(n);
    for (float& v : x) v = normal(rng);
    ref.quantize_row_q8_0(x.data(), xq[a].data(), n);
    q8_0_block_sums(xq[a].data(), sums[a].data(), nb);
    xs[a] = xq[a].data();
    xsums[a] = sums[a].data();
  }
  for (int n_x = 1; n_x <= kMaxPackedActivations; n_x++) {
    std::vector<float> want(n_x * kPackRows), got(n_x * kPackRows);
    ref.gemm_q4_0x16(packed.data(), nb, xs, xsums, n_x, want.data());
    t.gemm_q4_0x16(packed.data(), nb, xs, xsums, n_x, got.data());
    check(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)) == 0, tag + "gemm bit-identical to scalar, " + std::to_string(n_x) + " activations");
  }
  float group[kPackRows];
  t.gemm_q4_0x16(packed.data(), nb, xs, xsums, 1, group);
  bool rows_equal = true, near_plain = true;
  for (int r = 0; r < kPackRows; r++) {
    const float one = t.dot_q4_0x16_row(packed.data(), nb, r, xs[0], xsums[0]);
    rows_equal = rows_equal && std::memcmp(&one, &group[r], sizeof one) == 0;
    const float plain = ref.dot_q4_0_q8_0(rows.data() + r * nb, xs[0], n);
    near_plain = near_plain && close(plain, group[r], std::fabs(plain) + 1);
  }
  check(rows_equal, tag + "single row = its lane of the group");
  check(near_plain, tag + "= the unpacked dot product up to rounding");
}

int main() {
  std::vector<const KernelTable*> tables;
  if (avx2_table() && cpu_has_avx2_fma_f16c()) tables.push_back(avx2_table());
  if (avx512_table() && cpu_has_avx512_vnni()) tables.push_back(avx512_table());
  if (neon_table()) tables.push_back(neon_table());
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
  std::string isas = tables.empty() ? "scalar only" : "";
  for (const KernelTable* t : tables) isas += (isas.empty() ? "" : ", ") + std::string(t->isa);
  std::printf("kernels (%s): %d passed, %d failed\n", isas.c_str(), passed, failed);
  return failed == 0 ? 0 : 1;
}
