// Which format each matrix gets: decided once per matrix at load, from its type, its row
// count, how the model reads it, and what the active kernels take.
#include <stdexcept>
#include <string>

#include "blocks32x16.h"
#include "file_rows.h"
#include "format.h"
#include "kernels/kernels.h"
#include "packed_x16.h"
#include "runtime/switches.h"

namespace st {

void Format::add_row(const Matrix&, int64_t, int64_t, float, float*, int64_t) const {
  throw std::logic_error(std::string(name()) + " does not read rows by index");
}

void Format::row_to_floats(const Matrix&, int64_t, float*) const {
  throw std::logic_error(std::string(name()) + " does not read rows by index");
}

const Format& choose_format(GgmlType type, int64_t rows, MatrixUse use) {
  static const FileRows f32(GgmlType::F32), f16(GgmlType::F16), bf16(GgmlType::BF16), q8_0(GgmlType::Q8_0), q4_0(GgmlType::Q4_0),
      q4_K(GgmlType::Q4_K), q5_K(GgmlType::Q5_K), q6_K(GgmlType::Q6_K);
  static const Blocks32x16 q4_0x16(Blocks32x16::Weights::Q4_0), q8_0x16(Blocks32x16::Weights::Q8_0),
      iq4_nlx16(Blocks32x16::Weights::IQ4_NL), q5_0x16(Blocks32x16::Weights::Q5_0);
  using K = kernels::KernelTable;
  static const Affine32x16<BlockQ4_1> q4_1x16("Q4_1x16", {&K::pack_q4_1x16, &K::gemm_q4_1x16, &K::dot_q4_1x16_row});
  static const Affine32x16<BlockQ5_1> q5_1x16("Q5_1x16", {&K::pack_q5_1x16, &K::gemm_q5_1x16, &K::dot_q5_1x16_row});
  static const KQuantsX16<BlockQ4_K> q4_Kx16("Q4_Kx16", {&K::pack_q4_Kx16, &K::gemm_q4_Kx16, &K::dot_q4_Kx16_row});
  static const KQuantsX16<BlockQ5_K> q5_Kx16("Q5_Kx16", {&K::pack_q5_Kx16, &K::gemm_q5_Kx16, &K::dot_q5_Kx16_row});
  static const KQuantsX16<BlockQ6_K> q6_Kx16("Q6_Kx16", {&K::pack_q6_Kx16, &K::gemm_q6_Kx16, &K::dot_q6_Kx16_row});
  static const KQuantsX16<BlockIQ4_XS> iq4_xsx16("IQ4_XSx16", {&K::pack_iq4_xsx16, &K::gemm_iq4_xsx16, &K::dot_iq4_xsx16_row});
  // Packed where whole 16-row groups are read by kernels that take them.
  const kernels::KernelTable& k = kernels::active();
  const bool packable = use == MatrixUse::Products && rows % kernels::kPackRows == 0 && runtime::switches().pack;
  const auto packed_or = [packable](bool has_kernels, const Format& packed, const Format& rows_as_in_file) -> const Format& {
    return packable && has_kernels ? packed : rows_as_in_file;
  };
  switch (type) {
    case GgmlType::Q4_0: return packed_or(k.gemm_q4_0x16, q4_0x16, q4_0);
    case GgmlType::F32: return f32;
    case GgmlType::F16: return f16;
    case GgmlType::BF16: return bf16;
    case GgmlType::Q8_0: return packed_or(k.gemm_q8_0x16, q8_0x16, q8_0);
    case GgmlType::Q4_1: { static const FileRows f(type); return packed_or(k.gemm_q4_1x16, q4_1x16, f); }
    case GgmlType::Q5_0: { static const FileRows f(type); return packed_or(k.gemm_q5_0x16, q5_0x16, f); }
    case GgmlType::Q5_1: { static const FileRows f(type); return packed_or(k.gemm_q5_1x16, q5_1x16, f); }
    case GgmlType::IQ4_NL: { static const FileRows f(type); return packed_or(k.gemm_iq4_nlx16, iq4_nlx16, f); }
    case GgmlType::Q2_K: { static const FileRows f(type); return f; }
    case GgmlType::Q3_K: { static const FileRows f(type); return f; }
    case GgmlType::Q4_K: return packed_or(k.gemm_q4_Kx16, q4_Kx16, q4_K);
    case GgmlType::Q5_K: return packed_or(k.gemm_q5_Kx16, q5_Kx16, q5_K);
    case GgmlType::Q6_K: return packed_or(k.gemm_q6_Kx16, q6_Kx16, q6_K);
    case GgmlType::IQ4_XS: { static const FileRows f(type); return packed_or(k.gemm_iq4_xsx16, iq4_xsx16, f); }
    default: {
      const char* name = ggml_type_traits(static_cast<uint32_t>(type)).name;
      throw std::runtime_error(std::string("weights of type ") + (name ? name : "?") + " cannot be computed with (" + kSupportedWeightTypes + ")");
    }
  }
}

}  // namespace st
