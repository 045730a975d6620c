// What the formats that pack 16 rows at a time (Q4_0x16, Q8_0x16, IQ4_NLx16, Q5_0x16, Q4_1x16, Q5_1x16, Q4_Kx16, Q5_Kx16,
// Q6_Kx16, IQ4_XSx16) share, whatever the packing: laying a tensor out in place, and the products:
// a 16-row group at a time for up to kMaxPackedActivations activations, and for a
// ReGLU's up rows, the activations that leave only a few of a group's neurons active go row
// by row (reading only those rows' bytes).
//   group_product(g, xs, m, out): out[t·16 + r] for group g, activations xs[0..m)
//   row_dot(g, r, x): row r of group g against one activation
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "format.h"
#include "kernels/kernels.h"

namespace st::packed_groups {

/**
 * Rewrites a tensor's rows, kRows at a time, from the file's blocks into a packed layout of the
 * same size, in place: each group is copied to a scratch buffer and packed from there
 * (`pack(src, dst)`) back into its place. The copy first: it reads the group front to back,
 * which the hardware prefetches, where the packing jumps between 16 rows; an expert just read
 * from storage is not in any cache (packing straight from it ran at 4.5-5 GB/s, this way
 * 7.8, a throwaway benchmark on the 4B's 663 KB matrices).
 */
template <typename Pack>
void lay_out_in_place(uint8_t* data, int64_t rows, size_t group_bytes, Pack pack) {
  thread_local std::vector<uint8_t> group;
  group.resize(group_bytes);
  for (int64_t g = 0; g < rows / kernels::kPackRows; g++) {
    std::memcpy(group.data(), data + g * group_bytes, group_bytes);
    pack(group.data(), data + g * group_bytes);
  }
}

// lay_out_in_place for a tensor of rows of nb Block blocks each, packed by `pack` (one of the
// kernel table's pack_…x16: 16 rows of a given stride and nb blocks into one group).
template <typename Block>
void lay_out_blocks(void (*pack)(const Block*, int64_t, int64_t, uint8_t*), uint8_t* data, int64_t rows, int64_t nb) {
  lay_out_in_place(data, rows, static_cast<size_t>(nb) * kernels::kPackRows * sizeof(Block),
                   [&](const uint8_t* src, uint8_t* dst) { pack(reinterpret_cast<const Block*>(src), nb, nb, dst); });
}

constexpr int64_t R = kernels::kPackRows;
constexpr int A = kernels::kMaxPackedActivations;

// A group's up rows go one by one when at most this many of its 16 gates are positive, else
// all 16 at once.
constexpr int kRowsOneByOne = 2;

template <typename GroupProduct>
void product(int64_t r0, int64_t r1, const void* const* xs, int n, float* out, size_t ldo, GroupProduct group_product) {
  float o[A * R];
  for (int64_t g = r0 / R; g < r1 / R; g++) {
    for (int t = 0; t < n; t += A) {
      const int m = std::min(A, n - t);
      group_product(g, xs + t, m, o);
      for (int j = 0; j < m; j++) std::copy(o + j * R, o + (j + 1) * R, out + (t + j) * ldo + (g * R - r0));
    }
  }
}

template <typename GroupProduct, typename RowDot>
void gated_product(int64_t r0, int64_t r1, const void* const* xs, int n, const float* gates, size_t ldg, float* out, size_t ldo,
                   GroupProduct group_product, RowDot row_dot) {
  float o[A * R];
  for (int64_t g = r0 / R; g < r1 / R; g++) {
    const int64_t c = g * R - r0;  // the group's first column in gates and out
    // Activations whose gates leave enough of the group active go 16 rows at a time, up to 8 together.
    const void* dense[A];
    int at[A];
    int m = 0;
    auto flush = [&] {
      group_product(g, dense, m, o);
      for (int j = 0; j < m; j++) {
        const float* gs = gates + at[j] * ldg + c;
        float* a = out + at[j] * ldo + c;
        // Every row's product, its bits then kept or cleared by a mask: no branch per neuron
        // (taken a third of the time, often mispredicted: 3-4 % of a prompt's time; the
        // compiler turned `gs > 0 ? gs·o : 0` back into one), and the same values.
        uint32_t kept[R];
        for (int r = 0; r < R; r++) {
          const float p = gs[r] * o[j * R + r];
          uint32_t bits;
          std::memcpy(&bits, &p, sizeof bits);
          kept[r] = bits & (0u - uint32_t(gs[r] > 0.0f));
        }
        std::memcpy(a, kept, sizeof kept);
      }
      m = 0;
    };
    for (int t = 0; t < n; t++) {
      const float* gs = gates + t * ldg + c;
      int active = 0;
      for (int r = 0; r < R; r++) active += gs[r] > 0.0f;
      if (active > kRowsOneByOne) {
        dense[m] = xs[t];
        at[m++] = t;
        if (m == A) flush();
        continue;
      }
      float* a = out + t * ldo + c;
      for (int r = 0; r < R; r++) a[r] = gs[r] > 0.0f ? gs[r] * row_dot(g, r, xs[t]) : 0.0f;
    }
    if (m > 0) flush();
  }
}

}  // namespace st::packed_groups
