#include "cli/session_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "common/device_path.h"

namespace mmiotrace::cli {

namespace {

constexpr uint64_t kPage = 4096;

uint64_t page_down(uint64_t v) { return v & ~(kPage - 1); }
uint64_t page_up(uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }

std::string fd_path(int fd) { return fmt::format("/proc/{}/fd/{}", getpid(), fd); }

Result<int> make_memfd(const std::string& name, uint64_t size) {
  const int fd = memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0) return make_error(fmt::format("cannot create a stand-in device: {}", strerror(errno)));
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    const int e = errno;
    close(fd);
    return make_error(fmt::format("cannot size a stand-in device ({} bytes): {}", size, strerror(e)));
  }
  return fd;
}

template <size_t N>
bool copy_text(char (&dst)[N], const std::string& src) {
  if (src.size() >= N) return false;
  memcpy(dst, src.c_str(), src.size() + 1);
  return true;
}

// Byte offsets of the session's sections.
struct Layout {
  uint64_t paths = 0, devices = 0, events = 0, stream_events = 0, streams = 0, processes = 0, consumed = 0, values = 0,
           pcidev = 0, rules = 0, model_state = 0, total = 0;
};

Layout layout_of(const SessionSpec& spec, size_t paths, const std::vector<StandInDevice>& devices) {
  Layout l;
  uint64_t at = trace::session_align(sizeof(trace::SessionHeader));
  auto take = [&at](uint64_t bytes) {
    const uint64_t off = at;
    at = trace::session_align(at + bytes);
    return off;
  };
  l.paths = take(paths * sizeof(trace::SessionPath));
  l.devices = take(devices.size() * sizeof(trace::SessionDevice));
  if (spec.replay != nullptr) {
    const Recording& r = *spec.replay;
    l.events = take(r.events.size() * sizeof(trace::ReplayEvent));
    l.stream_events = take(r.events.size() * sizeof(uint64_t));
    l.streams = take(r.threads.size() * sizeof(trace::ReplayStream));
    l.processes = take(r.processes.size() * sizeof(trace::ReplayProcess));
    l.consumed = take(r.events.size());
    l.values = take(r.values.size());
  }
  uint64_t pcidev_bytes = 0;
  for (const StandInDevice& d : devices) pcidev_bytes += trace::session_align(d.pcidev.size());
  l.pcidev = take(pcidev_bytes);
  l.rules = take(spec.rules.size() * sizeof(trace::InjectRule));
  l.model_state = take(spec.model_state_size);
  l.total = page_up(at);
  return l;
}

}  // namespace

std::vector<StandInDevice> stand_ins_of(const Recording& rec) {
  std::vector<StandInDevice> out;
  for (const RecordedDevice& d : rec.devices) {
    StandInDevice s;
    s.path = rec.paths[d.path].path;
    s.kind = d.kind;
    s.file_size = rec.paths[d.path].file_size;
    s.bar = d.bar;
    s.busdevfn = d.busdevfn;
    s.has_pci = d.has_pci;
    s.file_base = d.file_base;
    s.phys_base = d.phys_base;
    s.size = d.size;
    s.lowest = d.lowest == UINT64_MAX ? 0 : d.lowest;
    s.pcidev = d.pcidev;
    out.push_back(std::move(s));
  }
  return out;
}

