// load_recording (cli/recording.h): what replay takes from a trace. Devices
// by identity (one device mapped twice, or by both sysfs paths, is one
// device; UIO maps are devices of one file), every access with its value in
// recorded order, runs expanded, grouped by thread and process.
#include "cli/recording.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "trace/encode.h"
#include "trace/writer.h"

namespace mmiotrace::cli {
namespace {

using trace::AccessOp;
using trace::DeviceKind;

class RecordingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "mmiotrace_recording_" + std::to_string(getpid()) + ".mmio";
    auto w = trace::TraceWriter::create(path_, trace::make_file_header(1, 2, 3));
    ASSERT_TRUE(w.ok()) << w.error();
    writer_.emplace(std::move(*w));
  }
  void TearDown() override { unlink(path_.c_str()); }

  template <typename Fields>
  void put(size_t (*fn)(void*, size_t, const trace::RecordStamp&, const Fields&), uint32_t tid, const Fields& f) {
    std::vector<uint8_t> buf(trace::kMaxRecordSize);
    const size_t n = fn(buf.data(), buf.size(), trace::RecordStamp{seq_, 100 * seq_, tid}, f);
    ASSERT_NE(n, 0u);
    ASSERT_TRUE(writer_->append(buf.data(), n).ok());
    seq_ += n >= sizeof(trace::AccessRunRecord) && reinterpret_cast<const trace::RecordHeader*>(buf.data())->type ==
                                                       static_cast<uint16_t>(trace::RecordType::ACCESS_RUN)
                ? reinterpret_cast<const trace::AccessRunRecord*>(buf.data())->count
                : 1;
  }
  void map(uint32_t pid, uint32_t id, DeviceKind kind, const char* path, uint64_t phys, uint64_t offset, uint64_t len,
           uint16_t bar, uint32_t busdevfn) {
    trace::MapFields m;
    m.phys = phys;
    m.virt = 0x7f0000000000 + id * 0x100000;
    m.len = len;
    m.file_offset = offset;
    m.pid = pid;
    m.map_id = id;
    m.kind = kind;
    m.bar = bar;
    m.pci_busdevfn = busdevfn;
    m.path = path;
    m.path_len = static_cast<uint16_t>(strlen(path));
    put(trace::encode_map, pid, m);
  }
  void access(uint32_t pid, uint32_t tid, uint32_t map_id, AccessOp op, uint64_t phys, uint32_t value) {
    trace::AccessFields a;
    a.op = op;
    a.width = 4;
    a.phys = phys;
    a.pc = 0x1000 + seq_;
    a.pid = pid;
    a.map_id = map_id;
    a.value = reinterpret_cast<const uint8_t*>(&value);
    put(trace::encode_access, tid, a);
  }
  Recording load() {
    EXPECT_TRUE(writer_->close().ok());
    auto r = load_recording(path_);
    EXPECT_TRUE(r.ok()) << r.error();
    return r.ok() ? std::move(*r) : Recording{};
  }
  uint32_t value_of(const Recording& r, const trace::ReplayEvent& e) {
    uint32_t v = 0;
    memcpy(&v, r.values.data() + e.value_off, 4);
    return v;
  }

  std::string path_;
  std::optional<trace::TraceWriter> writer_;
  uint64_t seq_ = 0;
};

