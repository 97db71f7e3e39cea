#include "cli/model_spec.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>

#include "cli/stand_in.h"
#include "common/device_path.h"
#include "mmiotrace/model.h"
#include "trace/encode.h"

namespace mmiotrace::cli {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kDefaultPhys = 0xfe000000;

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

std::string slot_text(uint32_t b) {
  return fmt::format("{:04x}:{:02x}:{:02x}.{:x}", b >> 16, (b >> 8) & 0xff, (b >> 3) & 0x1f, b & 7);
}

std::string absolute(const std::string& path) {
  char cwd[PATH_MAX];
  char out[PATH_MAX];
  if (getcwd(cwd, sizeof cwd) == nullptr || !normalize_path(path.c_str(), cwd, out, sizeof out)) return path;
  return out;
}

// One KEY=VALUE of --model `arg` into `o`.
Result<void> apply_key(const std::string& arg, const std::string& item, ModelOption* o) {
  const size_t eq = item.find('=');
  const std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
  auto bad = [&](const char* expected) {
    return make_error(fmt::format("--model '{}': {} is not {}", arg, item, expected));
  };
  if (key == "device" && !value.empty()) {
    o->device = absolute(value);
  } else if (key == "slot") {
    if (!parse_slot(value, &o->busdevfn)) return bad("slot=[DOMAIN:]BUS:DEV.FN (0000:00:04.0)");
    o->has_slot = true;
  } else if (key == "phys") {
    if (!parse_number(value, &o->phys)) return bad("phys=ADDRESS (0xfea00000)");
    o->has_phys = true;
  } else if (key == "irq") {
    uint64_t irq = 0;
    if (!parse_number(value, &irq) || irq > UINT32_MAX) return bad("irq=NUMBER");
    o->irq = static_cast<uint32_t>(irq);
  } else {
    return bad("one of device=PATH, slot=, phys=, irq=, args=");
  }
  return {};
}

}  // namespace

Result<ModelOption> parse_model_option(const std::string& arg) {
  ModelOption o;
  // args= takes the rest, commas included.
  std::string head = arg;
  if (const size_t a = arg.find(",args="); a != std::string::npos) {
    head = arg.substr(0, a);
    o.args = arg.substr(a + 6);
  }
  size_t comma = head.find(',');
  o.library = head.substr(0, comma);
  if (o.library.empty()) return make_error(fmt::format("--model '{}': no library (--model ./libmodel.so)", arg));
  o.library = absolute(o.library);
  while (comma != std::string::npos) {
    const size_t next = head.find(',', comma + 1);
    const std::string item = head.substr(comma + 1, next == std::string::npos ? std::string::npos : next - comma - 1);
    comma = next;
    if (auto ok = apply_key(arg, item, &o); !ok) return Error{ok.error()};
  }
  if (o.device == "/dev/mem" || o.device.rfind("/dev/vfio/", 0) == 0) {
    return make_error(
        fmt::format("--model '{}': device={} is not supported: a model stands in for a sysfs resource "
                    "file, /dev/uioN or a plain file (docs/models.md, \"Limits\")",
                    arg, o.device));
  }
  SysfsPciFile f;
  if (!o.device.empty() && parse_sysfs_pci_file(o.device.c_str(), &f)) {
    if (o.has_slot && f.busdevfn != o.busdevfn) {
      return make_error(fmt::format("--model '{}': slot= says {}, the device path {}", arg, slot_text(o.busdevfn),
                                    slot_text(f.busdevfn)));
    }
    if (strcmp(f.file, "resource0") != 0) {
      return make_error(fmt::format("--model '{}': device= names BAR 0's file (resource0), not {}", arg, f.file));
    }
    o.busdevfn = f.busdevfn;
    o.has_slot = true;
  }
  if (o.device.empty()) o.device = fmt::format("/sys/bus/pci/devices/{}/resource0", slot_text(o.busdevfn));
  return o;
}

Result<const mmiotrace_model*> load_model(const std::string& library) {
  void* lib = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return make_error(fmt::format("--model: cannot load {}: {}", library, dlerror()));
  auto entry = reinterpret_cast<mmiotrace_model_entry_fn>(dlsym(lib, MMIOTRACE_MODEL_ENTRY));
  if (entry == nullptr) {
    return make_error(fmt::format("--model: {} is not a device model: it exports no {}() (include/mmiotrace/model.h)",
                                  library, MMIOTRACE_MODEL_ENTRY));
  }
  const mmiotrace_model* m = entry(MMIOTRACE_MODEL_ABI);
  if (m == nullptr || m->abi != MMIOTRACE_MODEL_ABI || m->size < sizeof(mmiotrace_model)) {
    return make_error(
        fmt::format("--model: {} does not speak this mmiotrace's model ABI (version {}): rebuild it "
                    "against this mmiotrace/model.h",
                    library, MMIOTRACE_MODEL_ABI));
  }
  if (m->read == nullptr || m->write == nullptr) {
    return make_error(fmt::format("--model: {} has no read() or write()", library));
  }
  bool any = false;
  for (uint64_t size : m->bar_size) {
    if (size != 0 && (size < 16 || (size & (size - 1)) != 0)) {
      return make_error(
          fmt::format("--model: {} has a BAR of {} bytes, not a power of two of at least 16", library, size));
    }
    any = any || size != 0;
  }
  if (!any) return make_error(fmt::format("--model: {} has no BAR (bar_size all 0)", library));
  return m;
}