Result<SessionFile> SessionFile::create(const SessionSpec& spec, uint64_t start_monotonic_ns) {
  const std::vector<StandInDevice> devices = spec.replay != nullptr ? stand_ins_of(*spec.replay) : spec.model_devices;
  // One stand-in file per distinct path (several devices may share one: UIO maps).
  std::vector<std::string> paths;
  std::vector<uint32_t> device_path;
  for (const StandInDevice& d : devices) {
    uint32_t i = 0;
    while (i < paths.size() && !same_device_file(paths[i].c_str(), d.path.c_str())) ++i;
    if (i == paths.size()) paths.push_back(d.path);
    device_path.push_back(i);
  }
  const Layout l = layout_of(spec, paths.size(), devices);
  SessionFile s;
  auto memfd = make_memfd("mmiotrace-session", l.total);
  if (!memfd) return Error{memfd.error()};
  s.fd_ = *memfd;
  void* p = mmap(nullptr, l.total, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd_, 0);
  if (p == MAP_FAILED) return make_error(fmt::format("cannot map the session: {}", strerror(errno)));
  auto* h = static_cast<trace::SessionHeader*>(p);
  s.header_ = h;
  memcpy(h->magic, trace::kSessionMagic, sizeof h->magic);
  h->version = trace::kSessionVersion;
  h->total_size = l.total;
  h->start_monotonic_ns = start_monotonic_ns;
  h->path_count = static_cast<uint32_t>(paths.size());
  h->device_count = static_cast<uint32_t>(devices.size());
  h->paths_off = l.paths;
  h->devices_off = l.devices;
  // The stand-in files the program opens.
  auto* sp = trace::session_at<trace::SessionPath>(h, l.paths);
  for (size_t i = 0; i < paths.size(); ++i) {
    uint64_t file_size = 0;
    trace::DeviceKind kind = trace::DeviceKind::FILE;
    for (size_t d = 0; d < devices.size(); ++d) {
      if (device_path[d] != i) continue;
      file_size = std::max(file_size, devices[d].file_size);
      kind = devices[d].kind;
    }
    if (!copy_text(sp[i].path, paths[i])) return make_error(fmt::format("device path too long: {}", paths[i]));
    auto fd = make_memfd(fmt::format("mmiotrace-standin-{}", i), file_size);
    if (!fd) return Error{fd.error()};
    s.stand_in_fds_.push_back(*fd);
    copy_text(sp[i].fd_path, fd_path(*fd));
    sp[i].kind = static_cast<uint16_t>(kind);
  }
  // The devices, each with its backing memfd.
  auto* sd = trace::session_at<trace::SessionDevice>(h, l.devices);
  uint64_t pcidev_at = l.pcidev;
  for (size_t i = 0; i < devices.size(); ++i) {
    const StandInDevice& d = devices[i];
    sd[i].path = device_path[i];
    sd[i].kind = static_cast<uint16_t>(d.kind);
    sd[i].bar = d.bar;
    sd[i].busdevfn = d.busdevfn;
    sd[i].flags = d.has_pci ? trace::kDevicePci : 0;
    sd[i].file_base = d.file_base;
    sd[i].phys_base = d.phys_base;
    sd[i].size = d.size;
    // The backing starts at the device's byte 0, except /dev/mem's, whose
    // offsets are physical addresses: it starts at the lowest page mapped.
    sd[i].backing_base = d.kind == trace::DeviceKind::DEV_MEM ? page_down(d.lowest) : 0;
    sd[i].model_bar = d.model_bar;
    if (!d.pcidev.empty()) {
      memcpy(reinterpret_cast<char*>(h) + pcidev_at, d.pcidev.data(), d.pcidev.size());
      sd[i].pcidev_off = pcidev_at;
      sd[i].pcidev_len = static_cast<uint32_t>(d.pcidev.size());
      pcidev_at += trace::session_align(d.pcidev.size());
    }
    auto fd = make_memfd(
        fmt::format("mmiotrace-backing-{}", i),
        page_up(std::max(d.size, d.lowest + 1)) - sd[i].backing_base);  // grown by the agent if mapped further
    if (!fd) return Error{fd.error()};
    s.stand_in_fds_.push_back(*fd);
    copy_text(sd[i].backing_path, fd_path(*fd));
  }
  if (spec.replay != nullptr) {
    const Recording& r = *spec.replay;
    h->flags |= trace::kSessionReplay;
    h->policy = static_cast<uint32_t>(spec.policy);
    h->stall_timeout_ns = spec.stall_timeout_ns;
    h->event_count = r.events.size();
    h->stream_count = static_cast<uint32_t>(r.threads.size());
    h->process_count = static_cast<uint32_t>(r.processes.size());
    h->events_off = l.events;
    h->stream_events_off = l.stream_events;
    h->streams_off = l.streams;
    h->processes_off = l.processes;
    h->consumed_off = l.consumed;
    auto* ev = trace::session_at<trace::ReplayEvent>(h, l.events);
    for (size_t i = 0; i < r.events.size(); ++i) {
      ev[i] = r.events[i];
      ev[i].value_off += l.values;
    }
    memcpy(reinterpret_cast<char*>(h) + l.values, r.values.data(), r.values.size());
    auto* se = trace::session_at<uint64_t>(h, l.stream_events);
    auto* st = trace::session_at<trace::ReplayStream>(h, l.streams);
    uint64_t at = 0;
    for (size_t t = 0; t < r.threads.size(); ++t) {
      st[t].tid = r.threads[t].tid;
      st[t].process = r.threads[t].process;
      st[t].first = at;
      st[t].count = r.threads[t].events.size();
      for (uint64_t e : r.threads[t].events) se[at++] = e;
    }
    auto* pr = trace::session_at<trace::ReplayProcess>(h, l.processes);
    for (size_t i = 0; i < r.processes.size(); ++i) pr[i].pid = r.processes[i];
  }
  if (!spec.rules.empty()) {
    h->flags |= trace::kSessionInject;
    h->rule_count = static_cast<uint32_t>(spec.rules.size());
    h->rules_off = l.rules;
    h->seed = spec.seed;
    auto* rules = trace::session_at<trace::InjectRule>(h, l.rules);
    for (size_t i = 0; i < spec.rules.size(); ++i) {
      rules[i] = spec.rules[i];
      rules[i].matched = 0;
      rules[i].applied = 0;
    }
  }
  if (!spec.model_path.empty()) {
    h->flags |= trace::kSessionModel;
    if (!copy_text(h->model_path, spec.model_path)) return make_error("--model path too long");
    if (!copy_text(h->model_args, spec.model_args)) return make_error("--model arguments too long");
    h->model_state_off = l.model_state;
    h->model_state_size = spec.model_state_size;
  }
  return s;
}

SessionFile::SessionFile(SessionFile&& other) noexcept
    : fd_(other.fd_), header_(other.header_), stand_in_fds_(std::move(other.stand_in_fds_)) {
  other.fd_ = -1;
  other.header_ = nullptr;
  other.stand_in_fds_.clear();
}

SessionFile::~SessionFile() {
  if (header_ != nullptr) munmap(header_, header_->total_size);
  if (fd_ >= 0) close(fd_);
  for (int fd : stand_in_fds_) close(fd);
}

std::string SessionFile::agent_path() const { return fd_path(fd_); }

}  // namespace mmiotrace::cli