TEST_F(RecordingTest, DevicesByIdentityAndAccessesByThread) {
  trace::PciDevFields p;
  p.busdevfn = 0x20;
  p.vendor = 0x1234;
  p.device = 0x11e8;
  p.start[0] = 0xfea00000;
  p.size[0] = 0x100000;
  p.driver = "";
  put(trace::encode_pcidev, 10, p);
  map(10, 1, DeviceKind::PCI_RESOURCE, "/sys/devices/pci0000:00/0000:00:04.0/resource0", 0xfea00000, 0, 0x1000, 0,
      0x20);
  access(10, 10, 1, AccessOp::READ, 0xfea00000, 0x010000ed);
  access(10, 11, 1, AccessOp::WRITE, 0xfea00004, 0x12345678);
  // The same BAR through the other sysfs path, mapped from its second page.
  map(10, 2, DeviceKind::PCI_RESOURCE, "/sys/bus/pci/devices/0000:00:04.0/resource0", 0xfea01000, 0x1000, 0x1000, 0,
      0x20);
  uint32_t run_values[3] = {1, 2, 3};
  trace::AccessRunFields r;
  r.op = AccessOp::WRITE;
  r.width = 4;
  r.phys = 0xfea01000;
  r.pid = 10;
  r.map_id = 2;
  r.count = 3;
  r.stride = 4;
  r.values = reinterpret_cast<const uint8_t*>(run_values);
  put(trace::encode_access_run, 10, r);
  // Two maps of one UIO device file, in another process.
  map(20, 3, DeviceKind::UIO, "/dev/uio0", 0xfe000000, 0, 0x1000, 0, 0);
  map(20, 4, DeviceKind::UIO, "/dev/uio0", 0xfd000000, 4096, 0x2000, 1, 0);
  access(20, 20, 4, AccessOp::READ, 0xfd000010, 7);
  trace::LostFields lost{5};
  put(trace::encode_lost, 0, lost);

  const Recording rec = load();
  ASSERT_EQ(rec.paths.size(), 2u);  // the BAR's two sysfs paths are one file, /dev/uio0 the other
  ASSERT_EQ(rec.devices.size(), 3u);
  const RecordedDevice& bar = rec.devices[0];
  EXPECT_EQ(bar.kind, DeviceKind::PCI_RESOURCE);
  EXPECT_EQ(bar.phys_base, 0xfea00000u);
  EXPECT_EQ(bar.size, 0x100000u);  // the BAR's size from PCIDEV, not the 8 KiB mapped
  EXPECT_EQ(rec.paths[bar.path].file_size, 0x100000u);
  ASSERT_FALSE(bar.pcidev.empty());
  EXPECT_EQ(rec.devices[1].bar, 0);
  EXPECT_EQ(rec.devices[2].bar, 1);
  EXPECT_EQ(rec.devices[2].file_base, 4096u);
  EXPECT_EQ(rec.devices[2].phys_base, 0xfd000000u);
  EXPECT_EQ(rec.devices[1].path, rec.devices[2].path);
  EXPECT_EQ(rec.paths[rec.devices[1].path].file_size, 0u);  // a character device: fstat says 0

  ASSERT_EQ(rec.events.size(), 6u);  // 2 accesses, a run of 3, 1 access
  EXPECT_EQ(value_of(rec, rec.events[0]), 0x010000edu);
  EXPECT_EQ(rec.events[3].phys, 0xfea01004u);
  EXPECT_EQ(value_of(rec, rec.events[4]), 3u);
  EXPECT_EQ(rec.events[4].seq, rec.events[2].seq + 2);
  EXPECT_EQ(rec.events[5].device, 2u);
  ASSERT_EQ(rec.threads.size(), 3u);
  EXPECT_EQ(rec.threads[0].events, (std::vector<uint64_t>{0, 2, 3, 4}));
  EXPECT_EQ(rec.threads[1].events, (std::vector<uint64_t>{1}));
  EXPECT_EQ(rec.threads[2].process, 1u);
  EXPECT_EQ(rec.processes, (std::vector<uint32_t>{10, 20}));
  EXPECT_EQ(rec.lost, 5u);
}

TEST_F(RecordingTest, AnAccessOnAMappingNoMapRecordDescribesIsAnError) {
  access(10, 10, 9, AccessOp::READ, 0, 0);
  EXPECT_TRUE(writer_->close().ok());
  auto r = load_recording(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("map 9, which no MAP record describes"), std::string::npos) << r.error();
}

TEST_F(RecordingTest, VfioIsRefusedWithTheReason) {
  map(10, 1, DeviceKind::VFIO, "anon_inode:[vfio-device]", 0xfea00000, 0, 0x1000, 0, 0x20);
  EXPECT_TRUE(writer_->close().ok());
  auto r = load_recording(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("VFIO"), std::string::npos) << r.error();
}

TEST(DevicePathKey, BothSysfsFormsAreOneKey) {
  EXPECT_EQ(device_path_key("/sys/bus/pci/devices/0000:00:04.0/resource0"),
            device_path_key("/sys/devices/pci0000:00/0000:00:04.0/resource0"));
  EXPECT_NE(device_path_key("/sys/bus/pci/devices/0000:00:04.0/resource0"),
            device_path_key("/x/sys/bus/pci/devices/0000:00:04.0/resource0"));
  EXPECT_EQ(device_path_key("/dev/uio0"), "/dev/uio0");
}

}  // namespace
}  // namespace mmiotrace::cli
