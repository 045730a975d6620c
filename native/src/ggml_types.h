// The ggml tensor types that can appear in a GGUF file: their ids, block sizes and byte sizes.
// The ids are fixed by the GGUF format; removed ids (31-33, 36-38) are unknown on purpose.
#pragma once
#include <cstdint>
#include <cstddef>

namespace st {

enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
  IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};

struct GgmlTypeTraits {
  const char* name;     // nullptr for ids that are not a known type
  uint32_t block_elems; // elements per block
  uint32_t block_bytes; // bytes per block
};

// Traits for a raw type id; .name == nullptr when the id is unknown.
inline GgmlTypeTraits ggml_type_traits(uint32_t id) {
  switch (static_cast<GgmlType>(id)) {
    case GgmlType::F32: return {"F32", 1, 4};
    case GgmlType::F16: return {"F16", 1, 2};
    case GgmlType::Q4_0: return {"Q4_0", 32, 18};
    case GgmlType::Q4_1: return {"Q4_1", 32, 20};
    case GgmlType::Q5_0: return {"Q5_0", 32, 22};
    case GgmlType::Q5_1: return {"Q5_1", 32, 24};
    case GgmlType::Q8_0: return {"Q8_0", 32, 34};
    case GgmlType::Q8_1: return {"Q8_1", 32, 36};
    case GgmlType::Q2_K: return {"Q2_K", 256, 84};
    case GgmlType::Q3_K: return {"Q3_K", 256, 110};
    case GgmlType::Q4_K: return {"Q4_K", 256, 144};
    case GgmlType::Q5_K: return {"Q5_K", 256, 176};
    case GgmlType::Q6_K: return {"Q6_K", 256, 210};
    case GgmlType::Q8_K: return {"Q8_K", 256, 292};
    case GgmlType::IQ2_XXS: return {"IQ2_XXS", 256, 66};
    case GgmlType::IQ2_XS: return {"IQ2_XS", 256, 74};
    case GgmlType::IQ3_XXS: return {"IQ3_XXS", 256, 98};
    case GgmlType::IQ1_S: return {"IQ1_S", 256, 50};
    case GgmlType::IQ4_NL: return {"IQ4_NL", 32, 18};
    case GgmlType::IQ3_S: return {"IQ3_S", 256, 110};
    case GgmlType::IQ2_S: return {"IQ2_S", 256, 82};
    case GgmlType::IQ4_XS: return {"IQ4_XS", 256, 136};
    case GgmlType::I8: return {"I8", 1, 1};
    case GgmlType::I16: return {"I16", 1, 2};
    case GgmlType::I32: return {"I32", 1, 4};
    case GgmlType::I64: return {"I64", 1, 8};
    case GgmlType::F64: return {"F64", 1, 8};
    case GgmlType::IQ1_M: return {"IQ1_M", 256, 56};
    case GgmlType::BF16: return {"BF16", 1, 2};
    case GgmlType::TQ1_0: return {"TQ1_0", 256, 54};
    case GgmlType::TQ2_0: return {"TQ2_0", 256, 66};
    case GgmlType::MXFP4: return {"MXFP4", 32, 17};
  }
  return {nullptr, 0, 0};
}

// Types the engine can compute with (docs/model.md, "Weight types"). Others are read but refused.
constexpr const char* kSupportedWeightTypes =
    "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS";
inline bool ggml_type_is_supported_weight(GgmlType t) {
  switch (t) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q8_0: case GgmlType::Q4_0:
    case GgmlType::Q4_1: case GgmlType::Q5_0: case GgmlType::Q5_1: case GgmlType::IQ4_NL:
    case GgmlType::Q2_K: case GgmlType::Q3_K: case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K:
    case GgmlType::IQ4_XS:
      return true;
    default:
      return false;
  }
}

// Quantised block layouts shared by the reader's consumers and the kernels.
constexpr int kQK4_0 = 32;
constexpr int kQK8_0 = 32;
struct BlockQ4_0 { uint16_t d; uint8_t qs[kQK4_0 / 2]; };  // d is IEEE fp16
struct BlockQ8_0 { uint16_t d; int8_t qs[kQK8_0]; };       // d is IEEE fp16
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block is 18 bytes");
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block is 34 bytes");

// The other block types' layouts, as ggml defines them (docs/model.md, "Weight types"). Scales
// are IEEE fp16 unless marked; K-quant super-blocks hold kQK_K elements.
constexpr int kQK_K = 256;
struct BlockQ4_1 { uint16_t d, m; uint8_t qs[16]; };              // d·q + m, q 0..15
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; };  // d·(q − 16), bit 4 of q in qh
struct BlockQ5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; };
struct BlockIQ4_NL { uint16_t d; uint8_t qs[16]; };               // d·kIQ4Values[q]
struct BlockQ2_K { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; };
struct BlockQ3_K { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; };
struct BlockQ4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; };
struct BlockQ5_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; };
struct BlockQ6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; };
struct BlockIQ4_XS { uint16_t d; uint16_t scales_h; uint8_t scales_l[4]; uint8_t qs[128]; };
// Activation forms: Q8_1 (for Q4_1, Q5_1) carries s = d·Σq; Q8_K (for the K-quants and
// IQ4_XS) a float scale and the sums of each 16 values.
struct BlockQ8_1 { uint16_t d, s; int8_t qs[32]; };
struct BlockQ8_K { float d; int8_t qs[kQK_K]; int16_t bsums[kQK_K / 16]; };
static_assert(sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24 && sizeof(BlockIQ4_NL) == 18,
              "32-element block sizes");
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 &&
                  sizeof(BlockQ6_K) == 210 && sizeof(BlockIQ4_XS) == 136,
              "super-block sizes");
static_assert(sizeof(BlockQ8_1) == 36 && sizeof(BlockQ8_K) == 292, "activation block sizes");
// The 16 values of IQ4_NL and IQ4_XS codes.
constexpr int8_t kIQ4Values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

}  // namespace st
