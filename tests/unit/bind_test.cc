// Binding register maps to a trace's devices (src/analysis/bind.h) and naming
// its accesses: by PCI id through PCIDEV records, by address, by mapping; the
// refusals (no PCIDEV, no such device, a BAR too small or not memory, no such
// mapping); accesses that span registers.
#include "analysis/bind.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "print_test_support.h"

namespace mmiotrace::analysis {
namespace {

using trace::Record;

trace::RecordView view(const Record& r) {
  auto v = trace::RecordView::checked(r);
  EXPECT_TRUE(v) << v.error();
  return *v;
}

// 8086:100e at 00:03.0, BAR0 memory at 0xfebc0000 (128 KiB), BAR1 I/O.
Record e1000_pcidev(uint64_t bar0_size = 0x20000, uint16_t device = 0x100e) {
  trace::PciDevFields f;
  f.busdevfn = (0 << 8) | (3 << 3);
  f.vendor = 0x8086;
  f.device = device;
  f.start[0] = 0xfebc0000;
  f.size[0] = bar0_size;
  f.start[1] = 0xc001;
  f.size[1] = 0x40;
  return trace::encode(trace::encode_pcidev, trace::RecordStamp{1, 0, 0}, f);
}

Record map_record(int32_t map_id, uint64_t phys, uint64_t len, trace::DeviceKind kind, uint64_t file_offset = 0) {
  trace::MapFields f;
  f.phys = phys;
  f.virt = 0x7f0000000000;
  f.len = len;
  f.file_offset = file_offset;
  f.pid = 5;
  f.map_id = static_cast<uint32_t>(map_id);
  f.kind = kind;
  return trace::encode(trace::encode_map, trace::RecordStamp{2, 0, 5}, f);
}

Record access(trace::AccessOp op, uint8_t width, uint64_t phys, uint64_t value, int32_t map_id = 1) {
  uint8_t bytes[8];
  std::memcpy(bytes, &value, 8);
  trace::AccessFields a;
  a.op = op;
  a.width = width;
  a.phys = phys;
  a.pc = 0x401000;
  a.pid = 5;
  a.map_id = static_cast<uint32_t>(map_id);
  a.value = bytes;
  return trace::encode(trace::encode_access, trace::RecordStamp{3, 1000, 5}, a);
}

RegisterMap shipped(const std::string& name) {
  auto maps = load_register_maps({std::string(MT_MAPS_DIR) + "/" + name + ".toml", ""});
  EXPECT_TRUE(maps) << maps.error();
  return maps ? std::move(maps->front()) : RegisterMap{};
}

Result<RegisterBindings> bind(const std::string& map, const BindSpec& spec, const std::vector<Record>& records) {
  DeviceCatalog catalog;
  for (const Record& r : records) catalog.add(view(r));
  return RegisterBindings::make({shipped(map)}, {spec}, catalog);
}

// What print --regs shows for one access.
std::string describe(RegisterBindings& b, const Record& r) {
  std::string text;
  for_each_access(view(r), [&](const Access& a) {
    AccessDescription d;
    b.describe(a, d);
    fmt::memory_buffer out;
    if (d.binding != nullptr) fmt::format_to(fmt::appender(out), "{}+{:#x} ", d.binding->label, d.offset);
    format_description(d, a.is_write(), out);
    text = fmt::to_string(out);
  });
  return text;
}

TEST(BindTest, BindsByPciIdThroughPcidevRecords) {
  auto b = bind("e1000", {}, {e1000_pcidev(), map_record(1, 0xfebc0000, 0x20000, trace::DeviceKind::PCI_RESOURCE)});
  ASSERT_TRUE(b) << b.error();
  EXPECT_EQ(describe(*b, access(trace::AccessOp::WRITE, 4, 0xfebc0100, 0x0400801a)),
            "e1000+0x100 RCTL <= EN | UPE | MPE | RDMTS=HALF | BAM | BSIZE=2048 | SECRC");
  EXPECT_EQ(describe(*b, access(trace::AccessOp::READ, 4, 0xfebc5404, 0x80005634)),
            "e1000+0x5404 RAH[0] => ADDR=0x5634 | ASEL=DEST | AV");
  // Outside the BAR: no map covers it.
  EXPECT_EQ(describe(*b, access(trace::AccessOp::READ, 4, 0xfebe0000, 1)), "");
}

TEST(BindTest, NamesEveryRegisterAWideAccessTouches) {
  auto b = bind("e1000", {}, {e1000_pcidev()});
  ASSERT_TRUE(b) << b.error();
  // e1000_test's 64-bit store to TDBAL: the device takes it as TDBAL then TDBAH.
  EXPECT_EQ(describe(*b, access(trace::AccessOp::WRITE, 8, 0xfebc3800, 0x112350000)),
            "e1000+0x3800 TDBAL <= 0x12350000, TDBAH <= 0x1");
  // Bytes of no register between two registers.
  EXPECT_EQ(describe(*b, access(trace::AccessOp::READ, 8, 0xfebc0000, 0x12345678'00140240)),
            "e1000+0x0 CTRL => SLU | SPEED=1000M | SDP0_DATA | ADVD3WUC, +0x4 => 0x12345678");
}

TEST(BindTest, BindsByAddressAndByMapping) {
  // A stand-in file: no PCIDEV; the map is bound to mapping 3 (file offset 0).
  Record map3 = map_record(3, 0x0, 0x1000, trace::DeviceKind::FILE);
  BindSpec by_map;
  by_map.kind = BindSpec::Kind::MAP_ID;
  by_map.map_id = 3;
  auto b = bind("edu", by_map, {map3});
  ASSERT_TRUE(b) << b.error();
  EXPECT_EQ(describe(*b, access(trace::AccessOp::WRITE, 4, 0x20, 0x80, 3)), "edu+0x20 STATUS <= IRQ_ON_DONE");
  EXPECT_EQ(describe(*b, access(trace::AccessOp::WRITE, 4, 0x20, 0x80, 4)), "");  // another mapping
  // A mapping that starts 0x1000 into the file: offsets count from the file's start.
  Record map4 = map_record(4, 0x1000, 0x1000, trace::DeviceKind::FILE, 0x1000);
  by_map.map_id = 4;
  auto b4 = bind("pci-testdev", by_map, {map4});
  ASSERT_TRUE(b4) << b4.error();
  EXPECT_EQ(describe(*b4, access(trace::AccessOp::READ, 4, 0x100c, 1, 4)), "");  // past the 4 KiB map
  EXPECT_EQ(describe(*b4, access(trace::AccessOp::READ, 4, 0x0c, 1, 4)), "pci-testdev+0xc COUNT => N=1");

  BindSpec by_address;
  by_address.kind = BindSpec::Kind::ADDRESS;
  by_address.address = 0xfea00000;
  auto a = bind("edu", by_address, {});
  ASSERT_TRUE(a) << a.error();
  EXPECT_EQ(describe(*a, access(trace::AccessOp::READ, 4, 0xfea00000, 0x010000ed)),
            "edu+0x0 ID => MAGIC=0xed | MAJOR=1");
}

TEST(BindTest, RefusesWhatCannotBeBoundInOneLine) {
  auto none = bind("e1000", {}, {map_record(1, 0x0, 0x1000, trace::DeviceKind::FILE)});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error(),
            "cannot bind register map 'e1000' by PCI id (8086:100e or 8086:100f or 8086:1004 or 8086:1015): the "
            "trace has no PCIDEV lines; bind it by address (--regs e1000@0xADDRESS) or by mapping (--regs "
            "e1000@map:N)");
  auto other = bind("edu", {}, {e1000_pcidev()});
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error(),
            "cannot bind register map 'edu': the trace has no PCI device 1234:11e8 (it has 8086:100e at 0000:00:03.0)");
  auto small = bind("e1000", {}, {e1000_pcidev(0x1000)});
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error(),
            "register map 'e1000' does not fit the device: it needs 0x20000 bytes, BAR0 of 0000:00:03.0 (8086:100e) "
            "has 0x1000");
  BindSpec io;
  io.kind = BindSpec::Kind::PCI;
  io.pci = {0x8086, 0x100e};
  io.bar = 1;
  auto port = bind("pci-testdev", io, {e1000_pcidev()});
  ASSERT_FALSE(port);
  EXPECT_EQ(port.error(),
            "register map 'pci-testdev' does not fit the device: BAR1 of 0000:00:03.0 (8086:100e) is an I/O port BAR, "
            "not memory");
  BindSpec by_map;
  by_map.kind = BindSpec::Kind::MAP_ID;
  by_map.map_id = 9;
  auto no_map = bind("edu", by_map, {});
  ASSERT_FALSE(no_map);
  EXPECT_EQ(no_map.error(), "cannot bind register map 'edu' to mapping 9: the trace has no MAP with id 9");
}

TEST(BindTest, ParsesRegsArguments) {
  auto a = parse_regs_argument("e1000");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->map, "e1000");
  EXPECT_EQ(a->bind.kind, BindSpec::Kind::DEFAULT);
  auto b = parse_regs_argument("maps/chip.svd#USART1@0x40013800");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->map, "maps/chip.svd");
  EXPECT_EQ(b->part, "USART1");
  EXPECT_EQ(b->bind.kind, BindSpec::Kind::ADDRESS);
  EXPECT_EQ(b->bind.address, 0x40013800u);
  auto c = parse_regs_argument("e1000@pci:8086:100f/2");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->bind.kind, BindSpec::Kind::PCI);
  EXPECT_EQ(c->bind.pci, (PciId{0x8086, 0x100f}));
  EXPECT_EQ(c->bind.bar, 2);
  auto d = parse_regs_argument("edu.toml@map:3");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->bind.kind, BindSpec::Kind::MAP_ID);
  EXPECT_EQ(d->bind.map_id, 3);
  auto bad = parse_regs_argument("edu@somewhere");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(),
            "cannot read the binding '@somewhere': give pci:VVVV:DDDD[/BAR], a physical address such as 0xfebc0000, "
            "or map:N");
}

}  // namespace
}  // namespace mmiotrace::analysis
