/* Every way a program ends keeps every access it made: argv[2] is one of
 * return, exit, _exit, abort, kill (SIGKILL to itself), thread-exit (the main
 * thread ends with pthread_exit while another thread finishes the work). */
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "e2e.h"

static volatile uint32_t* dev;

static void accesses(uint32_t first, uint32_t count) {
  for (uint32_t i = first; i < first + count; ++i) {
    dev[i % 1024] = 0xe0000000u | i;
    e2e_expect('W', 4, 4 * (i % 1024), 0xe0000000u | i);
  }
  fflush(stdout);
}

static void* last_thread(void* arg) {
  (void)arg;
  usleep(10000);
  accesses(100, 100);
  return NULL;
}

int main(int argc, char** argv) {
  E2E_CHECK(argc == 3);
  dev = e2e_map(argv[1], 4096);
  const char* how = argv[2];
  accesses(0, 100);
  if (strcmp(how, "return") == 0) return 3;
  if (strcmp(how, "exit") == 0) exit(4);
  if (strcmp(how, "_exit") == 0) _exit(5);
  if (strcmp(how, "abort") == 0) abort();
  if (strcmp(how, "kill") == 0) raise(SIGKILL);
  if (strcmp(how, "thread-exit") == 0) {
    pthread_t t;
    pthread_create(&t, NULL, last_thread, NULL);
    pthread_exit(NULL);
  }
  return 99;
}
