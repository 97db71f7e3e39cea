/* symbols_main: device accesses from known functions and lines, for the
 * symbolization tests (tests/e2e/symbols_test.cc).
 *
 *   symbols_main DEVICE PLUGIN
 *
 * PLUGIN is the path of symbols_plugin.so, or "bare": dlopen it by its bare
 * name, which only this program's DT_RUNPATH finds (the dlopen interposer
 * must not become the caller). Then it maps DEVICE, writes from
 * poke_doorbell() and from the plugin's plugin_poke(), forks a child that
 * writes from poke_doorbell() too, and maps the plugin's file executable
 * itself (mmap with PROT_EXEC) once. */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

__attribute__((noinline)) void poke_doorbell(volatile uint32_t* bar) {
  bar[1] = 0x1234; /* SYMBOLS-TEST: poke_doorbell */
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const int bare = strcmp(argv[2], "bare") == 0;
  void* plugin = dlopen(bare ? "libsymbols_plugin.so" : argv[2], RTLD_NOW);
  if (plugin == NULL) {
    printf("dlopen failed: %s\n", dlerror());
    return 3;
  }
  void (*plugin_poke)(volatile uint32_t*) = (void (*)(volatile uint32_t*))dlsym(plugin, "plugin_poke");
  const char* (*plugin_path)(void) = (const char* (*)(void))dlsym(plugin, "plugin_path");
  if (plugin_poke == NULL || plugin_path == NULL) return 4;
  int fd = open(argv[1], O_RDWR);
  volatile uint32_t* bar = fd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (bar == MAP_FAILED) return 5;
  poke_doorbell(bar);
  plugin_poke(bar);
  pid_t child = fork();
  if (child == 0) {
    poke_doorbell(bar);
    _exit(0);
  }
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) != child || status != 0) return 7;
  /* The plugin's file, mapped executable by the program itself. */
  int pfd = open(plugin_path(), O_RDONLY);
  void* code = pfd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, pfd, 0);
  if (code == MAP_FAILED) return 6;
  printf("MMAPPED %p %s\n", code, plugin_path());
  munmap(code, 4096);
  close(pfd);
  printf("DONE\n");
  return 0;
}
