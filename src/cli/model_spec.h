// record --model LIB[,KEY=VALUE]...: a device model (include/mmiotrace/model.h,
// docs/models.md) as the device a program opens. Keys: device=PATH (the file
// the program opens for BAR 0: a sysfs resource file, /dev/uioN, or any
// path; default /sys/bus/pci/devices/<slot>/resource0), slot=[DOMAIN:]BUS:DEV.FN
// (default 0000:00:01.0, or the sysfs path's), phys=ADDR (BAR 0's physical
// address, default 0xfe000000 rounded up to its size; further BARs follow),
// irq=N (the PCIDEV record's IRQ), args=TEXT (the model's init() arguments:
// everything after `args=`, commas included).
#pragma once

#include <string>

#include "cli/session_file.h"
#include "common/result.h"

struct mmiotrace_model;

namespace mmiotrace::cli {

struct ModelOption {
  std::string library;  // absolute
  std::string device;
  uint32_t busdevfn = 0x0008;  // 0000:00:01.0
  bool has_slot = false;
  uint64_t phys = 0;
  bool has_phys = false;
  uint32_t irq = 0;
  std::string args;
};

Result<ModelOption> parse_model_option(const std::string& arg);

// A model library loaded into this process and checked (its entry point, ABI,
// table); it stays loaded for the process's life.
Result<const mmiotrace_model*> load_model(const std::string& library);

// The session's model part: its devices (one per BAR, with the path the
// program opens and a PCIDEV record), library, arguments and state size.
Result<void> model_session_spec(const ModelOption& option, const mmiotrace_model& model, SessionSpec* spec);

// The model's init() on the session's (zeroed) state.
Result<void> init_model_state(const ModelOption& option, const mmiotrace_model& model, trace::SessionHeader* h);

}  // namespace mmiotrace::cli
