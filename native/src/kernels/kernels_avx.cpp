// The SSE4.2 kernels (kernels_sse42.cpp) compiled a second time with AVX, for Sandy Bridge,
// Ivy Bridge and AMD's Bulldozer to Steamroller cores: AVX but no AVX2 and no FMA. What AVX
// adds there: the packed Q4_0 contract's double arithmetic four rows to a register rather than
// two, and the three-operand encoding. Every value stays the scalar table's, as in the SSE4.2
// table (the bit-identity test holds both to the scalar hashes). Built with the SSE4.2 flags and
// -mavx into its own library, called only after dispatch.cpp has checked AVX and the OS's
// saving of its registers.
#include "kernels_sse42.cpp"
