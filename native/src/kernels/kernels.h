// The compute kernels, kept per weight type and per instruction set (scalar, SSE4.2, AVX2+FMA,
// AVX-512 VNNI, NEON)
// and chosen once at run time by CPU detection. The model never names an ISA: it calls
// through `kernels::active()`.
//
// Activation formats ("prepared" x), as llama.cpp's CPU backend uses them so the two engines
// agree closely: Q4_0 and Q8_0 weights dot with the activation quantised to Q8_0 blocks, F16
// weights with an F16 activation, BF16 with BF16, F32 with F32.
#pragma once
#include <cstddef>
#include <cstdint>

#include "ggml_types.h"

namespace st::kernels {

// What the packed Q4_0 kernels take from each block of a Q8_0 activation besides its codes,
// made once per activation (q8_0_block_terms) rather than in their loops: the block's scale
// as a float, and the Q4_0 zero point's share of the block's integer product, −8·Σx (the
// kernels multiply the unsigned codes q, and Σ(q − 8)·x = Σq·x + zero). Read with a
// broadcast from memory, a load; converting the F16 scale and multiplying the sum in the
// loop took about five vector µops per activation and block of every 16-row group, which on
// cores with three vector ports (Intel's) compete with the multiply-adds.
struct Q8_0BlockTerms {
  float d;
  int32_t zero;
};

// The form a weight type's dot product takes its activation in (llama.cpp's choice for that
// type, so that the engines agree): Q8_0 for Q4_0, Q5_0, Q8_0 and IQ4_NL; Q8_1 for Q4_1 and
// Q5_1; Q8_K for the K-quants and IQ4_XS; F16/BF16/F32 for those types.
enum class ActivationForm { F32, F16, BF16, Q8_0, Q8_1, Q8_K };
ActivationForm activation_form(GgmlType t);

// One of the block types beyond Q4_0 and Q8_0 (Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K … Q6_K, IQ4_XS).
struct BlockTypeKernels {
  // One weight row of n elements (n a multiple of the type's block) against an activation in
  // the type's form. The integer part of each block is exact; the float part follows the
  // order of llama.cpp's reference loops (scalar) or sums in vector lanes (SIMD), so the ISAs
  // agree up to float rounding.
  float (*dot)(const void* w, const void* x, int64_t n);
  // n elements of a row, decoded: the values llama.cpp's dequantisation gives.
  void (*to_float)(const void* w, float* y, int64_t n);
  // Optional (nullptr: callers call dot four times): the row against four activations, each
  // block decoded once for all four (prefill). out[0..4), each what dot gives up to rounding.
  void (*dot4)(const void* w, const void* const* xs, int64_t n, float* out);
};

struct KernelTable {
  const char* isa;
  // x (n floats, n % 32 == 0) -> n/32 Q8_0 blocks.
  void (*quantize_row_q8_0)(const float* x, BlockQ8_0* y, int64_t n);
  // Dot products of one weight row (n elements) with a prepared activation.
  float (*dot_q4_0_q8_0)(const BlockQ4_0* w, const BlockQ8_0* x, int64_t n);
  // One weight row against four activations xs[0..4): each weight block is unpacked once for
  // four tokens (prefill). out[0..4).
  void (*dot_q4_0_q8_0_x4)(const BlockQ4_0* w, const BlockQ8_0* const* xs, int64_t n, float* out);
  float (*dot_q8_0_q8_0)(const BlockQ8_0* w, const BlockQ8_0* x, int64_t n);
  float (*dot_f32_f32)(const float* w, const float* x, int64_t n);
  float (*dot_f16_f32)(const uint16_t* w, const float* x, int64_t n);
  float (*dot_bf16_f32)(const uint16_t* w, const float* x, int64_t n);
  float (*dot_f16_f16)(const uint16_t* w, const uint16_t* x, int64_t n);
  float (*dot_bf16_bf16)(const uint16_t* w, const uint16_t* x, int64_t n);
  // y[0..n) += s · row[0..n): the sparse down projection adds whole neuron rows.
  void (*axpy_q4_0)(const BlockQ4_0* row, float s, float* y, int64_t n);
  void (*axpy_q8_0)(const BlockQ8_0* row, float s, float* y, int64_t n);
  void (*axpy_f32)(const float* row, float s, float* y, int64_t n);
  void (*axpy_f16)(const uint16_t* row, float s, float* y, int64_t n);
  void (*axpy_bf16)(const uint16_t* row, float s, float* y, int64_t n);
  // Optional (nullptr: callers loop over the one-row kernels above): one F16 row (a cached key
  // or value head) against m query heads, reading and converting the row once. Each result is
  // bit for bit what dot_f16_f32(row, qs[j], n) / axpy_f16(row, s[j], outs[j], n) gives.
  void (*dot_f16_f32_heads)(const uint16_t* row, const float* const* qs, int m, int64_t n, float* out);
  void (*axpy_f16_heads)(const uint16_t* row, const float* s, float* const* outs, int m, int64_t n);
  // Optional (nullptr where a table has none): Q4_0·Q8_0 taking the activation's per-block
  // sums Σx (from q8_0_block_sums), so the Q4_0 zero point (8) comes off once per block of
  // the activation instead of once per block of every weight row.
  float (*dot_q4_0_q8_0_sums)(const BlockQ4_0* w, const BlockQ8_0* x, const int32_t* xsum, int64_t n);
  void (*dot_q4_0_q8_0_x4_sums)(const BlockQ4_0* w, const BlockQ8_0* const* xs, const int32_t* const* xsums, int64_t n,
                                float* out);
  // Optional (nullptr: the model keeps Q4_0 rows as they are in the file): Q4_0 weights
  // packed 16 rows at a time (see pack_q4_0x16). One group of 16 rows (nb blocks each)
  // against n_x (1..kMaxPackedActivations) activations with their block terms
  // (q8_0_block_terms): out[t·16 + r] for activation t and row r.
  void (*gemm_q4_0x16)(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const Q8_0BlockTerms* const* xterms,
                       int n_x, float* out);
  // Row `lane` of a packed group against one activation: exactly the value gemm_q4_0x16
  // gives for that row (for the up rows of the few active neurons of a group).
  float (*dot_q4_0x16_row)(const uint8_t* group, int64_t nb, int lane, const BlockQ8_0* x, const Q8_0BlockTerms* xterms);

