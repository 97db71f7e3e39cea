#include "replay_harness.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>

#include "harness.h"
#include "trace/reader.h"

namespace mmiotrace::e2e {

namespace {

std::string quote(const std::vector<std::string>& argv) {
  std::string s;
  for (const std::string& a : argv) s += (s.empty() ? "'" : " '") + a + "'";
  return s;
}

// One record as the comparison sees it.
struct Event {
  std::string text;  // what must be equal
  uint32_t pid = 0;
  uint32_t tid = 0;
};

std::string hex(std::span<const uint8_t> bytes) {
  std::string s;
  char b[4];
  for (size_t i = bytes.size(); i-- > 0;) {
    snprintf(b, sizeof b, "%02x", bytes[i]);
    s += b;
  }
  return s;
}

std::string read_events(const std::string& path, std::vector<Event>* out) {
  auto reader = trace::TraceReader::open(path);
  if (!reader) return path + ": " + reader.error();
  trace::RecordView v;
  char buf[256];
  for (;;) {
    auto more = reader->next(v);
    if (!more) return path + ": " + more.error();
    if (!*more) return "";
    switch (v.type()) {
      case trace::RecordType::ACCESS: {
        const auto a = v.as<trace::AccessRecord>();
        snprintf(buf, sizeof buf, "%c %u map %u phys 0x%llx mask 0x%llx value 0x", a.op ? 'W' : 'R', a.width, a.map_id,
                 static_cast<unsigned long long>(a.phys), static_cast<unsigned long long>(a.byte_mask));
        out->push_back(Event{buf + hex(v.access_value()), a.pid, a.h.tid});
        break;
      }
      case trace::RecordType::ACCESS_RUN: {
        const auto r = v.as<trace::AccessRunRecord>();
        for (uint32_t i = 0; i < r.count; ++i) {
          const uint64_t mask = (uint64_t{1} << r.width) - 1;
          snprintf(buf, sizeof buf, "%c %u map %u phys 0x%llx mask 0x%llx value 0x", r.op ? 'W' : 'R', r.width,
                   r.map_id, static_cast<unsigned long long>(trace::run_access_phys(r.phys, r.stride, i)),
                   static_cast<unsigned long long>(mask));
          out->push_back(Event{buf + hex(v.access_run_value(i)), r.pid, r.h.tid});
        }
        break;
      }
      case trace::RecordType::MAP: {
        const auto m = v.as<trace::MapRecord>();
        snprintf(buf, sizeof buf, "MAP %u phys 0x%llx len 0x%llx offset 0x%llx kind %u bar %u pci 0x%x ", m.map_id,
                 static_cast<unsigned long long>(m.phys), static_cast<unsigned long long>(m.len),
                 static_cast<unsigned long long>(m.file_offset), m.kind, m.bar, m.pci_busdevfn);
        out->push_back(Event{buf + std::string(v.map_path()), m.pid, m.h.tid});
        break;
      }
      case trace::RecordType::PCIDEV: {
        // Everything after the record header (seq, time, tid).
        out->push_back(Event{"PCIDEV " + hex(v.bytes().subspan(sizeof(trace::RecordHeader))), 0, 0});
        break;
      }
      default:
        break;
    }
  }
}

// Ids of one trace that must correspond one to one to the other's.
class Correspondence {
 public:
  bool check(uint32_t a, uint32_t b) {
    auto [ia, added_a] = ab_.emplace(a, b);
    auto [ib, added_b] = ba_.emplace(b, a);
    return ia->second == b && ib->second == a;
  }

 private:
  std::map<uint32_t, uint32_t> ab_, ba_;
};

}  // namespace

ReplayRun run_replay(const std::string& dir, const std::string& name, const std::string& recording,
                     const std::vector<std::string>& replay_args, const std::vector<std::string>& command,
                     const std::vector<std::string>& wrapper) {
  ReplayRun run;
  run.trace = dir + "/" + name + ".mmio";
  std::vector<std::string> cmd = wrapper;
  cmd.push_back(mmiotrace_path());
  cmd.push_back("replay");
  cmd.push_back("-o");
  cmd.push_back(run.trace);
  cmd.insert(cmd.end(), replay_args.begin(), replay_args.end());
  cmd.push_back(recording);
  cmd.push_back("--");
  cmd.insert(cmd.end(), command.begin(), command.end());
  run.repro = quote(cmd);
  const int status = run_command(cmd, &run.out, &run.err);
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) run.term_signal = WTERMSIG(status);
  return run;
}

std::string trace_difference(const std::string& a, const std::string& b) {
  std::vector<Event> ea, eb;
  if (std::string e = read_events(a, &ea); !e.empty()) return e;
  if (std::string e = read_events(b, &eb); !e.empty()) return e;
  Correspondence pids, tids;
  for (size_t i = 0; i < ea.size() || i < eb.size(); ++i) {
    if (i == ea.size()) return "the second trace goes on: " + eb[i].text;
    if (i == eb.size()) return "the first trace goes on: " + ea[i].text;
    std::ostringstream where;
    where << "record " << i << ": ";
    if (ea[i].text != eb[i].text) return where.str() + ea[i].text + " | " + eb[i].text;
    if (!pids.check(ea[i].pid, eb[i].pid)) return where.str() + "made by another process: " + ea[i].text;
    if (!tids.check(ea[i].tid, eb[i].tid)) return where.str() + "made by another thread: " + ea[i].text;
  }
  return "";
}

