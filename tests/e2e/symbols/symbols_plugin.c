/* symbols_plugin: a shared object symbols_main dlopens (symbols_test.cc). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>

__attribute__((noinline)) void plugin_poke(volatile uint32_t* bar) {
  bar[2] = 0x5678; /* SYMBOLS-TEST: plugin_poke */
}

const char* plugin_path(void) {
  Dl_info info;
  return dladdr((void*)plugin_poke, &info) != 0 ? info.dli_fname : "";
}
