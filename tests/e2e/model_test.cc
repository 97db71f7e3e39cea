// `mmiotrace record --model`: QEMU's edu device as a device model
// (models/edu, docs/models.md) answers the same edu drivers the QEMU guest
// scenarios run against QEMU's own edu, and must answer them as QEMU did. The
// guest's traces are in tests/data/model (recorded by the vm_edu_model
// scenario, which also runs these tests against the traces of its own guest
// through MMIOTRACE_MODEL_GUEST_TRACES): each driver runs here on the host
// with the guest's device path and BAR address, and its trace must show the
// accesses the guest's did, in order, with the same values (polls folded:
// model_trace_difference), and the driver must print the same.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"
#include "replay_harness.h"
#include "trace/reader.h"

namespace mmiotrace::e2e {
namespace {

namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The program's own lines (the recorder's are "mmiotrace: ...").
std::string program_lines(const std::string& text) {
  std::istringstream in(text);
  std::string out;
  for (std::string l; std::getline(in, l);) {
    if (l.rfind("mmiotrace:", 0) != 0) out += l + "\n";
  }
  return out;
}

std::string guest_dir() {
  const char* env = getenv("MMIOTRACE_MODEL_GUEST_TRACES");
  return env != nullptr && *env != '\0' ? env : std::string(E2E_DATA_DIR) + "/model";
}

// The guest's device: its first MAP's path and physical address.
bool guest_device(const std::string& trace, std::string* path, uint64_t* phys) {
  auto reader = trace::TraceReader::open(trace);
  if (!reader) return false;
  trace::RecordView v;
  for (;;) {
    auto more = reader->next(v);
    if (!more || !*more) return false;
    if (v.type() == trace::RecordType::MAP) {
      *path = std::string(v.map_path());
      *phys = v.as<trace::MapRecord>().phys - v.as<trace::MapRecord>().file_offset;
      return true;
    }
  }
}

class Model : public FolderTest {
 protected:
  Model() : FolderTest("model") {}
  // Runs `program args... DEVICE` (DEVICE: the guest's path, appended) under
  // record --model edu, where /sys is an empty tmpfs (the guest's sysfs path
  // may name a device of this machine: nothing of it may be opened), and
  // compares it with the guest's run NAME.
  void expect_as_in_guest(const std::string& name, const std::string& program, std::vector<std::string> args) {
    const std::vector<std::string> wrapper = no_devices_wrapper();
    if (wrapper.empty()) GTEST_SKIP() << "no mount namespace here (unshare): not opening a real device's path";
    const std::string guest = guest_dir() + "/" + name;
    std::string path;
    uint64_t phys = 0;
    ASSERT_TRUE(guest_device(guest + ".mmio", &path, &phys)) << guest << ".mmio has no mapping";
    args.push_back(path);
    std::vector<std::string> cmd = wrapper;
    const std::string out = dir() + "/model.mmio";
    char model[512];
    snprintf(model, sizeof model, "%s,device=%s,phys=0x%llx", MODEL_EDU, path.c_str(),
             static_cast<unsigned long long>(phys));
    for (const std::string& a : {mmiotrace_path(), std::string("record"), std::string("-o"), out,
                                 std::string("--model"), std::string(model), std::string("--"), program}) {
      cmd.push_back(a);
    }
    cmd.insert(cmd.end(), args.begin(), args.end());
    for (const std::string& a : cmd) repro_ += "'" + a + "' ";
    std::string stdout_text, stderr_text;
    const int status = run_command(cmd, &stdout_text, &stderr_text);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << stderr_text;
    EXPECT_EQ(program_lines(stdout_text + stderr_text), program_lines(read_text(guest + ".out")));
    EXPECT_EQ(model_trace_difference(guest + ".mmio", out), "");
  }
};

// tests/vm/drivers/edu_test: identification, liveness, factorial (status
// polled), interrupt raise/status/acknowledge, DMA registers and a transfer
// polled until its start bit clears.
TEST_F(Model, EduTestDriverSequenceAsAgainstQemusEdu) {
  expect_as_in_guest("edu_test", VM_DRIVERS_DIR "/edu_test", {"sysfs"});
}

// edu_test --side-effects: LOCK OR, AND and XCHG on the status and liveness
// registers, one read and one write each.
TEST_F(Model, EduReadModifyWriteAsAgainstQemusEdu) {
  expect_as_in_guest("edu_side_effects", VM_DRIVERS_DIR "/edu_test", {"--side-effects", "sysfs"});
}

// examples/edu_driver: two threads (the interrupt thread polls the interrupt
// status the factorial's completion raises), 64-bit DMA registers, and
// sub-4-byte and block stores outside edu's registers.
TEST_F(Model, EduExampleDriverAsAgainstQemusEdu) { expect_as_in_guest("edu_example", EXAMPLES_DIR "/edu_driver", {}); }

// Interrupts where a program sees them: read() of /dev/uio0 returns the
// model's interrupt count, and blocks until the next one, while the model's
// time runs on (the DMA's interrupt comes 100 ms of program time after the
// command, with no access in between). Nothing here opens /dev/uio0: it is
// the model's stand-in (and /sys is empty).
TEST_F(Model, UioReadReturnsTheModelsInterruptCount) {
  const std::vector<std::string> wrapper = no_devices_wrapper();
  if (wrapper.empty()) GTEST_SKIP() << "no mount namespace here (unshare)";
  std::vector<std::string> cmd = wrapper;
  for (const std::string& a : {mmiotrace_path(), std::string("record"), std::string("-o"), dir() + "/t.mmio",
                               std::string("--model"), std::string(MODEL_EDU) + ",device=/dev/uio0", std::string("--"),
                               program_path("uio_irq", "O2"), std::string("/dev/uio0")}) {
    cmd.push_back(a);
  }
  for (const std::string& a : cmd) repro_ += "'" + a + "' ";
  std::string out, err;
  const int status = run_command(cmd, &out, &err);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << err;
  EXPECT_EQ(out, "interrupts 1\ninterrupts 2\nirq status 0x100, dma command 0x4\n");
  EXPECT_NE(err.find("device model: 2 interrupts"), std::string::npos) << err;
}

// The model's state is one device for every process of the program: what a
// forked child wrote, the parent reads.
TEST_F(Model, AForkedChildAndItsParentSeeOneDevice) {
  const std::vector<std::string> wrapper = no_devices_wrapper();
  if (wrapper.empty()) GTEST_SKIP() << "no mount namespace here (unshare)";
  std::vector<std::string> cmd = wrapper;
  for (const std::string& a :
       {mmiotrace_path(), std::string("record"), std::string("-o"), dir() + "/t.mmio", std::string("--model"),
        std::string(MODEL_EDU), std::string("--"), program_path("model_fork", "O2"),
        std::string("/sys/bus/pci/devices/0000:00:01.0/resource0")}) {
    cmd.push_back(a);
  }
  for (const std::string& a : cmd) repro_ += "'" + a + "' ";
  std::string out, err;
  const int status = run_command(cmd, &out, &err);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << err;
  EXPECT_EQ(out, "liveness 0xfffffffe\n");
  EXPECT_NE(err.find("recorded 2 accesses (1 reads, 1 writes) on 1 mapping from 2 threads in 2 processes"),
            std::string::npos)
      << err;
}

// The model refuses what it does not know, before the program starts.
TEST_F(Model, BadModelArgumentsAreOneLineErrors) {
  std::string out, err;
  int status = run_command({mmiotrace_path(), "record", "-o", dir() + "/t.mmio", "--model",
                            std::string(MODEL_EDU) + ",args=fact_ns=soon", "--", "/bin/true"},
                           &out, &err);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 64) << err;
  EXPECT_EQ(err, "mmiotrace: --model edu: unknown argument 'fact_ns=soon' (edu takes fact_ns=N, dma_ns=N)\n");
  status = run_command({mmiotrace_path(), "record", "-o", dir() + "/t.mmio", "--model", "/bin/true", "--", "/bin/true"},
                       &out, &err);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 64) << err;
  EXPECT_NE(err.find("cannot load /bin/true"), std::string::npos) << err;
  status = run_command({mmiotrace_path(), "record", "-o", dir() + "/t.mmio", "--model",
                        std::string(MODEL_EDU) + ",device=/dev/mem", "--", "/bin/true"},
                       &out, &err);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 64) << err;
  EXPECT_NE(err.find("device=/dev/mem is not supported"), std::string::npos) << err;
  status = run_command(
      {mmiotrace_path(), "record", "--mode=step", "-o", dir() + "/t.mmio", "--model", MODEL_EDU, "--", "/bin/true"},
      &out, &err);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 64) << err;
  EXPECT_NE(err.find("--model runs in emulate mode only"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir() + "/t.mmio"));
}

}  // namespace
}  // namespace mmiotrace::e2e
