// QEMU's edu device (QEMU hw/misc/edu.c, docs/specs/edu.rst) as an mmiotrace
// device model (include/mmiotrace/model.h, docs/models.md): the example
// model, and the one tests/vm/scenarios/edu_model.sh proves equal to QEMU's.
//
// BAR 0, 1 MiB, registers as in hw/misc/edu.c:
//   0x00 R   identification 0x010000ed
//   0x04 RW  liveness: reads the inverse of what was last written
//   0x08 RW  factorial: a write of n (while not computing) starts computing
//            n!, which a read returns once done (n itself until then)
//   0x20 RW  status: bit 0 computing (read only), bit 7 raise an interrupt
//            when the factorial is done
//   0x24 R   interrupt status; 0x60 W raise (status |= value); 0x64 W
//            acknowledge (status &= ~value). The line is up while the status
//            is not 0.
//   0x80 / 0x88 / 0x90 / 0x98 RW (4 or 8 bytes) DMA source, destination,
//            count, command (bit 0 start, bit 1 direction: 0 RAM to device,
//            1 device to RAM, bit 2 interrupt 0x100 when done). Registers are
//            not written while a transfer runs; it ends 100 ms (QEMU's virtual
//            clock, here the program's time) after the command.
// Accesses: edu takes 4 and 8 bytes (below 0x80, 4 only); anything else,
// and offsets it does not decode, read all-ones and are not written.
// QEMU's memory core never delivers accesses narrower than 4 bytes or not
// aligned to their size (valid.min_access_size = 4, no unaligned): they read 0.
//
// What it does not do (docs/models.md, "The edu model"): MSI (the
// interrupt is the INTx line only); DMA reaches no memory of the program (a
// user-space program has no bus addresses): a transfer from RAM fills the
// device's buffer with zeros, one to RAM is dropped; the buffer (device
// addresses 0x40000-0x40fff) is not readable through the BAR, as in QEMU.
// Timing: the factorial takes `fact_ns` of program time (args fact_ns=N,
// default 0: QEMU computes it on a thread of its own at once), a DMA
// `dma_ns` (default 100 ms).
#include <cstdlib>
#include <cstring>
#include <string>

#include "mmiotrace/model.h"