  // The activation forms of the other block types (x: n floats, n a multiple of 32 or 256).
  // An ISA's table that leaves these or the block types' kernels out gets the scalar ones.
  void (*quantize_row_q8_1)(const float* x, BlockQ8_1* y, int64_t n);
  void (*quantize_row_q8_K)(const float* x, BlockQ8_K* y, int64_t n);
  BlockTypeKernels q4_1, q5_0, q5_1, iq4_nl, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_xs;
  // Optional (nullptr: Q4_K rows stay as in the file): Q4_K packed 16 rows at a time (see
  // pack_q4_Kx16). One group of 16 rows (nb super-blocks each) against n_x
  // (1..kMaxPackedActivations) Q8_K activations: out[t·16 + r]; and one row of a group.
  void (*gemm_q4_Kx16)(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out);
  float (*dot_q4_Kx16_row)(const uint8_t* group, int64_t nb, int lane, const BlockQ8_K* x);

  // Optional (nullptr: callers call axpy_f16_heads row by row): value heads of n_rows
  // consecutive positions (1..kMaxAxpyRows) added to m outputs, outs[j] += s[r][j]·rows[r]
  // for r in order. Each output is bit for bit what axpy_f16_heads gives row after row; the
  // outputs stay in registers across the rows instead of making a round trip through memory
  // per row (attention's value sums at decode were bound by those stores).
  void (*axpy_f16_rows_heads)(const uint16_t* const* rows, int n_rows, const float* const* s, float* const* outs, int m, int64_t n);

  // Optional (nullptr: callers call dot_f16_f32_heads row by row): the key heads of n_rows
  // (1..kMaxDotRows) positions against m query heads, outs[r][j] bit for bit what
  // dot_f16_f32_heads(rows[r], qs, m, n) gives for head j. The rows' sums run side by side, so
  // the FMA latency of one row's chain no longer sets the pace (attention's key dots at decode).
  void (*dot_f16_f32_rows_heads)(const uint16_t* const* rows, int n_rows, const float* const* qs, int m, int64_t n,
                                 float* const* outs);

