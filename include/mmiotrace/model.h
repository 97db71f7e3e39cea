/* mmiotrace/model.h: device models for `mmiotrace record --model`.
 *
 * A device model is a shared library that plays a PCI device: the program
 * opens and maps the same device file it would (a sysfs resource file,
 * /dev/uioN, a stand-in), and every access it makes there is answered by the
 * model instead of a device. The trace is a trace like any other (docs/models.md).
 *
 * The library exports one C function, MMIOTRACE_MODEL_ENTRY:
 *
 *   #include <mmiotrace/model.h>
 *   static const struct mmiotrace_model kModel = {
 *     MMIOTRACE_MODEL_ABI, sizeof(struct mmiotrace_model), "mydev",
 *     0x1234, 0x5678, sizeof(struct my_state), {1 << 12},
 *     my_init, my_read, my_write, my_advance,
 *   };
 *   MMIOTRACE_MODEL_EXPORT const struct mmiotrace_model* mmiotrace_model_entry(uint32_t host_abi) {
 *     return host_abi == MMIOTRACE_MODEL_ABI ? &kModel : 0;
 *   }
 *
 * The host asks for the ABI it speaks; a model that does not speak it returns
 * null and is refused with a one-line error. `abi` and `size` in the table are
 * checked too.
 *
 * Rules (the calls run inside the traced program's signal handler, in any of
 * its threads and processes):
 *  - The model's whole state is the `state` block of `state_size` bytes that
 *    the host gives every call: plain data, no pointers (every process of the
 *    program shares the same block, mapped at different addresses), zeroed
 *    before `init`. Globals of the library are per process: keep nothing there.
 *  - read, write and advance allocate nothing, take no lock, call only
 *    async-signal-safe functions (no printf, malloc, pthread_*). The host calls
 *    them one at a time (under the trace's order lock), in the order the trace
 *    records the accesses.
 *  - Time: host->now_ns() is the program's time (nanoseconds since it started,
 *    CLOCK_MONOTONIC). A model has no thread of its own: what happens after a
 *    delay (a computation, a DMA) happens when the model is next called at or
 *    after that time; a model that wants to be called at a time with no access
 *    (to raise an interrupt a program waits for) says when with
 *    host->wake_at(), and the host calls advance() then.
 *  - Interrupts: host->set_irq(level) drives the device's interrupt line
 *    (INTx). Each rising edge is one interrupt: the count that read() on
 *    /dev/uioN returns, and what a read() blocked there waits for.
 *
 * Accesses reach the model as a device sees them: 1, 2, 4 or 8 bytes at an
 * offset into a BAR, little-endian values; wider ones (vector loads and
 * stores) arrive as consecutive 8-byte accesses, as QEMU's memory core
 * delivers them. */
#ifndef MMIOTRACE_MODEL_H
#define MMIOTRACE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MMIOTRACE_MODEL_ABI 1u
#define MMIOTRACE_MODEL_ENTRY "mmiotrace_model_entry"
#define MMIOTRACE_MODEL_EXPORT __attribute__((visibility("default")))

/* What the host gives the model. */
struct mmiotrace_model_host {
  void* ctx;                                 /* the host's: pass it back */
  uint64_t (*now_ns)(void* ctx);             /* the program's time, ns since it started */
  void (*set_irq)(void* ctx, int level);     /* the interrupt line: 1 raised, 0 lowered */
  void (*wake_at)(void* ctx, uint64_t when); /* call advance() at program time `when` (0: never) */
};

struct mmiotrace_model {
  uint32_t abi;            /* MMIOTRACE_MODEL_ABI */
  uint32_t size;           /* sizeof(struct mmiotrace_model) */
  const char* name;        /* for messages */
  uint16_t vendor, device; /* its PCI identity (the trace's PCIDEV record) */
  uint32_t state_size;     /* bytes of state the host keeps for it */
  uint64_t bar_size[6];    /* memory BARs, bytes (a power of two; 0: no such BAR) */

  /* Once, before the program starts, in the mmiotrace process (ordinary
   * context: anything goes). `args` is what followed `args=` on the command
   * line ("" if nothing). Returns 0, or nonzero with a one-line reason in
   * `error`. */
  int (*init)(void* state, const char* args, char* error, size_t error_size);
  /* A read of `width` bytes (1, 2, 4, 8) at `offset` into BAR `bar`. */
  uint64_t (*read)(void* state, const struct mmiotrace_model_host* host, unsigned bar, uint64_t offset, unsigned width);
  /* A write of `value` (its low `width` bytes). */
  void (*write)(void* state, const struct mmiotrace_model_host* host, unsigned bar, uint64_t offset, unsigned width,
                uint64_t value);
  /* Time passed: do what was due by host->now_ns() (may be null). */
  void (*advance)(void* state, const struct mmiotrace_model_host* host);
};

/* A C header: `typedef`, not `using`. */
typedef const struct mmiotrace_model* (*mmiotrace_model_entry_fn)(uint32_t host_abi); /* NOLINT(modernize-use-using) */

/* The one symbol a model library exports (declared here so that its
 * definition is checked against it). */
MMIOTRACE_MODEL_EXPORT const struct mmiotrace_model* mmiotrace_model_entry(uint32_t host_abi);

#ifdef __cplusplus
}
#endif

#endif /* MMIOTRACE_MODEL_H */
