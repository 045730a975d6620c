// The weight format layer: how a matrix is held in memory and how products with it are
// computed. The model asks for products of row ranges with prepared activations and never
// learns how a matrix is stored; each format (the rows as in the file, Q4_0 packed 16 rows
// at a time, ...) is one unit that knows its layout, how to lay a matrix out at load, and
// which kernel-table entries compute with it. Which format a matrix gets is decided once,
// when the model is loaded (choose_format).
#pragma once
#include <cstddef>
#include <cstdint>

#include "ggml_types.h"

namespace st {

class Format;

// `rows` rows of `cols` elements; y = W·x means y[r] = row r · x (a ggml tensor with
// ne = [cols, rows] is exactly this). `data` holds the rows in `format`'s layout, which takes
// as many bytes as the file's: rows · row_bytes.
struct Matrix {
  const Format* format = nullptr;
  GgmlType type = GgmlType::F32;
  const uint8_t* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;  // bytes of one row as the file stores it

  size_t bytes() const { return static_cast<size_t>(rows) * row_bytes; }
};

// How the model reads a matrix, which decides the formats it may take.
enum class MatrixUse {
  Products,     // whole rows against activations: attention, router, output, expert gate/up/down
  RowsByIndex,  // single rows picked by index: the embedding, a transposed down projection's neuron rows
};

// Bytes of one prepared activation of `cols` values: enough for every form a weight type's
// dot product takes (Q8_0 blocks and their sums, F16, BF16 or the floats themselves).
size_t prepared_row_bytes(int64_t cols);
// x (n floats) in the form weights of `type` take, written into `slot` (prepared_row_bytes(n)
// bytes); returns where that form starts. One slot holds the forms of different types at once.
const void* prepare_activation(GgmlType type, const float* x, int64_t n, uint8_t* slot);

class Format {
 public:
  virtual ~Format() = default;
  virtual const char* name() const = 0;
  // Row ranges given to the products start and end on multiples of this.
  virtual int64_t row_block() const { return 1; }
  // Whether matrices in this format differ from the file's bytes (they are then read into
  // writable memory and laid out at load instead of being used where the file maps them).
  virtual bool relays() const { return false; }
  // Turns `rows` rows as in the file (a multiple of row_block()) into this layout, in place.
  virtual void lay_out(uint8_t* data, int64_t rows, int64_t cols) const {}

  // out[t·ldo + (r − r0)] = row r · xs[t] for r in [r0, r1), t in [0, n); xs are prepared
  // activations (prepare_activation with the matrix's type).
  virtual void product(const Matrix& w, int64_t r0, int64_t r1, const void* const* xs, int n, float* out, size_t ldo) const = 0;
  // The up rows of a ReGLU: out[t·ldo + (r − r0)] = g · (row r · xs[t]) where
  // g = gates[t·ldg + (r − r0)] is positive, else 0, and then the row is not read for xs[t].
  virtual void gated_product(const Matrix& w, int64_t r0, int64_t r1, const void* const* xs, int n, const float* gates,
                             size_t ldg, float* out, size_t ldo) const = 0;

  // Formats for MatrixUse::RowsByIndex only (the others throw std::logic_error):
  // y[0..n) += s · row[c0 .. c0+n), c0 a multiple of the type's block size.
  virtual void add_row(const Matrix& w, int64_t row, int64_t c0, float s, float* y, int64_t n) const;
  // out[0..cols) = row as floats.
  virtual void row_to_floats(const Matrix& w, int64_t row, float* out) const;
};

// The format a matrix of `type` with `rows` rows gets for `use` on this CPU: the layout the
// active kernels compute fastest with (Q4_0, Q8_0 and Q4_K packed 16 rows at a time where
// they take them, unless SMALLTHINKER_PACK=0), else the file's. Throws std::runtime_error for
// a type no format computes with.
const Format& choose_format(GgmlType type, int64_t rows, MatrixUse use);

}  // namespace st
