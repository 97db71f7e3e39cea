// The register map importers: CMSIS-SVD (tests/data/svd/uart.svd) and envytools
// rnndb (tests/data/rnndb, a subset of the real database). The rnndb test
// decodes a GPU-like kernel log the way demmio does: every register name, and
// every value, equal to demmio's own output on the same log (gpu.demmio.txt).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "analysis/bind.h"
#include "analysis/regmap.h"
#include "trace/trace_input.h"

namespace mmiotrace::analysis {
namespace {

const std::string kSvd = std::string(MT_TEST_DATA_DIR) + "/svd/uart.svd";
const std::string kRnndb = std::string(MT_TEST_DATA_DIR) + "/rnndb";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string name_at(const RegisterIndex& index, uint64_t offset, int variant = -1) {
  auto hit = index.find(offset, variant);
  if (!hit) return "-";
  fmt::memory_buffer out;
  format_register_name(index.map(), *hit, out);
  return fmt::to_string(out);
}

std::string decoded(const RegisterIndex& index, uint64_t offset, uint64_t value, unsigned nbytes = 4) {
  auto hit = index.find(offset);
  if (!hit) return "-";
  DecodedValue d;
  decode_value(*hit->reg, value, static_cast<unsigned>(hit->byte), nbytes, -1, d);
  fmt::memory_buffer out;
  format_decoded(d, out);
  return fmt::to_string(out);
}

// ---- SVD ----

TEST(SvdImportTest, ImportsEveryPeripheralAtItsBaseAddress) {
  auto maps = load_register_maps({kSvd, ""});
  ASSERT_TRUE(maps) << maps.error();
  ASSERT_EQ(maps->size(), 2u);
  EXPECT_EQ((*maps)[0].id, "UART0");
  EXPECT_EQ((*maps)[0].base, 0x40013800u);
  EXPECT_EQ((*maps)[0].extent(), 0x400u);
  // UART1 is derivedFrom UART0: the same registers at its own base.
  EXPECT_EQ((*maps)[1].id, "UART1");
  EXPECT_EQ((*maps)[1].base, 0x40004400u);
  EXPECT_EQ((*maps)[1].registers.size(), (*maps)[0].registers.size());
}

TEST(SvdImportTest, NamesAndDecodesRegistersFieldsArraysAndClusters) {
  auto maps = load_register_maps({kSvd, "UART0"});
  ASSERT_TRUE(maps) << maps.error();
  ASSERT_EQ(maps->size(), 1u);
  const RegisterMap& m = maps->front();
  RegisterIndex index(m);
  EXPECT_EQ(name_at(index, 0x00), "SR");
  EXPECT_EQ(name_at(index, 0x08), "BRR");  // 16 bits
  EXPECT_EQ(name_at(index, 0x0a), "-");
  EXPECT_EQ(name_at(index, 0x20), "FIFO[0]");
  EXPECT_EQ(name_at(index, 0x2c), "FIFO[3]");
  EXPECT_EQ(name_at(index, 0x30), "GPRA");
  EXPECT_EQ(name_at(index, 0x34), "GPRB");
  EXPECT_EQ(name_at(index, 0x40), "DMA.ADDR");
  EXPECT_EQ(name_at(index, 0x44), "DMA.LEN");
  EXPECT_EQ(name_at(index, 0x50), "CR1_SHADOW");
  // Fields in the three bit styles; enumerated values, #binary, 0b and don't-care bits.
  EXPECT_EQ(decoded(index, 0x00, 0xe0), "RXNE | TC | TXE");
  EXPECT_EQ(decoded(index, 0x04, 0x1ff), "DATA=0x1ff");
  EXPECT_EQ(decoded(index, 0x08, 0x1a3, 2), "FRACTION=0x3 | MANTISSA=0x1a");
  EXPECT_EQ(decoded(index, 0x0c, 0x200c), "RE | TE | PARITY=NONE | UE | M=BITS8");
  EXPECT_EQ(decoded(index, 0x0c, 0x0600), "PARITY=ODD | M=BITS8");
  EXPECT_EQ(decoded(index, 0x0c, 0x4400), "PARITY=EVEN | M=BITS8");  // M = 01: #0x
  EXPECT_EQ(decoded(index, 0x0c, 0x8000), "PARITY=NONE | M=BITS9");
  EXPECT_EQ(decoded(index, 0x50, 0x0600), "PARITY=ODD | M=BITS8");  // derivedFrom CR1: its fields
  // Properties: inherited size and access, readAction and modifiedWriteValues.
  const Register& sr = *index.find(0x00)->reg;
  EXPECT_EQ(sr.access, RegAccess::READ_ONLY);
  EXPECT_EQ(sr.reset, 0xc0u);
  EXPECT_EQ(sr.fields[0].access, RegAccess::READ_CLEAR);
  EXPECT_EQ(sr.fields[1].access, RegAccess::WRITE_1_CLEAR);
  EXPECT_EQ(index.find(0x04)->reg->access, RegAccess::READ_WRITE);
}

// An element the schema does not have, where it does not have it: one line naming it.
TEST(SvdImportTest, RefusesUnknownElementsWithTheirLine) {
  std::string svd = slurp(kSvd);
  const std::string good = "<addressOffset>0x04</addressOffset>";
  ASSERT_NE(svd.find(good), std::string::npos);
  svd.replace(svd.find(good), good.size(), "<adressOffset>0x04</adressOffset>");
  auto bad = import_svd(svd, "typo.svd", "");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(),
            "SVD file 'typo.svd' line 74: unknown element <adressOffset> in <register> DR; CMSIS-SVD 1.3 has no such "
            "element there");
  auto unknown_peripheral = import_svd(slurp(kSvd), "uart.svd", "SPI9");
  ASSERT_FALSE(unknown_peripheral);
  EXPECT_EQ(unknown_peripheral.error(), "SVD file 'uart.svd' has no peripheral 'SPI9' (it has UART0, UART1)");
  auto broken = import_svd("<device><name>x</name>", "cut.svd", "");
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error(), "SVD file 'cut.svd' line 1: Start-end tags mismatch");
}