namespace {

// Where each BAR is (phys= for BAR 0, the others after it, each aligned to
// its size), and the PCIDEV record that says so.
Result<std::vector<uint8_t>> place_bars(const ModelOption& o, const mmiotrace_model& m, bool uio, uint64_t bars[6]) {
  trace::PciDevFields f;
  f.busdevfn = o.busdevfn;
  f.vendor = m.vendor;
  f.device = m.device;
  f.irq = o.irq;
  f.driver = uio ? "uio_pci_generic" : "";
  f.driver_len = static_cast<uint16_t>(strlen(f.driver));
  uint64_t at = o.has_phys ? o.phys : kDefaultPhys;
  for (unsigned b = 0; b < 6; ++b) {
    const uint64_t size = m.bar_size[b];
    if (size == 0) continue;
    at = align_up(at, size);
    if (b == 0 && o.has_phys && at != o.phys) {
      return make_error(fmt::format("--model: phys={:#x} is not a multiple of BAR 0's size ({:#x})", o.phys, size));
    }
    bars[b] = at;
    f.start[b] = at | (at + size > (uint64_t{1} << 32) ? 4 : 0);  // 64-bit where it reaches above 4 GiB
    f.size[b] = size;
    at += size;
  }
  std::vector<uint8_t> pcidev(trace::record_size_for_pcidev(f.driver_len));
  pcidev.resize(trace::encode_pcidev(pcidev.data(), pcidev.size(), trace::RecordStamp{}, f));
  return pcidev;
}

}  // namespace

Result<void> model_session_spec(const ModelOption& o, const mmiotrace_model& m, SessionSpec* spec) {
  const bool uio = o.device.rfind("/dev/uio", 0) == 0;
  SysfsPciFile sysfs;
  const bool pci_file = parse_sysfs_pci_file(o.device.c_str(), &sysfs);
  uint64_t bars[6] = {};
  auto pcidev = place_bars(o, m, uio, bars);
  if (!pcidev) return Error{pcidev.error()};
  unsigned map = 0;
  for (unsigned b = 0; b < 6; ++b) {
    if (m.bar_size[b] == 0) continue;
    StandInDevice d;
    d.has_pci = true;
    d.busdevfn = o.busdevfn;
    d.phys_base = bars[b];
    d.size = m.bar_size[b];
    d.pcidev = *pcidev;
    d.model_bar = b;
    if (uio) {
      // uio_pci_generic: map N is the Nth memory BAR.
      d.path = o.device;
      d.kind = trace::DeviceKind::UIO;
      d.bar = static_cast<uint16_t>(map);
      d.file_base = map * kPage;
    } else if (pci_file) {
      d.path = o.device.substr(0, o.device.size() - 1) + std::to_string(b);
      d.kind = trace::DeviceKind::PCI_RESOURCE;
      d.bar = static_cast<uint16_t>(b);
      d.file_size = d.size;
    } else {
      // A plain file stands for BAR 0 alone.
      if (b != 0) continue;
      d.path = o.device;
      d.kind = trace::DeviceKind::FILE;
      d.bar = 0;
      d.file_size = d.size;
    }
    ++map;
    spec->model_devices.push_back(std::move(d));
  }
  spec->model_path = o.library;
  spec->model_args = o.args;
  spec->model_state_size = m.state_size;
  return {};
}

Result<void> init_model_state(const ModelOption& o, const mmiotrace_model& m, trace::SessionHeader* h) {
  if (m.init != nullptr) {
    char error[256] = "";
    void* state = trace::session_at<char>(h, h->model_state_off);
    if (m.init(state, o.args.c_str(), error, sizeof error) != 0) {
      return make_error(fmt::format("--model {}: {}", m.name != nullptr ? m.name : o.library,
                                    error[0] != '\0' ? error : "its init() refused the arguments"));
    }
  }
  h->model_initialized.store(1);
  return {};
}

}  // namespace mmiotrace::cli
