#include "harness.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "programs/e2e.h"
#include "reference/kernel_format_reader.h"
#include "trace/reader.h"

namespace mmiotrace::e2e {

namespace fs = std::filesystem;

std::string program_path(const std::string& name, const std::string& opt) {
  return std::string(E2E_PROGRAM_DIR) + "/e2e_" + name + "_" + opt;
}

std::string mmiotrace_path() { return MMIOTRACE_BIN; }

std::string work_dir() {
  std::string dir = E2E_WORK_DIR;
  for (const std::string& a : forced_record_args()) dir += "_" + a;
  return dir;
}

std::vector<std::string> forced_record_args() {
  std::vector<std::string> args;
  const char* env = getenv("MMIOTRACE_E2E_RECORD_ARGS");
  std::istringstream in(env != nullptr ? env : "");
  std::string a;
  while (in >> a) args.push_back(a);
  return args;
}

namespace {

std::string read_fd(int fd) {
  std::string s;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string shell_quote(const std::vector<std::string>& argv) {
  std::string s;
  for (const std::string& a : argv) {
    if (!s.empty()) s += ' ';
    s += "'" + a + "'";
  }
  return s;
}

bool parse_access(const std::string& line, Access* a) {
  char op;
  int width, map_id, tid;
  unsigned long sec, usec;
  unsigned long long phys, value, pc;
  if (sscanf(line.c_str(), "%c %d %lu.%lu %d 0x%llx 0x%llx 0x%llx %d", &op, &width, &sec, &usec, &map_id, &phys, &value,
             &pc, &tid) != 9 ||
      (op != 'R' && op != 'W') || line[1] != ' ') {
    return false;
  }
  *a = Access{op, width, map_id, phys, value, pc, tid, line};
  return true;
}

}  // namespace

int exit_status(int wait_status) {
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

int run_command(const std::vector<std::string>& argv, std::string* out, std::string* err) {
  // Unnamed temporary files, not pipes: a child that fills one pipe while we
  // read the other would deadlock.
  FILE* out_file = tmpfile();
  FILE* err_file = tmpfile();
  if (out_file == nullptr || err_file == nullptr) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fileno(out_file), 1);
    dup2(fileno(err_file), 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  for (auto [file, dest] : {std::pair{out_file, out}, std::pair{err_file, err}}) {
    lseek(fileno(file), 0, SEEK_SET);
    std::string s = read_fd(fileno(file));
    if (dest != nullptr) *dest = std::move(s);
    fclose(file);
  }
  return status;
}

TracedRun run_traced(const std::string& test_name, const std::string& program, const std::vector<std::string>& args,
                     size_t device_size, const std::vector<std::string>& extra_record_args, bool print,
                     bool same_addresses) {
  TracedRun run;
  run.dir = work_dir() + "/" + test_name;
  fs::remove_all(run.dir);
  fs::create_directories(run.dir);
  run.device = run.dir + "/dev";
  run.device_before.resize(device_size);
  for (size_t i = 0; i < device_size; ++i) run.device_before[i] = e2e_pattern(i);
  {
    std::ofstream dev(run.device, std::ios::binary);
    dev.write(reinterpret_cast<const char*>(run.device_before.data()), static_cast<std::streamsize>(device_size));
  }
  const std::string trace = run.dir + "/trace.mmio";
  // The test's own options first: a --device of its own matches before the default one.
  std::vector<std::string> cmd = {mmiotrace_path(), "record", "-o", trace};
  const std::vector<std::string> forced = forced_record_args();
  cmd.insert(cmd.end(), forced.begin(), forced.end());
  cmd.insert(cmd.end(), extra_record_args.begin(), extra_record_args.end());
  cmd.insert(cmd.end(), {"--device", run.dir + "/dev*"});
  cmd.push_back("--");
  cmd.push_back(program);
  cmd.push_back(run.device);
  cmd.insert(cmd.end(), args.begin(), args.end());
  if (same_addresses) cmd.insert(cmd.begin(), {"/usr/bin/setarch", "-R"});
  run.repro = shell_quote(cmd) + " && " + shell_quote({mmiotrace_path(), "print", trace});
  int status = run_command(cmd, &run.out, &run.err);
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) run.term_signal = WTERMSIG(status);
  run.device_after = read_file(run.device);
  if (auto reader = trace::TraceReader::open(trace)) run.features = reader->header().features;
  if (!print) return run;
  std::string print_err;
  run_command({mmiotrace_path(), "print", trace}, &run.trace_text, &print_err);
  run.err += print_err;
  // Whatever a program did, the kernel format holds only what the kernel
  // prints (the independent reader of tests/reference).
  const std::string unreadable = reference::read_kernel_format(run.trace_text);
  if (!unreadable.empty()) ADD_FAILURE() << "kernel format of " << trace << ": " << unreadable;
  std::istringstream in(run.trace_text);
  std::string line;
  while (std::getline(in, line)) {
    run.lines.push_back(line);
    Access a;
    if (parse_access(line, &a)) run.accesses.push_back(a);
  }
  return run;
}

std::vector<Access> expected_accesses(const TracedRun& run) {
  std::vector<Access> v;
  std::istringstream in(run.out);
  std::string line;
  while (std::getline(in, line)) {
    char op;
    int width;
    unsigned long long off, value;
    if (sscanf(line.c_str(), "EXPECT %c %d 0x%llx 0x%llx", &op, &width, &off, &value) == 4) {
      Access a;
      a.op = op;
      a.width = width;
      a.phys = off;
      a.value = value;
      v.push_back(a);
    }
  }
  return v;
}

std::string replay_mismatch(const TracedRun& run, int map_id) {
  std::vector<uint8_t> shadow = run.device_before;
  for (const Access& a : run.accesses) {
    if (a.map_id != map_id) continue;
    if (a.phys + static_cast<uint64_t>(a.width) > shadow.size()) return "access outside the device: " + a.line;
    if (a.op == 'W') {
      for (int i = 0; i < a.width; ++i)
        shadow[a.phys + static_cast<uint64_t>(i)] = static_cast<uint8_t>(a.value >> (8 * i));
    } else {
      uint64_t v = 0;
      for (int i = a.width - 1; i >= 0; --i) v = (v << 8) | shadow[a.phys + static_cast<uint64_t>(i)];
      if (v != a.value) {
        char buf[64];
        snprintf(buf, sizeof(buf), " (the device held 0x%llx)", static_cast<unsigned long long>(v));
        return "read value disagrees with the writes before it: " + a.line + buf;
      }
    }
  }
  if (shadow.size() <= run.device_after.size() && !std::equal(shadow.begin(), shadow.end(), run.device_after.begin())) {
    for (size_t i = 0; i < shadow.size(); ++i) {
      if (shadow[i] != run.device_after[i]) {
        char buf[160];
        snprintf(buf, sizeof(buf), "replaying the trace's writes gives 0x%02x at offset 0x%zx, the device holds 0x%02x",
                 shadow[i], i, run.device_after[i]);
        return buf;
      }
    }
  }
  return "";
}

std::string describe(const Access& a) {
  char buf[96];
  snprintf(buf, sizeof(buf), "%c %d 0x%llx 0x%llx", a.op, a.width, static_cast<unsigned long long>(a.phys),
           static_cast<unsigned long long>(a.value));
  return buf;
}

namespace {

// Applies one access (memory-order bytes) to the shadow; "" or the disagreement.
std::string replay_one(std::vector<uint8_t>& shadow, bool write, uint64_t phys, std::span<const uint8_t> value,
                       uint64_t mask, uint64_t seq) {
  if (phys + value.size() > shadow.size()) return "access outside the device at seq " + std::to_string(seq);
  for (size_t i = 0; i < value.size(); ++i) {
    if (((mask >> i) & 1) == 0) continue;
    uint8_t& b = shadow[phys + i];
    if (write) {
      b = value[i];
    } else if (b != value[i]) {
      char buf[160];
      snprintf(buf, sizeof(buf), "read at seq %llu, physical 0x%llx: the trace says 0x%02x, the device held 0x%02x",
               static_cast<unsigned long long>(seq), static_cast<unsigned long long>(phys + i), value[i], b);
      return buf;
    }
  }
  return "";
}

}  // namespace

std::string replay_binary_mismatch(const TracedRun& run, int map_id, uint64_t* accesses) {
  *accesses = 0;
  auto reader = trace::TraceReader::open(run.dir + "/trace.mmio");
  if (!reader) return reader.error();
  std::vector<uint8_t> shadow = run.device_before;
  trace::RecordView rec;
  for (;;) {
    auto more = reader->next(rec);
    if (!more) return more.error();
    if (!*more) break;
    if (rec.type() == trace::RecordType::ACCESS) {
      const auto a = rec.as<trace::AccessRecord>();
      if (map_id != 0 && a.map_id != static_cast<uint32_t>(map_id)) continue;
      std::string m = replay_one(shadow, a.op == static_cast<uint8_t>(trace::AccessOp::WRITE), a.phys,
                                 rec.access_value(), a.byte_mask, a.h.seq);
      if (!m.empty()) return m;
      ++*accesses;
    } else if (rec.type() == trace::RecordType::ACCESS_RUN) {
      const auto r = rec.as<trace::AccessRunRecord>();
      if (map_id != 0 && r.map_id != static_cast<uint32_t>(map_id)) continue;
      for (uint32_t i = 0; i < r.count; ++i) {
        std::string m =
            replay_one(shadow, r.op == static_cast<uint8_t>(trace::AccessOp::WRITE),
                       trace::run_access_phys(r.phys, r.stride, i), rec.access_run_value(i), ~uint64_t{0}, r.h.seq + i);
        if (!m.empty()) return m;
      }
      *accesses += r.count;
    }
  }
  if (shadow.size() > run.device_after.size() || !std::equal(shadow.begin(), shadow.end(), run.device_after.begin())) {
    return "replaying the trace's writes does not give the device's final contents";
  }
  return "";
}

namespace {

uint64_t value_of(std::span<const uint8_t> bytes) {
  uint64_t v = 0;
  for (size_t i = std::min<size_t>(bytes.size(), 8); i-- > 0;) v = (v << 8) | bytes[i];
  return v;
}

}  // namespace

std::string read_binary_accesses(const TracedRun& run, std::vector<BinaryAccess>* out, uint64_t* lost) {
  out->clear();
  *lost = 0;
  auto reader = trace::TraceReader::open(run.dir + "/trace.mmio");
  if (!reader) return reader.error();
  trace::RecordView rec;
  for (;;) {
    auto more = reader->next(rec);
    if (!more) return more.error();
    if (!*more) break;
    if (rec.type() == trace::RecordType::ACCESS) {
      const auto a = rec.as<trace::AccessRecord>();
      BinaryAccess b;
      b.seq = a.h.seq;
      b.phys = a.phys;
      b.value = value_of(rec.access_value());
      b.pid = a.pid;
      b.tid = a.h.tid;
      b.map_id = a.map_id;
      b.op = a.op == static_cast<uint8_t>(trace::AccessOp::WRITE) ? 'W' : 'R';
      b.width = static_cast<uint8_t>(rec.access_value().size());
      out->push_back(b);
    } else if (rec.type() == trace::RecordType::ACCESS_RUN) {
      const auto r = rec.as<trace::AccessRunRecord>();
      for (uint32_t i = 0; i < r.count; ++i) {
        BinaryAccess b;
        b.seq = r.h.seq + i;
        b.phys = trace::run_access_phys(r.phys, r.stride, i);
        b.value = value_of(rec.access_run_value(i));
        b.pid = r.pid;
        b.tid = r.h.tid;
        b.map_id = r.map_id;
        b.op = r.op == static_cast<uint8_t>(trace::AccessOp::WRITE) ? 'W' : 'R';
        b.width = static_cast<uint8_t>(r.width);
        out->push_back(b);
      }
    } else if (rec.type() == trace::RecordType::LOST) {
      *lost += rec.as<trace::LostRecord>().count;
    }
  }
  return "";
}

// A fake /sys and /dev under the work folder: ordinary files only.
std::string make_fake_sysroot(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string root = dir + "/root";
  const std::string pci = root + "/sys/devices/pci0000:00/0000:00:04.0";
  fs::create_directories(pci);
  fs::create_directories(root + "/sys/bus/pci/devices");
  fs::create_directories(root + "/sys/bus/pci/drivers/uio_pci_generic");
  fs::create_directories(root + "/sys/class/uio/uio0/maps/map0");
  fs::create_directories(root + "/dev");
  auto put = [](const std::string& path, const std::string& text) { std::ofstream(path) << text; };
  put(pci + "/resource",
      "0x00000000fea00000 0x00000000fea00fff 0x0000000000040200\n"
      "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
      "0x00000000fe800000 0x00000000fe803fff 0x000000000014220c\n"
      "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
      "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
      "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
      "0x0000000000000000 0x0000000000000000 0x0000000000000000\n");
  put(pci + "/vendor", "0x1234\n");
  put(pci + "/device", "0x11e8\n");
  put(pci + "/irq", "11\n");
  fs::create_symlink("../../../bus/pci/drivers/uio_pci_generic", pci + "/driver");
  fs::create_symlink("../../../devices/pci0000:00/0000:00:04.0", root + "/sys/bus/pci/devices/0000:00:04.0");
  put(pci + "/resource0", "");
  fs::resize_file(pci + "/resource0", 4096);
  put(root + "/sys/class/uio/uio0/maps/map0/addr", "0xfeb00000\n");
  fs::create_symlink(pci, root + "/sys/class/uio/uio0/device");
  put(root + "/dev/uio0", "");
  fs::resize_file(root + "/dev/uio0", 4096);
  put(root + "/dev/mem", "");
  fs::resize_file(root + "/dev/mem", 0xfea02000);  // sparse
  return root;
}

}  // namespace mmiotrace::e2e