// ---- rnndb ----

TEST(RnndbImportTest, ImportsTheDomainWithVariantsAndBlocks) {
  auto maps = load_register_maps({kRnndb + "/nv_mmio.xml", ""});
  ASSERT_TRUE(maps) << maps.error();
  const RegisterMap& m = maps->front();
  EXPECT_EQ(m.id, "NV_MMIO");
  EXPECT_EQ(m.size, 0x1000000u);
  ASSERT_EQ(m.pci.size(), 1u);
  EXPECT_TRUE(m.pci[0].matches({0x10de, 0x0400}));
  ASSERT_TRUE(m.detect);
  const int g84 = m.find_variant("G84");
  const int nv40 = m.find_variant("NV40");
  ASSERT_GE(g84, 0);
  ASSERT_GE(nv40, 0);
  RegisterIndex index(m);
  // PTIMER.REMAP exists from NV17 to before NV40; PMC.NEW_ID from G94.
  EXPECT_EQ(name_at(index, 0x9610, nv40 - 1), "PTIMER.REMAP[0].BASE");
  EXPECT_EQ(name_at(index, 0x9634, nv40 - 1), "PTIMER.REMAP[0x2].LIMIT");
  EXPECT_EQ(name_at(index, 0x9610, g84), "PTIMER+0x610");
  EXPECT_EQ(name_at(index, 0xa00, g84), "PMC+0xa00");
  EXPECT_EQ(name_at(index, 0x700000, g84), "PMEM[0]");
  EXPECT_EQ(name_at(index, 0x700000, nv40), "PRAMIN[0]");
  EXPECT_EQ(name_at(index, 0x5000, g84), "-");
}

struct DemmioLine {
  std::string op;      // "R" or "W"
  unsigned width = 0;  // bits
  uint64_t offset = 0;
  std::string names;   // register names, ", "-joined (a 32-bit write to 8-bit registers names four)
  std::string values;  // their decoded values, ", "-joined, in our notation
};

// demmio's "{ A | B = 0x3 | C = 0 }" in ours: no braces, "B=0x3", and fields
// that are 0 without an enumerated name left out ("0" if nothing is left).
std::string ours(std::string v) {
  if (v.size() >= 4 && v.front() == '{') v = v.substr(2, v.size() - 4);
  std::vector<std::string> kept;
  size_t start = 0;
  while (start <= v.size()) {
    size_t end = v.find(" | ", start);
    if (end == std::string::npos) end = v.size();
    std::string item = v.substr(start, end - start);
    if (size_t eq = item.find(" = "); eq != std::string::npos) item.replace(eq, 3, "=");
    if (item.size() < 2 || item.substr(item.size() - 2) != "=0") kept.push_back(item);
    start = end + 3;
  }
  std::string out;
  for (const std::string& k : kept) out += (out.empty() ? "" : " | ") + k;
  return out.empty() ? "0" : out;
}

