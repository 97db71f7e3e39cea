#include "cli/channel.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "trace/channel_producer.h"
#include "trace/encode.h"

namespace mmiotrace::cli {

using trace::ChannelHeader;
using trace::RingState;

Result<Channel> Channel::create(const RecordOptions& options, uint64_t start_monotonic_ns) {
  const size_t size = trace::channel_size(trace::kRingCount, trace::kRingBytes);
  int fd = memfd_create("mmiotrace-channel", MFD_CLOEXEC);
  if (fd < 0) return make_error(fmt::format("cannot create the shared channel: {}", strerror(errno)));
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int e = errno;
    close(fd);
    return make_error(fmt::format("cannot size the shared channel ({} MiB): {}", size >> 20, strerror(e)));
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    int e = errno;
    close(fd);
    return make_error(fmt::format("cannot map the shared channel: {}", strerror(e)));
  }
  auto* h = static_cast<ChannelHeader*>(p);  // the memfd is zero-filled
  memcpy(h->magic, trace::kChannelMagic, sizeof(h->magic));
  h->version = trace::kChannelVersion;
  h->ring_count = trace::kRingCount;
  h->ring_bytes = trace::kRingBytes;
  h->total_size = size;
  h->start_monotonic_ns = start_monotonic_ns;
  h->recorder_pid = static_cast<uint32_t>(getpid());
  if (options.drop_when_full) h->flags |= trace::kChannelDropWhenFull;
  if (options.no_follow) h->flags |= trace::kChannelNoFollow;
  h->next_map_id.store(1);
  if (options.step) h->flags |= trace::kChannelStepMode;
  // Nothing is patched in step mode: every access runs for real on the device there.
  h->patch_after = options.step || options.no_patch ? 0 : options.patch_after;
  size_t pos = 0;
  for (size_t i = 0; i < options.devices.size(); ++i) {
    const std::string& g = options.devices[i].glob;
    if (pos + g.size() + 2 > sizeof(h->device_globs) || i >= trace::kMaxStandIns) {
      munmap(p, size);
      close(fd);
      return make_error("too many --device patterns (at most 64, and 4 KiB of them in all)");
    }
    memcpy(h->device_globs + pos, g.c_str(), g.size() + 1);
    pos += g.size() + 1;
    h->stand_ins[i] = options.devices[i].id;
  }
  if (options.sysroot.size() >= sizeof(h->sysroot)) {
    munmap(p, size);
    close(fd);
    return make_error("--sysroot path is too long");
  }
  memcpy(h->sysroot, options.sysroot.c_str(), options.sysroot.size() + 1);
  return Channel(fd, h);
}

Channel::Channel(Channel&& other) noexcept : fd_(other.fd_), header_(other.header_) {
  other.fd_ = -1;
  other.header_ = nullptr;
}

Channel::~Channel() {
  if (header_ != nullptr) munmap(header_, header_->total_size);
  if (fd_ >= 0) close(fd_);
}

std::string Channel::agent_path() const { return fmt::format("/proc/{}/fd/{}", getpid(), fd_); }

bool Channel::push_mark(uint64_t seq, uint64_t time_ns, uint32_t pid, const std::string& text) {
  alignas(8) uint8_t buf[trace::record_size_for_mark(trace::kMaxMarkText)];
  const auto len = static_cast<uint16_t>(std::min<size_t>(text.size(), trace::kMaxMarkText));
  size_t size = trace::encode_mark(buf, sizeof(buf), trace::RecordStamp{seq, time_ns, pid},
                                   trace::MarkFields{pid, text.data(), len});
  if (size == 0) return false;
  // The recorder is this ring's consumer too: it cannot wait for room here.
  return trace::ring_push(header_, kRecorderRing, buf, size, trace::PushMode::NO_WAIT) == trace::PushResult::PUSHED;
}

void Channel::reserve_marks() {
  header_->next_seq = 1;
  trace::RingControl& own = trace::ring_controls(header_)[kRecorderRing];
  own.owner_pid.store(header_->recorder_pid);
  own.owner_tid.store(header_->recorder_pid);
  own.state.store(static_cast<uint32_t>(RingState::OWNED));
  if (header_->ring_high_water.load() < kRecorderRing + 1) header_->ring_high_water.store(kRecorderRing + 1);
}

bool Channel::mark_start(uint64_t time_ns, uint32_t pid, const std::string& text) {
  return push_mark(0, time_ns, pid, text);
}

bool Channel::mark(uint32_t pid, const std::string& text, int lock_timeout_ms) {
  const auto tid = static_cast<uint32_t>(syscall(SYS_gettid));
  if (!trace::order_lock_acquire(header_, tid, static_cast<uint64_t>(lock_timeout_ms) * 1000000u)) return false;
  const uint64_t seq = header_->next_seq;
  bool ok = push_mark(seq, trace::channel_monotonic_ns(), pid, text);
  if (ok) header_->next_seq = seq + 1;
  trace::order_lock_release(header_);
  return ok;
}

}  // namespace mmiotrace::cli