namespace {

struct ModelView {
  std::vector<std::string> devices;               // MAP and PCIDEV, in order
  std::vector<std::vector<std::string>> threads;  // accesses, polls folded
};

std::string model_view(const std::string& path, ModelView* out) {
  auto reader = trace::TraceReader::open(path);
  if (!reader) return path + ": " + reader.error();
  std::map<uint32_t, size_t> thread_of;
  std::vector<std::string> last_key;  // per thread: the key of its last access if a read, else ""
  trace::RecordView v;
  char buf[256];
  auto add = [&](uint32_t tid, const std::string& key, bool read, const std::string& value) {
    auto [it, added] = thread_of.emplace(tid, out->threads.size());
    if (added) {
      out->threads.emplace_back();
      last_key.emplace_back();
    }
    const size_t t = it->second;
    if (read && last_key[t] == key) {
      out->threads[t].back() = key + " value 0x" + value;  // a poll: the run counts as its last read
      return;
    }
    out->threads[t].push_back(key + " value 0x" + value);
    last_key[t] = read ? key : "";
  };
  for (;;) {
    auto more = reader->next(v);
    if (!more) return path + ": " + more.error();
    if (!*more) return "";
    switch (v.type()) {
      case trace::RecordType::ACCESS: {
        const auto a = v.as<trace::AccessRecord>();
        snprintf(buf, sizeof buf, "%c %u phys 0x%llx mask 0x%llx", a.op ? 'W' : 'R', a.width,
                 static_cast<unsigned long long>(a.phys), static_cast<unsigned long long>(a.byte_mask));
        add(a.h.tid, buf, a.op == 0, hex(v.access_value()));
        break;
      }
      case trace::RecordType::ACCESS_RUN: {
        const auto r = v.as<trace::AccessRunRecord>();
        for (uint32_t i = 0; i < r.count; ++i) {
          snprintf(buf, sizeof buf, "%c %u phys 0x%llx mask 0x%llx", r.op ? 'W' : 'R', r.width,
                   static_cast<unsigned long long>(trace::run_access_phys(r.phys, r.stride, i)),
                   static_cast<unsigned long long>((uint64_t{1} << r.width) - 1));
          add(r.h.tid, buf, r.op == 0, hex(v.access_run_value(i)));
        }
        break;
      }
      case trace::RecordType::MAP: {
        const auto m = v.as<trace::MapRecord>();
        snprintf(buf, sizeof buf, "MAP phys 0x%llx len 0x%llx offset 0x%llx kind %u bar %u pci 0x%x ",
                 static_cast<unsigned long long>(m.phys), static_cast<unsigned long long>(m.len),
                 static_cast<unsigned long long>(m.file_offset), m.kind, m.bar, m.pci_busdevfn);
        out->devices.push_back(buf + std::string(v.map_path()));
        break;
      }
      case trace::RecordType::PCIDEV: {
        const auto p = v.as<trace::PciDevRecord>();
        std::string text;
        snprintf(buf, sizeof buf, "PCIDEV 0x%x %04x:%04x", p.busdevfn, p.vendor, p.device);
        text = buf;
        for (unsigned i = 0; i < 7; ++i) {
          snprintf(buf, sizeof buf, " bar%u 0x%llx+0x%llx", i, static_cast<unsigned long long>(p.start[i]),
                   static_cast<unsigned long long>(p.size[i]));
          text += buf;
        }
        out->devices.push_back(text);
        break;
      }
      default:
        break;
    }
  }
}

std::string first_difference(const std::vector<std::string>& a, const std::vector<std::string>& b,
                             const std::string& what) {
  for (size_t i = 0; i < a.size() || i < b.size(); ++i) {
    if (i == a.size()) return what + ": the model's goes on: " + b[i];
    if (i == b.size()) return what + ": the device's goes on: " + a[i];
    if (a[i] != b[i]) return what + " " + std::to_string(i) + ": device " + a[i] + " | model " + b[i];
  }
  return "";
}

}  // namespace

std::string model_trace_difference(const std::string& device_trace, const std::string& model_trace) {
  ModelView a, b;
  if (std::string e = model_view(device_trace, &a); !e.empty()) return e;
  if (std::string e = model_view(model_trace, &b); !e.empty()) return e;
  if (std::string d = first_difference(a.devices, b.devices, "mappings and devices"); !d.empty()) return d;
  if (a.threads.size() != b.threads.size()) {
    return "threads that accessed the device: device " + std::to_string(a.threads.size()) + ", model " +
           std::to_string(b.threads.size());
  }
  for (size_t t = 0; t < a.threads.size(); ++t) {
    if (std::string d = first_difference(a.threads[t], b.threads[t], "thread " + std::to_string(t) + ", access");
        !d.empty())
      return d;
  }
  return "";
}

std::vector<std::string> no_devices_wrapper() {
  // Whether this machine can make one: the same command with `true`.
  const std::string script =
      "mount -t tmpfs none /sys && if [ -e /dev/mem ]; then mount --bind /dev/null /dev/mem; fi && exec \"$@\"";
  std::vector<std::string> wrapper = {"/usr/bin/unshare", "--mount", "--", "/bin/sh", "-c", script, "sh"};
  if (geteuid() != 0) wrapper.insert(wrapper.begin() + 1, "--map-root-user");
  std::vector<std::string> probe = wrapper;
  probe.push_back("/bin/true");
  std::string out, err;
  if (access(wrapper[0].c_str(), X_OK) != 0 || run_command(probe, &out, &err) != 0) return {};
  return wrapper;
}

}  // namespace mmiotrace::e2e