std::vector<DemmioLine> read_demmio(const std::string& path) {
  std::vector<DemmioLine> lines;
  std::istringstream in(slurp(path));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("[0] ", 0) == 0) {
      // [0] 12.000002 MMIO32 R 0x000000 0x084a00a2 PMC.ID => { ... }
      std::istringstream f(line);
      std::string cc, time, mmio, op, addr, value, name, arrow;
      f >> cc >> time >> mmio >> op >> addr >> value >> name >> arrow;
      std::string rest;
      std::getline(f, rest);
      DemmioLine d;
      d.op = op;
      d.width = static_cast<unsigned>(std::stoul(mmio.substr(4)));
      d.offset = std::stoull(addr, nullptr, 16);
      d.names = name;
      d.values = ours(rest.substr(1));
      lines.push_back(d);
    } else if (!lines.empty() && line.rfind("    ", 0) == 0) {
      // The other registers of a 32-bit write to 8-bit ones, aligned under the first.
      std::istringstream f(line);
      std::string name, arrow, rest;
      f >> name >> arrow;
      std::getline(f, rest);
      lines.back().names += ", " + name;
      lines.back().values += ", " + ours(rest.substr(1));
    }
  }
  return lines;
}

TEST(RnndbImportTest, DecodesAGpuLikeLogAsDemmioDoes) {
  const std::vector<DemmioLine> golden = read_demmio(kRnndb + "/gpu.demmio.txt");
  ASSERT_EQ(golden.size(), 39u);
  auto maps = load_register_maps({kRnndb + "/nv_mmio.xml", ""});
  ASSERT_TRUE(maps) << maps.error();
  auto input = trace::open_trace_input(kRnndb + "/gpu.log");
  ASSERT_TRUE(input) << input.error();
  auto catalog = DeviceCatalog::scan(kRnndb + "/gpu.log");
  ASSERT_TRUE(catalog) << catalog.error();
  auto bindings = RegisterBindings::make(std::move(*maps), {BindSpec{}}, *catalog);
  ASSERT_TRUE(bindings) << bindings.error();
  size_t i = 0;
  trace::RecordView record;
  for (auto more = input->kernel_log->next(record); more && *more; more = input->kernel_log->next(record)) {
    for_each_access(record, [&](const Access& a) {
      ASSERT_LT(i, golden.size());
      const DemmioLine& g = golden[i++];
      AccessDescription d;
      bindings->describe(a, d);
      ASSERT_NE(d.binding, nullptr);
      EXPECT_EQ(d.offset, g.offset);
      std::string names, values;
      for (const RegisterPart& p : d.parts) {
        fmt::memory_buffer n, v;
        if (p.hit) {
          format_register_name(*d.binding->map, *p.hit, n);
        } else {
          append_hex(p.offset, n);  // demmio: the bare offset
        }
        if (p.hit && p.hit->reg->kind == RegKind::REGISTER) {
          format_decoded(p.decoded, v);
        } else {
          append_hex(p.value, v);
        }
        names += (names.empty() ? "" : ", ") + fmt::to_string(n);
        values += (values.empty() ? "" : ", ") + fmt::to_string(v);
      }
      EXPECT_EQ(names, g.names) << "access " << i << " at " << std::hex << g.offset;
      // demmio decodes a 16-bit access to part of a 32-bit register as the whole
      // register's value ("PTEST.MODE+0x2 <= ON"); we decode the bytes accessed.
      if (g.width == 16) return;
      EXPECT_EQ(values, g.values) << "access " << i << " at " << std::hex << g.offset << " (" << g.names << ")";
    });
  }
  EXPECT_EQ(i, golden.size());
}

TEST(RnndbImportTest, RefusesWhatItCannotRead) {
  auto missing = import_rnndb(kRnndb + "/nv_mmio.xml", "NV_PGRAPH");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), "rnndb database '" + kRnndb + "/nv_mmio.xml' has no domain NV_PGRAPH (it has NV_MMIO)");
  auto none = import_rnndb(kRnndb + "/no_such.xml", "");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().rfind("cannot open rnndb file '" + kRnndb + "/no_such.xml': ", 0), 0u) << none.error();
}

}  // namespace
}  // namespace mmiotrace::analysis