  // x[i] = portable_math::exp(x[i] − shifts[i % lanes]) for i in [0, n): attention's softmax,
  // thousands of exponentials per head per token, over rows of `lanes` heads side by side
  // (lanes = 1: one shift for all). Every table gives exactly the scalar values (the vector
  // versions do the same double-precision operations in the same order, lane by lane).
  void (*exp_shifted)(float* x, const float* shifts, int lanes, int64_t n);

  // Packing 16 rows into the layouts below (pack_q4_0x16, pack_q4_Kx16, pack_q8_0x16, pack_q5_Kx16, pack_q6_Kx16,
  // pack_iq4_xsx16, pack_q5_0x16, pack_q4_1x16, pack_q5_1x16: the scalar versions,
  // which every table's give byte for byte). Under a memory budget every expert read from
  // storage is packed as it arrives, on the I/O threads that share the cores with decode, so
  // the packing's speed is part of the time a miss costs.
  void (*pack_q4_0x16)(const BlockQ4_0* rows, int64_t row_stride, int64_t nb, uint8_t* out);
  void (*pack_q4_Kx16)(const BlockQ4_K* rows, int64_t row_stride, int64_t nb, uint8_t* out);
  void (*pack_q8_0x16)(const BlockQ8_0* rows, int64_t row_stride, int64_t nb, uint8_t* out);
  void (*pack_q5_Kx16)(const BlockQ5_K* rows, int64_t row_stride, int64_t nb, uint8_t* out);
  void (*pack_q6_Kx16)(const BlockQ6_K* rows, int64_t row_stride, int64_t nb, uint8_t* out);
  void (*pack_iq4_xsx16)(const BlockIQ4_XS* rows, int64_t row_stride, int64_t nb, uint8_t* out);
  void (*pack_q5_0x16)(const BlockQ5_0* rows, int64_t row_stride, int64_t nb, uint8_t* out);
  void (*pack_q4_1x16)(const BlockQ4_1* rows, int64_t row_stride, int64_t nb, uint8_t* out);
  void (*pack_q5_1x16)(const BlockQ5_1* rows, int64_t row_stride, int64_t nb, uint8_t* out);

  // Optional (nullptr: Q8_0 rows stay as in the file, one row at a time): Q8_0 weights packed
  // 16 rows at a time (see pack_q8_0x16). One group of 16 rows (nb blocks each) against n_x
  // (1..kMaxPackedActivations) Q8_0 activations with their block terms: out[t·16 + r]; and
  // one row of a group against one activation, exactly its lane's value.
  void (*gemm_q8_0x16)(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const Q8_0BlockTerms* const* xterms,
                       int n_x, float* out);
  float (*dot_q8_0x16_row)(const uint8_t* group, int64_t nb, int lane, const BlockQ8_0* x, const Q8_0BlockTerms* xterms);

  // Optional (nullptr: IQ4_NL rows stay as in the file): IQ4_NL weights packed 16 rows at a
  // time ("IQ4_NL×16", see pack_q4_0x16), as gemm_q4_0x16 and dot_q4_0x16_row.
  void (*gemm_iq4_nlx16)(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const Q8_0BlockTerms* const* xterms,
                         int n_x, float* out);
  float (*dot_iq4_nlx16_row)(const uint8_t* group, int64_t nb, int lane, const BlockQ8_0* x, const Q8_0BlockTerms* xterms);
  // Optional (nullptr: Q5_0 rows stay as in the file): Q5_0 weights packed 16 rows at a time
  // ("Q5_0×16", see pack_q5_0x16), as gemm_q4_0x16 and dot_q4_0x16_row.
  void (*gemm_q5_0x16)(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const Q8_0BlockTerms* const* xterms,
                       int n_x, float* out);
  float (*dot_q5_0x16_row)(const uint8_t* group, int64_t nb, int lane, const BlockQ8_0* x, const Q8_0BlockTerms* xterms);
  // Optional (nullptr: Q4_1 and Q5_1 rows stay as in the file): Q4_1 and Q5_1 weights packed 16
  // rows at a time ("Q4_1×16", "Q5_1×16", see pack_q4_1x16) against Q8_1 activations: one
  // group against n_x (1..kMaxPackedActivations) of them, out[t·16 + r]; one row of a group.
  void (*gemm_q4_1x16)(const uint8_t* group, int64_t nb, const BlockQ8_1* const* xs, int n_x, float* out);
  float (*dot_q4_1x16_row)(const uint8_t* group, int64_t nb, int lane, const BlockQ8_1* x);
  void (*gemm_q5_1x16)(const uint8_t* group, int64_t nb, const BlockQ8_1* const* xs, int n_x, float* out);
  float (*dot_q5_1x16_row)(const uint8_t* group, int64_t nb, int lane, const BlockQ8_1* x);

