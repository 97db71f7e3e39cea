#include "trace/trace_input.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mmiotrace::trace {

namespace {

constexpr size_t kDetectBytes = 16;

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace

InputKind detect_input(std::string_view first) {
  static constexpr std::string_view kLinePrefixes[] = {"VERSION ", "# tracer:", "R ",      "W ",      "MAP ",
                                                       "UNMAP ",   "MARK ",     "PCIDEV ", "UNKNOWN "};
  for (std::string_view prefix : kLinePrefixes) {
    if (starts_with(first, prefix)) return InputKind::KERNEL_LOG;
  }
  return InputKind::TRACE;
}

Result<TraceInput> open_trace_input(const std::string& path, TraceFailure* failure) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (failure) *failure = TraceFailure::UNREADABLE;
    return make_error(fmt::format("cannot open trace file '{}': {}", path, std::strerror(errno)));
  }
  // Read until kDetectBytes are in or the file ends: a pipe may give less at a time.
  char first[kDetectBytes];
  size_t n = 0;
  while (n < sizeof first) {
    const ssize_t got = ::read(fd, first + n, sizeof first - n);
    if (got > 0) {
      n += static_cast<size_t>(got);
    } else if (got == 0) {
      break;
    } else if (errno != EINTR) {
      const int err = errno;
      ::close(fd);
      if (failure) *failure = TraceFailure::UNREADABLE;
      return make_error(fmt::format("cannot read trace file '{}': {}", path, std::strerror(err)));
    }
  }
  TraceInput input;
  input.kind = detect_input({first, n});
  if (input.kind == InputKind::KERNEL_LOG) {
    input.kernel_log.emplace(KernelLogReader::adopt_fd(fd, path, {first, n}));
    return input;
  }
  auto reader = TraceReader::adopt_fd(fd, path, {reinterpret_cast<const uint8_t*>(first), n}, failure);
  if (!reader) return make_error(reader.error());
  input.trace.emplace(std::move(*reader));
  return input;
}

}  // namespace mmiotrace::trace
