// SessionFile: the CLI's side of trace/session.h. It lays out the session
// memfd (the stand-in devices, the recording to replay, the injection rules,
// the model's state), creates the stand-in memfds, and keeps them all open
// while the program runs; the agent opens them through /proc/<pid>/fd.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/recording.h"
#include "common/result.h"
#include "trace/session.h"

namespace mmiotrace::cli {

// A device a session stands in for, at a path the program opens.
struct StandInDevice {
  std::string path;
  trace::DeviceKind kind = trace::DeviceKind::FILE;
  uint64_t file_size = 0;  // what fstat shows for the path
  uint16_t bar = trace::kNoBar;
  uint32_t busdevfn = 0;
  bool has_pci = false;
  uint64_t file_base = 0;
  uint64_t phys_base = 0;
  uint64_t size = 0;
  uint64_t lowest = 0;          // lowest device offset that will be mapped (the backing starts there)
  std::vector<uint8_t> pcidev;  // a PCIDEV record for it
  uint32_t model_bar = 0;
};

struct SessionSpec {
  const Recording* replay = nullptr;  // replay: the devices and accesses come from it
  trace::ReplayPolicy policy = trace::ReplayPolicy::STRICT;
  uint64_t stall_timeout_ns = 2'000'000'000;
  std::vector<StandInDevice> model_devices;  // record --model: the devices the model is
  std::string model_path;
  std::string model_args;
  uint64_t model_state_size = 0;
  std::vector<trace::InjectRule> rules;
  uint64_t seed = 0;
};

class SessionFile {
 public:
  static Result<SessionFile> create(const SessionSpec& spec, uint64_t start_monotonic_ns);
  SessionFile(SessionFile&& other) noexcept;
  SessionFile(const SessionFile&) = delete;
  ~SessionFile();

  trace::SessionHeader* header() const { return header_; }
  // The path the agent opens (trace::kSessionEnv).
  std::string agent_path() const;

 private:
  SessionFile() = default;
  int fd_ = -1;
  trace::SessionHeader* header_ = nullptr;
  std::vector<int> stand_in_fds_;
};

// The stand-in devices of a recording, in the order of its device indices.
std::vector<StandInDevice> stand_ins_of(const Recording& rec);

}  // namespace mmiotrace::cli
