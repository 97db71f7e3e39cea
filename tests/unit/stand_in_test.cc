// record --device GLOB[,KEY=VALUE]...: the stand-in's identity as parsed and
// completed (src/cli/stand_in.h), and every identity no real device could
// have refused with what to change.
#include "cli/stand_in.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

namespace mmiotrace::cli {
namespace {

StandIn parsed(const std::string& arg) {
  auto s = parse_stand_in(arg);
  EXPECT_TRUE(s.ok()) << arg << ": " << (s.ok() ? "" : s.error());
  return s.ok() ? *s : StandIn{};
}

std::string parse_error(const std::string& arg) {
  auto s = parse_stand_in(arg);
  return s.ok() ? std::string() : s.error();
}

std::string complete_error(std::vector<StandIn> v) {
  auto r = complete_stand_ins(v);
  return r.ok() ? std::string() : r.error();
}

TEST(StandIn, AGlobAloneHasNoIdentity) {
  const StandIn s = parsed("/tmp/fake-bar0");
  EXPECT_EQ(s.glob, "/tmp/fake-bar0");
  EXPECT_EQ(s.id.flags, 0);
  // A comma that does not start KEY=VALUE items belongs to the path.
  EXPECT_EQ(parsed("/tmp/a,b").glob, "/tmp/a,b");
  const StandIn c = parsed("/tmp/a,b,phys=0x1000");
  EXPECT_EQ(c.glob, "/tmp/a,b");
  EXPECT_EQ(c.id.flags, trace::kStandInPhys);
  EXPECT_EQ(c.id.phys, 0x1000u);
}

TEST(StandIn, EveryKey) {
  const StandIn s = parsed("/tmp/edu*,phys=0xfea00000,pci=1234:11E8,bar=2,size=1M,slot=0001:02:03.4");
  EXPECT_EQ(s.glob, "/tmp/edu*");
  EXPECT_EQ(s.id.flags, trace::kStandInPhys | trace::kStandInPci);
  EXPECT_EQ(s.id.phys, 0xfea00000u);
  EXPECT_EQ(s.id.vendor, 0x1234);
  EXPECT_EQ(s.id.device, 0x11e8);
  EXPECT_EQ(s.id.bar, 2);
  EXPECT_EQ(s.id.bar_size, 1u << 20);
  EXPECT_EQ(s.id.busdevfn, (1u << 16) | (2u << 8) | (3u << 3) | 4u);
  EXPECT_TRUE(s.has_size);
  EXPECT_TRUE(s.has_slot);
  EXPECT_EQ(parsed("/x,phys=0,pci=1:2,slot=00:1f.7,size=16").id.busdevfn, (0x1fu << 3) | 7u);
  EXPECT_EQ(parsed("/x,phys=4096,pci=1:2,size=0x4000").id.bar_size, 0x4000u);
  EXPECT_EQ(parsed("/x,phys=4096,pci=1:2,size=64k").id.bar_size, 0x10000u);
}

TEST(StandIn, BadValuesAndMissingKeysAreRefused) {
  EXPECT_NE(parse_error("/x,phys=zz").find("phys=zz is not an address"), std::string::npos);
  EXPECT_NE(parse_error("/x,phys=1,pci=12345:1").find("pci=12345:1 is not VENDOR:DEVICE"), std::string::npos);
  EXPECT_NE(parse_error("/x,phys=1,pci=1:2,bar=6").find("bar=6 is not a BAR number"), std::string::npos);
  EXPECT_NE(parse_error("/x,phys=1,pci=1:2,size=1T").find("size=1T is not a size"), std::string::npos);
  EXPECT_NE(parse_error("/x,phys=1,pci=1:2,slot=00:20.0").find("slot=00:20.0 is not a PCI address"), std::string::npos);
  EXPECT_NE(parse_error("/x,pci=1234:11e8").find("pci= needs phys="), std::string::npos);
  EXPECT_NE(parse_error("/x,phys=0x1000,bar=1").find("give pci= too"), std::string::npos);
  EXPECT_NE(parse_error(",phys=0x1000").find("names no file"), std::string::npos);
}

TEST(StandIn, SizeComesFromTheFileRoundedUpToAPowerOfTwo) {
  const std::string path = ::testing::TempDir() + "mmiotrace_standin_" + std::to_string(::getpid());
  std::ofstream(path) << std::string(3000, 'x');
  std::vector<StandIn> v = {parsed(path + ",phys=0xfea00000,pci=1234:11e8")};
  ASSERT_TRUE(complete_stand_ins(v).ok());
  EXPECT_EQ(v[0].id.bar_size, 4096u);
  ::unlink(path.c_str());
  EXPECT_NE(complete_error({parsed("/tmp/*.bin,phys=0x1000,pci=1:2")}).find("give size="), std::string::npos);
}

// Stand-ins with the same pci= and no slot= are BARs of one device (the one
// given a slot, if one was); other devices take the free slots 00:01.0, ...
TEST(StandIn, DevicesGetSlotsAndBarsOfOneDeviceShareOne) {
  std::vector<StandIn> v = {parsed("/a,phys=0xfea00000,pci=1234:11e8,size=1M"),
                            parsed("/b,phys=0xfe000000,pci=10de:1234,size=16M"),
                            parsed("/c,phys=0xe0000000,pci=10de:1234,bar=1,size=256M"),
                            parsed("/d,phys=0xfd000000,pci=8086:100e,size=128K,slot=00:01.0"),
                            parsed("/e,phys=0x1000"),
                            parsed("/f,phys=0xfd100000,pci=8086:100e,bar=1,size=4K")};
  ASSERT_TRUE(complete_stand_ins(v).ok());
  EXPECT_EQ(v[0].id.busdevfn, 2u << 3);  // 00:01.0 is taken by slot=
  EXPECT_EQ(v[1].id.busdevfn, 3u << 3);
  EXPECT_EQ(v[2].id.busdevfn, 3u << 3);
  EXPECT_EQ(v[3].id.busdevfn, 1u << 3);
  EXPECT_EQ(v[4].id.flags, trace::kStandInPhys);
  EXPECT_EQ(v[5].id.busdevfn, 1u << 3);  // joins the 8086:100e given a slot
}

TEST(StandIn, WhatNoRealDeviceLooksLikeIsRefused) {
  EXPECT_NE(complete_error({parsed("/a,phys=0x1000,pci=1:2,size=3000")}).find("is not a BAR's size"),
            std::string::npos);
  EXPECT_NE(complete_error({parsed("/a,phys=0x1000,pci=1:2,size=8")}).find("is not a BAR's size"), std::string::npos);
  EXPECT_NE(complete_error({parsed("/a,phys=0x1800,pci=1:2,size=4K")}).find("not a multiple of the BAR's size"),
            std::string::npos);
  EXPECT_NE(complete_error({parsed("/a,phys=0x1000,pci=1:2,size=4K"), parsed("/b,phys=0x2000,pci=1:2,size=4K")})
                .find("are both BAR 0 of 0000:00:01.0"),
            std::string::npos);
  EXPECT_NE(complete_error({parsed("/a,phys=0x0,pci=1:2,size=8K"), parsed("/b,phys=0x1000,pci=1:2,bar=1,size=4K")})
                .find("overlap"),
            std::string::npos);
  EXPECT_NE(complete_error({parsed("/a,phys=0x1000,pci=1:2,size=4K,slot=00:04.0"),
                            parsed("/b,phys=0x2000,pci=1:3,size=4K,slot=00:04.0")})
                .find("with different pci="),
            std::string::npos);
}

}  // namespace
}  // namespace mmiotrace::cli
