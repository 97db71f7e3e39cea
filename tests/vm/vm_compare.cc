// vm_compare: checks accesses against what a QEMU device itself received.
//
//   vm_compare --qemu-log qemu.log --region edu-mmio [--split 8] [--min-size 4]
//              [--trace a.mmio]... [--kernel-log k.txt] [--expect golden.txt --base 0xfe000000]
//              [--bar 0xfe000000:0x100000] [--pcidev 0000:00:03.0:1234:11e8]
//
// The ground truth is QEMU's "log" trace backend (-trace memory_region_ops_*):
// one line per access the device's memory region received, with the absolute
// guest-physical address. Each source given (our binary traces, read with
// trace::TraceReader and concatenated in the order given; the guest kernel's
// mmiotrace log, read with trace::KernelLogReader; a golden list) must equal
// the region's lines ACCESS FOR ACCESS: same order, op, address, size and
// value. The first difference is printed with the accesses around it.
// Exit 0: everything matches; 1: a difference or a failed check; 2: bad usage
// or unreadable input.
//
// QEMU splits an access wider than the region accepts (--split: edu takes 8
// bytes, e1000 4, pci-testdev 1) into consecutive little-endian pieces, and
// never delivers one narrower than its minimum (--min-size: edu rejects 1- and
// 2-byte accesses), so our side is put through the same rules, and says how
// many accesses the minimum dropped.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "trace/format.h"
#include "trace/kernel_log.h"
#include "trace/reader.h"

namespace {

using namespace mmiotrace;

struct Access {
  char op = 'R';  // 'R' or 'W'
  uint64_t addr = 0;
  unsigned size = 0;
  uint64_t value = 0;
  std::string where;       // file and line or seq, for the report
  bool any_value = false;  // a golden line with value "*"
};

struct Options {
  std::string qemu_log;
  std::string region;
  unsigned split = 8;
  unsigned min_size = 1;
  std::vector<std::string> traces;
  std::string kernel_log;
  std::string expect;
  uint64_t base = 0;
  std::optional<std::pair<uint64_t, uint64_t>> bar;  // start, size
  std::string pcidev;                                // dddd:bb:dd.f:vvvv:dddd
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "vm_compare: %s\n(see the header of tests/vm/vm_compare.cc)\n", why);
  std::exit(2);
}

// "key 0x1234" or "key 12" inside a QEMU log line.
bool field(const std::string& line, const char* key, uint64_t* out) {
  std::string k = std::string(" ") + key + " ";
  size_t p = line.find(k);
  if (p == std::string::npos) return false;
  *out = std::strtoull(line.c_str() + p + k.size(), nullptr, 0);
  return true;
}

std::vector<Access> load_qemu_log(const std::string& path, const std::string& region) {
  std::ifstream in(path);
  if (!in) usage(("cannot read " + path).c_str());
  std::vector<Access> out;
  std::string line;
  std::string name = "name '" + region + "'";
  for (unsigned n = 1; std::getline(in, line); ++n) {
    size_t p = line.find("memory_region_ops_");
    if (p == std::string::npos || line.find(name) == std::string::npos) continue;
    Access a;
    if (line.compare(p, 23, "memory_region_ops_read ") == 0)
      a.op = 'R';
    else if (line.compare(p, 24, "memory_region_ops_write ") == 0)
      a.op = 'W';
    else
      continue;
    uint64_t size = 0;
    if (!field(line, "addr", &a.addr) || !field(line, "value", &a.value) || !field(line, "size", &size)) {
      std::fprintf(stderr, "vm_compare: %s:%u: unreadable line: %s\n", path.c_str(), n, line.c_str());
      std::exit(2);
    }
    a.size = static_cast<unsigned>(size);
    // The log shows what the device model returned; the CPU gets only `size`
    // bytes of it (pci-testdev returns a sign-extended char).
    if (a.size < 8) a.value &= (uint64_t{1} << (8 * a.size)) - 1;
    a.where = "qemu.log:" + std::to_string(n);
    out.push_back(a);
  }
  return out;
}

uint64_t le_value(const uint8_t* bytes, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n && i < 8; ++i) v |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  return v;
}

// One access of ours as the device receives it: split into `split`-byte
// pieces, dropped (and counted) if narrower than the region's minimum.
void add_split(std::vector<Access>& out, char op, uint64_t addr, const uint8_t* value, unsigned width,
               const std::string& where, const Options& o, unsigned* dropped) {
  if (width < o.min_size) {
    ++*dropped;
    return;
  }
  unsigned piece = width > o.split ? o.split : width;
  for (unsigned off = 0; off < width; off += piece) {
    out.push_back(Access{op, addr + off, piece, le_value(value + off, piece), where});
  }
}

struct TraceFacts {
  std::vector<Access> accesses;
  std::vector<trace::MapRecord> maps;
  std::vector<trace::PciDevRecord> pcidevs;
  unsigned dropped = 0;
  unsigned unknown = 0;
  unsigned lost = 0;
};