namespace {

constexpr uint32_t kFactIrq = 0x001;
constexpr uint32_t kDmaIrq = 0x100;
constexpr uint64_t kDmaStart = 0x40000;
constexpr uint64_t kDmaSize = 4096;
constexpr uint32_t kComputing = 0x01;
constexpr uint32_t kIrqFact = 0x80;
constexpr uint64_t kDmaRun = 0x1;
constexpr uint64_t kDmaToRam = 0x2;
constexpr uint64_t kDmaIrqOnDone = 0x4;

struct EduState {
  uint64_t fact_ns, dma_ns;  // how long a factorial and a DMA take
  uint32_t addr4, fact, status, irq_status;
  uint64_t dma_src, dma_dst, dma_cnt, dma_cmd;
  uint64_t fact_due, dma_due;  // program time they are done (0: none pending)
  uint8_t dma_buf[kDmaSize];
};

using Host = mmiotrace_model_host;

void set_deadline(EduState* s, const Host* h) {
  uint64_t next = 0;
  if (s->fact_due != 0) next = s->fact_due;
  if (s->dma_due != 0 && (next == 0 || s->dma_due < next)) next = s->dma_due;
  h->wake_at(h->ctx, next);
}

void raise_irq(EduState* s, const Host* h, uint32_t bits) {
  s->irq_status |= bits;
  if (s->irq_status != 0) h->set_irq(h->ctx, 1);
}

void lower_irq(EduState* s, const Host* h, uint32_t bits) {
  s->irq_status &= ~bits;
  if (s->irq_status == 0) h->set_irq(h->ctx, 0);
}

// The factorial thread's work, once its time has come.
void finish_factorial(EduState* s, const Host* h) {
  uint32_t n = s->fact, r = 1;
  while (n > 0) r *= n--;
  s->fact = r;
  s->fact_due = 0;
  s->status &= ~kComputing;
  if ((s->status & kIrqFact) != 0) raise_irq(s, h, kFactIrq);
}

// The DMA timer.
void finish_dma(EduState* s, const Host* h) {
  s->dma_due = 0;
  if ((s->dma_cmd & kDmaRun) == 0) return;
  const bool to_ram = (s->dma_cmd & kDmaToRam) != 0;
  const uint64_t dev = to_ram ? s->dma_src : s->dma_dst;
  // QEMU only logs a transfer outside the buffer (and copies anyway); here it is cut to the buffer.
  if (!to_ram && dev >= kDmaStart && dev - kDmaStart < kDmaSize) {
    const uint64_t room = kDmaSize - (dev - kDmaStart);
    memset(s->dma_buf + (dev - kDmaStart), 0, s->dma_cnt < room ? s->dma_cnt : room);  // RAM reads as zeros
  }
  s->dma_cmd &= ~kDmaRun;
  if ((s->dma_cmd & kDmaIrqOnDone) != 0) raise_irq(s, h, kDmaIrq);
}

void advance(void* state, const Host* h) {
  auto* s = static_cast<EduState*>(state);
  const uint64_t now = h->now_ns(h->ctx);
  if (s->fact_due != 0 && now >= s->fact_due) finish_factorial(s, h);
  if (s->dma_due != 0 && now >= s->dma_due) finish_dma(s, h);
  set_deadline(s, h);
}

// What QEMU's memory core delivers to edu at all.
bool delivered(uint64_t offset, unsigned width) { return width >= 4 && width <= 8 && offset % width == 0; }

// What edu.c itself accepts.
bool accepted(uint64_t offset, unsigned width) { return offset < 0x80 ? width == 4 : width == 4 || width == 8; }

uint64_t read(void* state, const Host* h, unsigned bar, uint64_t offset, unsigned width) {
  auto* s = static_cast<EduState*>(state);
  if (bar != 0 || !delivered(offset, width)) return 0;
  advance(s, h);
  if (!accepted(offset, width)) return ~uint64_t{0};
  switch (offset) {
    case 0x00:
      return 0x010000ed;
    case 0x04:
      return s->addr4;
    case 0x08:
      return s->fact;
    case 0x20:
      return s->status;
    case 0x24:
      return s->irq_status;
    case 0x80:
      return s->dma_src;
    case 0x88:
      return s->dma_dst;
    case 0x90:
      return s->dma_cnt;
    case 0x98:
      return s->dma_cmd;
    default:
      return ~uint64_t{0};
  }
}

void write(void* state, const Host* h, unsigned bar, uint64_t offset, unsigned width, uint64_t value) {
  auto* s = static_cast<EduState*>(state);
  if (bar != 0 || !delivered(offset, width)) return;
  advance(s, h);
  if (!accepted(offset, width)) return;
  const bool dma_busy = (s->dma_cmd & kDmaRun) != 0;
  switch (offset) {
    case 0x04:
      s->addr4 = ~static_cast<uint32_t>(value);
      break;
    case 0x08:
      if ((s->status & kComputing) != 0) break;
      s->fact = static_cast<uint32_t>(value);
      s->status |= kComputing;
      s->fact_due = h->now_ns(h->ctx) + s->fact_ns;
      if (s->fact_ns == 0) finish_factorial(s, h);
      break;
    case 0x20:
      if ((value & kIrqFact) != 0)
        s->status |= kIrqFact;
      else
        s->status &= ~kIrqFact;
      break;
    case 0x60:
      raise_irq(s, h, static_cast<uint32_t>(value));
      break;
    case 0x64:
      lower_irq(s, h, static_cast<uint32_t>(value));
      break;
    case 0x80:
      if (!dma_busy) s->dma_src = value;
      break;
    case 0x88:
      if (!dma_busy) s->dma_dst = value;
      break;
    case 0x90:
      if (!dma_busy) s->dma_cnt = value;
      break;
    case 0x98:
      if ((value & kDmaRun) == 0 || dma_busy) break;
      s->dma_cmd = value;
      s->dma_due = h->now_ns(h->ctx) + s->dma_ns;
      break;
    default:
      break;
  }
  set_deadline(s, h);
}

// args: fact_ns=N, dma_ns=N, separated by commas.
int init(void* state, const char* args, char* error, size_t error_size) {
  auto* s = static_cast<EduState*>(state);
  s->fact_ns = 0;
  s->dma_ns = 100'000'000;
  std::string text = args;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find(',', at);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(at, end - at);
    at = end + 1;
    const size_t eq = item.find('=');
    char* tail = nullptr;
    const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
    const unsigned long long v = std::strtoull(value.c_str(), &tail, 0);
    const bool number = !value.empty() && *tail == '\0';
    if (item.compare(0, eq, "fact_ns") == 0 && number) {
      s->fact_ns = v;
    } else if (item.compare(0, eq, "dma_ns") == 0 && number) {
      s->dma_ns = v;
    } else {
      snprintf(error, error_size, "unknown argument '%s' (edu takes fact_ns=N, dma_ns=N)", item.c_str());
      return 1;
    }
  }
  return 0;
}

constexpr mmiotrace_model kEdu = {
    MMIOTRACE_MODEL_ABI,
    sizeof(mmiotrace_model),
    "edu",
    0x1234,
    0x11e8,
    sizeof(EduState),
    {1u << 20, 0, 0, 0, 0, 0},
    init,
    read,
    write,
    advance,
};

}  // namespace

extern "C" MMIOTRACE_MODEL_EXPORT const mmiotrace_model* mmiotrace_model_entry(uint32_t host_abi) {
  return host_abi == MMIOTRACE_MODEL_ABI ? &kEdu : nullptr;
}