  // Optional (nullptr: Q5_K rows stay as in the file): Q5_K packed 16 rows at a time (see
  // pack_q5_Kx16), as gemm_q4_Kx16 and dot_q4_Kx16_row; the one-row kernel may be present
  // without the group one (it serves only groups packed for a table that has both).
  void (*gemm_q5_Kx16)(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out);
  float (*dot_q5_Kx16_row)(const uint8_t* group, int64_t nb, int lane, const BlockQ8_K* x);
  // The same for Q6_K (see pack_q6_Kx16).
  void (*gemm_q6_Kx16)(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out);
  float (*dot_q6_Kx16_row)(const uint8_t* group, int64_t nb, int lane, const BlockQ8_K* x);
  // The same for IQ4_XS (see pack_iq4_xsx16).
  void (*gemm_iq4_xsx16)(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out);
  float (*dot_iq4_xsx16_row)(const uint8_t* group, int64_t nb, int lane, const BlockQ8_K* x);

  // Optional (nullptr: four dot_q8_0_q8_0 calls): one Q8_0 row as in the file against four
  // activations, out[t] exactly dot_q8_0_q8_0(w, xs[t], n) (tables that keep Q8_0 rows as in
  // the file).
  void (*dot_q8_0_q8_0_x4)(const BlockQ8_0* w, const BlockQ8_0* const* xs, int64_t n, float* out);
  // Optional (nullptr: one row at a time): four Q4_0 or Q8_0 rows as in the file against one
  // activation (decode), out[r] exactly the one-row kernel's value for rows[r].
  void (*dot_q4_0_q8_0_rows4)(const BlockQ4_0* const* rows, const BlockQ8_0* x, int64_t n, float* out);
  void (*dot_q8_0_q8_0_rows4)(const BlockQ8_0* const* rows, const BlockQ8_0* x, int64_t n, float* out);

  // Sampling's scans over a token's logits (a vocabulary of 151,936: the scalar loops took
  // 0.1 ms a token greedy and 0.2 ms with top-k, 1-2 % of a 4B decode step). Every table gives
  // exactly the scalar results.
  // first_max: the first index whose value is the largest of the values of x[0..n) that are
  // not NaN, that value in *best; -1 when there is none (n == 0 or every value NaN).
  int64_t (*first_max)(const float* x, int64_t n, float* best);
  // first_above: the first index i in [0, n) with x[i] > t (a NaN never is), n when none is.
  int64_t (*first_above)(const float* x, int64_t n, float t);

