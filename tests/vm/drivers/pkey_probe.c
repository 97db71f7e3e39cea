/* pkey_probe: do memory protection keys work on a device mapping?
 *
 *   pkey_probe KIND MAPPING...     (MAPPING: see vm_map.h; an edu BAR0)
 *
 * Maps the BAR, allocates a key (pkey_alloc), tags the mapping with it
 * (pkey_mprotect), reads edu's identification register with the key allowing
 * access, then denies access through PKRU (pkey_set) and reads it again,
 * expecting SIGSEGV with si_code SEGV_PKUERR before the access reaches the
 * device. Prints one line:
 *   pkey KIND: alloc=ok mprotect=ok read=0x010000ed denied=SEGV_PKUERR
 * (or the errno / si_code that happened instead). Exits 0 if the line says
 * keys work on this mapping, 1 if not, 2 if the probe itself failed. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "vm_map.h"

static sigjmp_buf jump;
static volatile int fault_code;

static void on_segv(int sig, siginfo_t* info, void* ctx) {
  (void)sig;
  (void)ctx;
  fault_code = info->si_code;
  siglongjmp(jump, 1);
}

static const char* code_name(int code) {
  switch (code) {
    case SEGV_MAPERR:
      return "SEGV_MAPERR";
    case SEGV_ACCERR:
      return "SEGV_ACCERR";
    case SEGV_PKUERR:
      return "SEGV_PKUERR";
    default:
      return "other";
  }
}

/* Reads *id with the key denying access; the name of the fault it caused. Its
 * own function, so that siglongjmp clobbers nothing of main's. */
static __attribute__((noinline)) const char* read_denied(volatile uint32_t* id, int key) {
  struct sigaction sa = {0};
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, NULL);
  if (sigsetjmp(jump, 1) == 0) {
    pkey_set(key, PKEY_DISABLE_ACCESS);
    (void)*id; /* must fault before it reaches the device */
    pkey_set(key, 0);
    return "none";
  }
  pkey_set(key, 0);
  return code_name(fault_code);
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: pkey_probe KIND MAPPING...\n");
    return 2;
  }
  const char* kind = argv[1];
  char** args = argv + 2;
  size_t size = 0;
  bar = vm_map(&args, &size);
  volatile uint32_t* id = (volatile uint32_t*)bar;

  int key = pkey_alloc(0, 0);
  if (key < 0) {
    printf("pkey %s: alloc=%s\n", kind, strerrorname_np(errno));
    return 1;
  }
  if (pkey_mprotect((void*)bar, size, PROT_READ | PROT_WRITE, key) != 0) {
    printf("pkey %s: alloc=ok mprotect=%s\n", kind, strerrorname_np(errno));
    return 1;
  }
  uint32_t value = *id;

  const char* denied = read_denied(id, key);
  printf("pkey %s: alloc=ok mprotect=ok read=0x%08x denied=%s\n", kind, value, denied);
  return strcmp(denied, "SEGV_PKUERR") == 0 ? 0 : 1;
}