void load_trace(const std::string& path, const Options& o, TraceFacts* f) {
  auto reader = trace::TraceReader::open(path);
  if (!reader) usage(reader.error().c_str());
  trace::RecordView r;
  for (;;) {
    auto more = reader->next(r);
    if (!more) usage(more.error().c_str());
    if (!*more) break;
    std::string where = path + " seq " + std::to_string(r.header().seq);
    switch (r.type()) {
      case trace::RecordType::ACCESS: {
        auto a = r.as<trace::AccessRecord>();
        char op = a.op == static_cast<uint8_t>(trace::AccessOp::WRITE) ? 'W' : 'R';
        add_split(f->accesses, op, a.phys, r.access_value().data(), a.width, where, o, &f->dropped);
        break;
      }
      case trace::RecordType::ACCESS_RUN: {
        auto a = r.as<trace::AccessRunRecord>();
        char op = a.op == static_cast<uint8_t>(trace::AccessOp::WRITE) ? 'W' : 'R';
        for (uint32_t i = 0; i < a.count; ++i) {
          add_split(f->accesses, op, trace::run_access_phys(a.phys, a.stride, i), r.access_run_value(i).data(), a.width,
                    where + "+" + std::to_string(i), o, &f->dropped);
        }
        break;
      }
      case trace::RecordType::MAP:
        f->maps.push_back(r.as<trace::MapRecord>());
        break;
      case trace::RecordType::PCIDEV:
        f->pcidevs.push_back(r.as<trace::PciDevRecord>());
        break;
      case trace::RecordType::UNKNOWN:
        ++f->unknown;
        break;
      case trace::RecordType::LOST:
        ++f->lost;
        break;
      default:
        break;
    }
  }
}

// The guest kernel's own mmiotrace log, read with the project's reader
// (trace/kernel_log.h): its R and W events inside [lo, hi). The kernel logs a
// MOVSX read's sign-extended register: only `width` bytes are the access.
std::vector<Access> load_kernel_log(const std::string& path, uint64_t lo, uint64_t hi) {
  auto reader = trace::KernelLogReader::open(path);
  if (!reader) usage(reader.error().c_str());
  std::vector<Access> out;
  trace::KernelLogEvent e;
  for (;;) {
    auto more = reader->next(e);
    if (!more) usage(more.error().c_str());
    if (!*more) break;
    bool read = e.kind == trace::KernelEventKind::READ;
    if ((!read && e.kind != trace::KernelEventKind::WRITE) || e.phys < lo || e.phys >= hi) continue;
    uint64_t value = e.width < 8 ? e.value & ((uint64_t{1} << (8 * e.width)) - 1) : e.value;
    out.push_back(Access{read ? 'R' : 'W', e.phys, e.width, value, "kernel log:" + std::to_string(e.line)});
  }
  return out;
}

// Golden list: "R|W OFFSET SIZE VALUE" per line (hex; VALUE "*": any), offsets
// from --base, # comments.
std::vector<Access> load_expect(const std::string& path, uint64_t base) {
  std::ifstream in(path);
  if (!in) usage(("cannot read " + path).c_str());
  std::vector<Access> out;
  std::string line;
  for (unsigned n = 1; std::getline(in, line); ++n) {
    if (line.empty() || line[0] == '#') continue;
    char op = 0;
    unsigned long long off = 0;
    unsigned size = 0;
    char value[32] = {};
    if (std::sscanf(line.c_str(), "%c %llx %u %31s", &op, &off, &size, value) != 4 || (op != 'R' && op != 'W')) {
      std::fprintf(stderr, "vm_compare: %s:%u: want 'R|W OFFSET SIZE VALUE'\n", path.c_str(), n);
      std::exit(2);
    }
    bool any = std::strcmp(value, "*") == 0;
    out.push_back(
        Access{op, base + off, size, any ? 0 : std::strtoull(value, nullptr, 16), path + ":" + std::to_string(n), any});
  }
  return out;
}

std::string show(const Access& a) {
  char buf[128];
  if (a.any_value)
    std::snprintf(buf, sizeof buf, "%c %u 0x%" PRIx64 " (any value)", a.op, a.size, a.addr);
  else
    std::snprintf(buf, sizeof buf, "%c %u 0x%" PRIx64 " 0x%" PRIx64, a.op, a.size, a.addr, a.value);
  return std::string(buf) + "  (" + a.where + ")";
}

bool same(const Access& a, const Access& b) {
  return a.op == b.op && a.addr == b.addr && a.size == b.size && (a.value == b.value || a.any_value || b.any_value);
}

// Prints the first difference with three accesses of context on each side.
bool compare(const char* what, const std::vector<Access>& truth, const std::vector<Access>& ours) {
  size_t n = std::min(truth.size(), ours.size());
  size_t i = 0;
  while (i < n && same(truth[i], ours[i])) ++i;
  if (i == n && truth.size() == ours.size()) {
    std::printf("%s: match, %zu accesses\n", what, truth.size());
    return true;
  }
  std::printf("%s: DIFFERENT at access %zu (QEMU saw %zu, %s has %zu)\n", what, i, truth.size(), what, ours.size());
  size_t from = i >= 3 ? i - 3 : 0;
  for (size_t k = from; k < i + 4 && (k < truth.size() || k < ours.size()); ++k) {
    std::printf("  %s #%zu\n    qemu: %s\n    %s: %s\n", k == i ? ">>" : "  ", k,
                k < truth.size() ? show(truth[k]).c_str() : "(nothing)", what,
                k < ours.size() ? show(ours[k]).c_str() : "(nothing)");
  }
  return false;
}