  // y[i] = x[i] in F16, rounded to nearest even (fp16.h's fp32_to_fp16 bit for bit, NaNs
  // included, with subnormals flushed or not): the keys and values a decode step writes to an
  // F16 KV cache and F16 weights' activations (converted value by value, RoPE and the keys'
  // and values' encoding took 3.9 µs a layer of a 4B decode step on the calling thread; 1.1
  // with F16C).
  void (*to_f16)(const float* x, uint16_t* y, int64_t n);
};

// The most rows axpy_f16_rows_heads and dot_f16_f32_rows_heads take at once.
constexpr int kMaxAxpyRows = 8;
constexpr int kMaxDotRows = 4;

// The kernels of block type t in table k; nullptr for the types with their own entries above.
const BlockTypeKernels* block_type_kernels(const KernelTable& k, GgmlType t);

// Q4_0 rows packed 16 at a time ("Q4_0×16"), so that one 512-bit VNNI instruction multiplies
// four elements of sixteen rows. A group of 16 rows is nb packed blocks of kPackedBlockBytes,
// one per block column b: the 16 rows' F16 scales, then four 64-byte vectors where vector s
// (0..3) holds for row r (bytes 4r..4r+3) that row's qs[4s .. 4s+4): elements 4s..4s+3 in the
// low nibbles and 16+4s..16+4s+3 in the high ones. Same size as the 16 rows it packs.
//
// The value of every packed kernel for one row is defined exactly, independent of the ISA and
// of how many rows or activations a call covers: with i_b = Σ_j (q_j − 8)·x_j over block b
// (an exact integer), acc = fma(float(i_b), d_w,b · d_x,b, acc) for b = 0, 1, …, from acc = 0.
constexpr int kPackRows = 16;
constexpr size_t kPackedBlockBytes = kPackRows * sizeof(BlockQ4_0);
constexpr int kMaxPackedActivations = 8;
// Packs rows[0..16) (row r starts at rows + r·row_stride blocks; nb blocks each) into `out`.
void pack_q4_0x16(const BlockQ4_0* rows, int64_t row_stride, int64_t nb, uint8_t* out);

// Q8_0 rows packed 16 at a time ("Q8_0×16"), for the same instruction: a group of 16 rows is
// nb packed blocks of kPackedQ8_0BlockBytes, one per block column b: the 16 rows' F16 scales,
// then eight 64-byte vectors where vector s (0..7) holds for row r (bytes 4r..4r+3) that
// row's qs[4s .. 4s+4] with the sign bit flipped, q + 128 as an unsigned byte (VPDPBUSD takes
// one unsigned operand; the activation's terms take the 128 back off: Σ(q + 128)·x + 16·zero,
// zero being −8·Σx). Same size as the 16 rows it packs.
//
// The value of every packed kernel for one row is defined exactly, as for Q4_0×16: with
// i_b = Σ_j q_j·x_j over block b (an exact integer), acc = fma(float(i_b), d_w,b · d_x,b, acc)
// for b = 0, 1, …, from acc = 0.
constexpr size_t kPackedQ8_0BlockBytes = kPackRows * sizeof(BlockQ8_0);
void pack_q8_0x16(const BlockQ8_0* rows, int64_t row_stride, int64_t nb, uint8_t* out);
// The scalar reference of the packed Q8_0 kernels (not in the scalar table: rows stay as in
// the file there; tests compare every ISA's packed kernels with it).
void gemm_q8_0x16_reference(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const Q8_0BlockTerms* const* xterms,
                            int n_x, float* out);

// IQ4_NL rows packed 16 at a time ("IQ4_NL×16"): an IQ4_NL block is laid out as a Q4_0 block
// (an F16 scale, then 16 bytes of 4-bit codes in the same order), so pack_q4_0x16 packs it
// and the group has Q4_0×16's layout. The kernels look each code up to kIQ4Values[q] + 128,
// an unsigned byte for VPDPBUSD, and take the 128 back off with the activation's block term
// 16·zero = −128·Σx, exactly. The value of every packed kernel for one row, as for Q4_0×16:
// with i_b = Σ_j kIQ4Values[q_j]·x_j over block b, acc = fma(float(i_b), d_w,b · d_x,b, acc)
// for b = 0, 1, …, from acc = 0.
// The scalar reference (not in the scalar table: rows stay as in the file there).
void gemm_iq4_nlx16_reference(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const Q8_0BlockTerms* const* xterms,
                              int n_x, float* out);

// Q5_0 rows packed 16 at a time ("Q5_0×16"): Q4_0×16's block of the 16 rows' F16 scales and
// four vectors of the low four bits of the codes, then one 64-byte vector of the rows' qh
// words (row r's at bytes 4r..4r+3: bit j is the fifth bit of element j). Same size as the 16
// rows it packs. The kernels OR the fifth bits in as 16 and take the offset back off with the
// activation's block term 2·zero = −16·Σx, exactly. The value of every packed kernel for one
// row, as for Q4_0×16: with i_b = Σ_j (q_j − 16)·x_j over block b, acc = fma(float(i_b),
// d_w,b · d_x,b, acc) for b = 0, 1, …, from acc = 0.
constexpr size_t kPackedQ5_0BlockBytes = kPackRows * sizeof(BlockQ5_0);
constexpr size_t kQ5_0xHigh = kPackedBlockBytes;
static_assert(kQ5_0xHigh + 64 == kPackedQ5_0BlockBytes, "the packed Q5_0 layout fills exactly the 16 rows' bytes");
void pack_q5_0x16(const BlockQ5_0* rows, int64_t row_stride, int64_t nb, uint8_t* out);
// The scalar reference (not in the scalar table: rows stay as in the file there).
void gemm_q5_0x16_reference(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const Q8_0BlockTerms* const* xterms,
                            int n_x, float* out);

// Q4_1 and Q5_1 rows packed 16 at a time ("Q4_1×16", "Q5_1×16"): Q4_0×16's block (the 16 rows'
// F16 d and four code vectors), Q5_1's the qh vector of Q5_0×16 after it, then the 16 rows' F16
// m (row r's at 2r). Same size as the 16 rows they pack. The codes are unsigned (0..15, 0..31:
// VPDPBUSD takes them as they are) and the activation is Q8_1 (d and s = d·Σq as F16). The
// value of every packed kernel for one row is defined exactly: with i_b = Σ_j q_j·x_j over
// block b, acc = fma(float(i_b), d_w,b · d_x,b, acc), then acc = fma(m_w,b, s_x,b, acc), for
// b = 0, 1, …, from acc = 0.
constexpr size_t kPackedQ4_1BlockBytes = kPackRows * sizeof(BlockQ4_1), kQ4_1xMin = kPackedBlockBytes;
constexpr size_t kPackedQ5_1BlockBytes = kPackRows * sizeof(BlockQ5_1), kQ5_1xMin = kQ5_0xHigh + 64;
static_assert(kQ4_1xMin + 32 == kPackedQ4_1BlockBytes && kQ5_1xMin + 32 == kPackedQ5_1BlockBytes,
              "the packed Q4_1 and Q5_1 layouts fill exactly the 16 rows' bytes");
void pack_q4_1x16(const BlockQ4_1* rows, int64_t row_stride, int64_t nb, uint8_t* out);
void pack_q5_1x16(const BlockQ5_1* rows, int64_t row_stride, int64_t nb, uint8_t* out);
// The scalar references (not in the scalar table: rows stay as in the file there).
void gemm_q4_1x16_reference(const uint8_t* group, int64_t nb, const BlockQ8_1* const* xs, int n_x, float* out);
void gemm_q5_1x16_reference(const uint8_t* group, int64_t nb, const BlockQ8_1* const* xs, int n_x, float* out);

// Q4_K rows packed 16 at a time ("Q4_K×16"), so that one 512-bit VNNI instruction multiplies
// four codes of sixteen rows. A group of 16 rows is nb packed super-blocks of
// kPackedQ4KBytes, one per super-block column b: the rows' packed scale bytes as three
// vectors of 16 little-endian words (word w of row r at 4·(16w + r)), their F16 d (16 × 2
// bytes) and dmin (16 × 2), then 32 vectors of 64 bytes where vector 8p + s holds for row r
// (bytes 4r..4r+3) that row's qs[32p + 4s .. +4]: codes 4s..4s+3 of sub-block 2p in the low
// nibbles and of sub-block 2p+1 in the high ones. Same size as the 16 rows it packs.
//
// The value of every packed kernel for one row is defined exactly: with I_b = Σ_i scale_i ·
// Σ(q·x over sub-block i) and M_b = Σ_i min_i · Σ(x over sub-block i) (exact integers),
// acc = fma(float(I_b), d_b·x_b.d, acc), then acc = fma(−float(M_b), dmin_b·x_b.d, acc), for
// b = 0, 1, … from acc = 0.
constexpr size_t kPackedQ4KBytes = kPackRows * sizeof(BlockQ4_K);
// Byte offsets within a packed super-block: the scale words, d, dmin, the code vectors.
constexpr size_t kQ4KxScaleWords = 0, kQ4KxD = 3 * 64, kQ4KxDmin = kQ4KxD + 32, kQ4KxCodes = kQ4KxDmin + 32;
static_assert(kQ4KxCodes + 32 * 64 == kPackedQ4KBytes, "the packed Q4_K layout fills exactly the 16 rows' bytes");
// Row `lane` of a packed super-block read back into its Q4_K block (the one-row kernels).
void unpack_q4_Kx16_row(const uint8_t* block, int lane, BlockQ4_K& out);
void pack_q4_Kx16(const BlockQ4_K* rows, int64_t row_stride, int64_t nb, uint8_t* out);
// The part of pack_q4_Kx16 for super-block column b that is not codes: the scale words, d and
// dmin of the 16 rows, into the packed super-block at `block`.
void pack_q4_Kx16_scales(const BlockQ4_K* rows, int64_t row_stride, int64_t b, uint8_t* block);
// The scalar reference of the packed kernels (not in the scalar table: rows stay as in the
// file there; tests compare every ISA's packed kernels with it).
void gemm_q4_Kx16_reference(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out);

// Q5_K rows packed 16 at a time ("Q5_K×16"): Q4_K×16's super-block (the same scale words, d,
// dmin and code vectors of the low four bits) followed by eight vectors of 64 bytes where
// vector s holds for row r (bytes 4r..4r+3) that row's qh[4s .. 4s+4], the fifth bits of values
// 4s..4s+3 of every sub-block (bit i for sub-block i). Same size as the 16 rows it packs. The
// value of every packed kernel for one row is defined as for Q4_K×16, with the five-bit codes.
constexpr size_t kPackedQ5KBytes = kPackRows * sizeof(BlockQ5_K);
constexpr size_t kQ5KxHigh = kQ4KxCodes + 32 * 64;
static_assert(kQ5KxHigh + 8 * 64 == kPackedQ5KBytes, "the packed Q5_K layout fills exactly the 16 rows' bytes");
void pack_q5_Kx16(const BlockQ5_K* rows, int64_t row_stride, int64_t nb, uint8_t* out);
void unpack_q5_Kx16_row(const uint8_t* block, int lane, BlockQ5_K& out);
void gemm_q5_Kx16_reference(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out);

// Q6_K rows packed 16 at a time ("Q6_K×16"). A packed super-block: 32 vectors of 64 bytes where
// vector j holds for row r (bytes 4r..4r+3) that row's ql[4j .. 4j+4], then 16 vectors where
// vector j holds its qh[4j .. 4j+4], then the rows' int8 scales, scale m of row r at byte
// 16m + r, then the 16 rows' F16 d. Same size as the 16 rows it packs. The value of every
// packed kernel for one row is defined exactly: with I_b = Σ_m scale_m · Σ (code − 32)·x over
// the 16 values of sub-block m (an exact integer), acc = fma(float(I_b), d_b·x_b.d, acc) for
// b = 0, 1, … from acc = 0.
constexpr size_t kPackedQ6KBytes = kPackRows * sizeof(BlockQ6_K);
constexpr size_t kQ6KxLow = 0, kQ6KxHigh = 32 * 64, kQ6KxScales = kQ6KxHigh + 16 * 64, kQ6KxD = kQ6KxScales + 16 * 16;
static_assert(kQ6KxD + 16 * 2 == kPackedQ6KBytes, "the packed Q6_K layout fills exactly the 16 rows' bytes");
void pack_q6_Kx16(const BlockQ6_K* rows, int64_t row_stride, int64_t nb, uint8_t* out);
void unpack_q6_Kx16_row(const uint8_t* block, int lane, BlockQ6_K& out);
void gemm_q6_Kx16_reference(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out);

// IQ4_XS rows packed 16 at a time ("IQ4_XS×16"). A packed super-block: the 16 rows' scales_l
// words (row r's four bytes at 4r), their scales_h (2r) and F16 d (2r), then 32 vectors of 64
// bytes where vector v holds for row r (bytes 4r..4r+3) that row's qs[4v .. 4v+4]: codes
// 4s..4s+3 (s = v % 4) of sub-block v / 4 in the low nibbles and 16+4s..16+4s+3 in the high
// ones (Q4_K×16's code vectors, the same bytes moved). Same size as the 16 rows it packs. The
// kernels look each code up to kIQ4Values[q] + 128, an unsigned byte for VPDPBUSD, and take
// 128·Σ_i scale_i·Σ(x over sub-block i) back off the integer sums. The value of every packed
// kernel for one row is defined exactly: with I_b = Σ_i scale_i · Σ kIQ4Values[q]·x over
// sub-block i (scale_i the six-bit scale − 32; an exact integer), acc = fma(float(I_b),
// d_b·x_b.d, acc) for b = 0, 1, … from acc = 0.
constexpr size_t kPackedIQ4XSBytes = kPackRows * sizeof(BlockIQ4_XS);
constexpr size_t kIQ4XSxScalesL = 0, kIQ4XSxScalesH = 64, kIQ4XSxD = kIQ4XSxScalesH + 32, kIQ4XSxCodes = kIQ4XSxD + 32;
static_assert(kIQ4XSxCodes + 32 * 64 == kPackedIQ4XSBytes, "the packed IQ4_XS layout fills exactly the 16 rows' bytes");
void pack_iq4_xsx16(const BlockIQ4_XS* rows, int64_t row_stride, int64_t nb, uint8_t* out);
// The part of pack_iq4_xsx16 for super-block column b that is not codes.
void pack_iq4_xsx16_scales(const BlockIQ4_XS* rows, int64_t row_stride, int64_t b, uint8_t* block);
void unpack_iq4_xsx16_row(const uint8_t* block, int lane, BlockIQ4_XS& out);
void gemm_iq4_xsx16_reference(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out);

// Σ of each Q8_0 block's 32 values (the input of the *_sums dot products).
void q8_0_block_sums(const BlockQ8_0* x, int32_t* sums, int64_t n_blocks);
// Each Q8_0 block's terms for the packed Q4_0 kernels (Q8_0BlockTerms).
void q8_0_block_terms(const BlockQ8_0* x, Q8_0BlockTerms* terms, int64_t n_blocks);

// `own` with the scalar kernels wherever it has none: every table below is complete.
KernelTable with_scalar_fallbacks(const KernelTable& own);

const KernelTable& scalar_table();
// The x86 tables are nullptr when not compiled in or when this CPU lacks their instructions
// (the code that fills them is compiled for those instructions too).
const KernelTable* sse42_table();   // the scalar table with its busiest kernels in SSE4.2
const KernelTable* avx_table();     // the same kernels built with AVX
const KernelTable* avx2_table();
const KernelTable* avxvnni_table();  // AVX2 with AVX-VNNI packed products
const KernelTable* avx512_table();  // AVX2 with AVX-512 VNNI dot products
const KernelTable* neon_table();  // nullptr when not compiled in
// The NEON kernels built a second time with the dot-product instruction, where the first build
// lacks it (Linux arm64's addon; neon_dot.h); nullptr when not compiled in or the CPU lacks it.
const KernelTable* neondot_table();

// The table for this CPU; SMALLTHINKER_ISA=scalar|sse42|avx|avx2|avxvnni|avx512|neon|neondot forces one (for tests).
const KernelTable& active();
const char* active_isa_name();

// Whether the CPU supports SSSE3, SSE4.1, SSE4.2 and POPCNT (x86-64-v2; x86-64 only).
bool cpu_has_sse42();
// ... and AVX, with the YMM state saved by the OS (Sandy Bridge and later, AMD since Bulldozer).
bool cpu_has_avx();
// Whether the CPU and OS support AVX2, FMA and F16C (x86-64 only).
bool cpu_has_avx2_fma_f16c();
// ... and AVX-VNNI (Intel since Alder Lake, AMD since Zen 5).
bool cpu_has_avx_vnni();
// ... and AVX-512 F, BW, VL and VNNI with the ZMM state saved.
bool cpu_has_avx512_vnni();

}  // namespace st::kernels
