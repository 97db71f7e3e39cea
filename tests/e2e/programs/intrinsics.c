/* Vector intrinsics on device memory, as a driver filling descriptor rings or
 * reading status blocks would write them: SSE/AVX/AVX-512 loads and stores,
 * masked loads and stores (the device must see only the selected bytes), a
 * broadcast from device memory and vector arithmetic with a device operand.
 * Prints SKIP where the CPU has no AVX-512. */
#include <immintrin.h>
#include <string.h>

#include "e2e.h"

__attribute__((target("avx512f,avx512bw,avx512vl"))) static int run(volatile uint8_t* dev) {
  uint8_t* d = (uint8_t*)dev;
  /* SSE and AVX stores and loads. */
  __m128i x = _mm_set_epi32(0x0f0e0d0c, 0x0b0a0908, 0x07060504, 0x03020100);
  _mm_storeu_si128((__m128i*)(d + 0x10), x);
  __m128i xr = _mm_loadu_si128((const __m128i*)(d + 0x10));
  E2E_CHECK(_mm_movemask_epi8(_mm_cmpeq_epi8(x, xr)) == 0xffff);
  __m256i y = _mm256_set1_epi16(0x1234);
  _mm256_storeu_si256((__m256i*)(d + 0x40), y);
  __m256i yr = _mm256_loadu_si256((const __m256i*)(d + 0x40));
  E2E_CHECK(_mm256_movemask_epi8(_mm256_cmpeq_epi8(y, yr)) == -1);
  /* AVX-512: a full store, a masked byte store and a zero-masked load. */
  __m512i z = _mm512_set1_epi32(0x55aa55aa);
  _mm512_storeu_si512((void*)(d + 0x80), z);
  memset((void*)(d + 0xc0), 0, 64);
  _mm512_mask_storeu_epi8((void*)(d + 0xc0), 0x00000000000000f0ull, _mm512_set1_epi8(0x77));
  for (int i = 0; i < 64; ++i) E2E_CHECK(d[0xc0 + i] == ((i >= 4 && i < 8) ? 0x77 : 0));
  __m512i zl = _mm512_maskz_loadu_epi32(0x0003, (const void*)(d + 0x80));
  int32_t lanes[16];
  _mm512_storeu_si512(lanes, zl);
  E2E_CHECK(lanes[0] == 0x55aa55aa && lanes[1] == 0x55aa55aa && lanes[2] == 0 && lanes[15] == 0);
  /* A broadcast from device memory and arithmetic with a device operand. */
  *(volatile uint32_t*)(d + 0x100) = 7;
  __m512i b = _mm512_set1_epi32(*(const int*)(d + 0x100));
  __m512i sum = _mm512_add_epi32(b, _mm512_loadu_si512((const void*)(d + 0x80)));
  _mm512_storeu_si512(lanes, sum);
  E2E_CHECK(lanes[5] == 0x55aa55aa + 7);
  return 0;
}

int main(int argc, char** argv) {
  (void)argc;
  volatile uint8_t* dev = e2e_map(argv[1], 4096);
  if (!__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512vl")) {
    puts("SKIP no AVX-512");
    return 0;
  }
  run(dev);
  puts("DONE");
  return 0;
}