bool check_trace_facts(const TraceFacts& f, const Options& o) {
  bool ok = true;
  if (f.unknown != 0 || f.lost != 0) {
    std::printf("trace: %u UNKNOWN and %u LOST records\n", f.unknown, f.lost);
    ok = false;
  }
  if (f.maps.empty()) {
    std::printf("trace: no MAP record\n");
    ok = false;
  }
  if (o.bar) {
    auto [start, size] = *o.bar;
    for (const auto& m : f.maps) {
      bool in = m.phys >= start && m.phys + m.len <= start + size;
      std::printf("trace: MAP %u phys 0x%" PRIx64 " len 0x%" PRIx64 " kind %u: %s\n", m.map_id, m.phys, m.len, m.kind,
                  in ? "inside the BAR the guest assigned" : "NOT inside the BAR the guest assigned");
      ok = ok && in;
    }
  }
  if (!o.pcidev.empty()) {
    unsigned dom, bus, dev, fn, vendor, device;
    if (std::sscanf(o.pcidev.c_str(), "%x:%x:%x.%x:%x:%x", &dom, &bus, &dev, &fn, &vendor, &device) != 6) {
      usage("--pcidev wants dddd:bb:dd.f:vvvv:dddd");
    }
    uint32_t bdf = (dom << 16) | (bus << 8) | (dev << 3) | fn;
    bool found = false;
    for (const auto& p : f.pcidevs) {
      if (p.busdevfn != bdf) continue;
      found = p.vendor == vendor && p.device == device && (!o.bar || (p.start[0] & ~uint64_t{0xf}) == o.bar->first) &&
              (!o.bar || p.size[0] == o.bar->second);
      std::printf("trace: PCIDEV %s vendor %04x device %04x bar0 0x%" PRIx64 " size 0x%" PRIx64 ": %s\n",
                  o.pcidev.c_str(), p.vendor, p.device, p.start[0], p.size[0],
                  found ? "as the guest sees it" : "NOT as the guest sees it");
    }
    if (!found) {
      std::printf("trace: no PCIDEV record matching %s\n", o.pcidev.c_str());
      ok = false;
    }
  }
  if (f.dropped != 0) {
    std::printf("trace: %u accesses narrower than %u bytes left out (QEMU never delivers them to the device)\n",
                f.dropped, o.min_size);
  }
  return ok;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + a).c_str());
      return argv[++i];
    };
    if (a == "--qemu-log")
      o.qemu_log = value();
    else if (a == "--region")
      o.region = value();
    else if (a == "--split")
      o.split = static_cast<unsigned>(std::stoul(value()));
    else if (a == "--min-size")
      o.min_size = static_cast<unsigned>(std::stoul(value()));
    else if (a == "--trace")
      o.traces.push_back(value());
    else if (a == "--kernel-log")
      o.kernel_log = value();
    else if (a == "--expect")
      o.expect = value();
    else if (a == "--base")
      o.base = std::stoull(value(), nullptr, 0);
    else if (a == "--pcidev")
      o.pcidev = value();
    else if (a == "--bar") {
      std::string v = value();
      size_t colon = v.find(':');
      if (colon == std::string::npos) usage("--bar wants START:SIZE");
      o.bar = std::make_pair(std::stoull(v.substr(0, colon), nullptr, 0), std::stoull(v.substr(colon + 1), nullptr, 0));
    } else
      usage(("unknown argument " + a).c_str());
  }
  if (o.qemu_log.empty() || o.region.empty()) usage("--qemu-log and --region are required");
  if (o.traces.empty() && o.kernel_log.empty() && o.expect.empty()) usage("give --trace, --kernel-log or --expect");
  if (o.split == 0) usage("--split must be at least 1");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  std::vector<Access> truth = load_qemu_log(o.qemu_log, o.region);
  bool ok = true;
  if (truth.empty()) {
    std::printf("qemu: no access to region '%s' in %s\n", o.region.c_str(), o.qemu_log.c_str());
    ok = false;
  }
  if (!o.traces.empty()) {
    TraceFacts f;
    for (const auto& t : o.traces) load_trace(t, o, &f);
    ok = check_trace_facts(f, o) && ok;
    ok = compare("trace", truth, f.accesses) && ok;
  }
  if (!o.kernel_log.empty()) {
    uint64_t lo = o.bar ? o.bar->first : 0;
    uint64_t hi = o.bar ? o.bar->first + o.bar->second : UINT64_MAX;
    ok = compare("kernel", truth, load_kernel_log(o.kernel_log, lo, hi)) && ok;
  }
  if (!o.expect.empty()) ok = compare("expected", truth, load_expect(o.expect, o.base)) && ok;
  return ok ? 0 : 1;
}
