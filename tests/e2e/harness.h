// End-to-end harness: runs a test program under `mmiotrace record` against a
// stand-in device file, prints the trace with `mmiotrace print`, and parses
// what came out. A failing test keeps its work folder and prints the command
// that reproduces it.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mmiotrace::e2e {

struct Access {
  char op = 0;  // 'R' or 'W'
  int width = 0;
  int map_id = 0;
  uint64_t phys = 0;
  uint64_t value = 0;
  uint64_t pc = 0;
  int tid = 0;
  std::string line;
};

struct TracedRun {
  std::string dir;         // work folder (kept for a failing test)
  std::string device;      // the stand-in device file
  std::string repro;       // the command that reproduces the run
  int exit_code = -1;      // of `record` (the program's own status)
  int term_signal = 0;     // signal that ended `record`, 0 if it exited
  std::string out;         // program's stdout
  std::string err;         // record's and program's stderr
  std::string trace_text;  // `mmiotrace print` output
  std::vector<Access> accesses;
  std::vector<std::string> lines;      // every line of trace_text
  uint64_t features = 0;               // the trace header's FileHeader.features
  std::vector<uint8_t> device_before;  // device content the program started with
  std::vector<uint8_t> device_after;
};

// Sets an environment variable for the programs a test runs, until the end of the scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) { setenv(name, value.c_str(), 1); }
  ~ScopedEnv() { unsetenv(name_); }

 private:
  const char* name_;
};

std::string program_path(const std::string& name, const std::string& opt);  // opt: "O0" or "O2"
std::string mmiotrace_path();
// Where tests keep their files: the build's tests/e2e/work, with the forced
// record options appended (work_--patch-after=1): ctest's second run of the
// suite may run a test beside its first run.
std::string work_dir();
// Options every run_traced() gives `record` first: MMIOTRACE_E2E_RECORD_ARGS,
// split at spaces (ctest runs the suite once more with --patch-after=1).
std::vector<std::string> forced_record_args();

// Runs `program args...` (the device path is passed as the first argument)
// under the tracer with a `device_size`-byte device filled with the e2e
// pattern. `extra_record_args` go first, before the harness's own --device
// (so a --device among them that matches the device file is the one used). With print false, the trace is
// not printed (trace_text, lines and accesses stay empty).
// With `same_addresses`, record runs under `setarch -R` (no address space
// randomisation): two runs of a program map everything at the same
// addresses, so their traces' PCs and virtual addresses can be compared.
TracedRun run_traced(const std::string& test_name, const std::string& program, const std::vector<std::string>& args,
                     size_t device_size, const std::vector<std::string>& extra_record_args = {}, bool print = true,
                     bool same_addresses = false);

// Runs a command, capturing stdout/stderr; returns the wait status.
int run_command(const std::vector<std::string>& argv, std::string* out, std::string* err);
// A wait status as a shell reports it: the exit code, or 128 + the signal.
int exit_status(int wait_status);

// The EXPECT lines the program printed, as accesses.
std::vector<Access> expected_accesses(const TracedRun& run);

// Replays the trace's accesses to the first mapping on a copy of the initial
// device content: every read must return what the device held at that point,
// and the end result must equal the device's final content. Returns "" or a
// description of the first disagreement.
std::string replay_mismatch(const TracedRun& run, int map_id = 1);

std::string describe(const Access& a);

// replay_mismatch() on the binary trace itself (for traces too large to
// print): every access to mapping `map_id`, ACCESS_RUN records included.
// Also counts the accesses replayed into *accesses.
// map_id 0: every mapping (processes that mapped the same device file each
// have their own map id, with the same physical addresses).
std::string replay_binary_mismatch(const TracedRun& run, int map_id, uint64_t* accesses);

// Every access of the binary trace (ACCESS records, and each access of an
// ACCESS_RUN), in trace order, for traces too large to print; values up to 8
// bytes. *lost counts the events of LOST records.
struct BinaryAccess {
  uint64_t seq = 0;
  uint64_t phys = 0;
  uint64_t value = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint32_t map_id = 0;
  char op = 0;
  uint8_t width = 0;
};
std::string read_binary_accesses(const TracedRun& run, std::vector<BinaryAccess>* out, uint64_t* lost);

// A fake /sys and /dev under `dir` (record --sysroot), ordinary files only:
// PCI device 0000:00:04.0 (1234:11e8, BAR0 0xfea00000 4 KiB, BAR2 0xfe800000
// 16 KiB, driver uio_pci_generic) with its sysfs resource0, /dev/uio0 (map0
// at 0xfeb00000, that device) and a sparse /dev/mem. Returns the root.
std::string make_fake_sysroot(const std::string& dir);

}  // namespace mmiotrace::e2e
