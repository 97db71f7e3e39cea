// Register maps (src/analysis/regmap.h): the TOML format, the checks every map
// passes, offset -> register lookup and field decoding, on the shipped maps
// (maps/*.toml) and on small maps written here.
#include "analysis/regmap.h"

#include <gtest/gtest.h>

#include <string>

namespace mmiotrace::analysis {
namespace {

RegisterMap shipped(const std::string& name) {
  auto maps = load_register_maps({std::string(MT_MAPS_DIR) + "/" + name + ".toml", ""});
  EXPECT_TRUE(maps) << maps.error();
  if (!maps) return {};
  EXPECT_EQ(maps->size(), 1u);
  return std::move(maps->front());
}

// The name of the register at `offset` ("-" for none).
std::string name_at(const RegisterIndex& index, uint64_t offset) {
  auto hit = index.find(offset);
  if (!hit) return "-";
  fmt::memory_buffer out;
  format_register_name(index.map(), *hit, out);
  return fmt::to_string(out);
}

// `value` of `nbytes` at `offset` decoded as print shows it.
std::string decoded(const RegisterIndex& index, uint64_t offset, uint64_t value, unsigned nbytes = 4) {
  auto hit = index.find(offset);
  if (!hit) return "-";
  DecodedValue d;
  decode_value(*hit->reg, value, static_cast<unsigned>(hit->byte), nbytes, -1, d);
  fmt::memory_buffer out;
  format_decoded(d, out);
  return fmt::to_string(out);
}

TEST(RegisterMapTest, ShippedMapsLoadAndKnowTheirDevices) {
  RegisterMap e1000 = shipped("e1000");
  EXPECT_EQ(e1000.id, "e1000");
  ASSERT_FALSE(e1000.pci.empty());
  EXPECT_EQ(e1000.pci[0], (PciId{0x8086, 0x100e}));
  EXPECT_EQ(e1000.bar, 0);
  EXPECT_EQ(e1000.extent(), 0x20000u);
  RegisterMap edu = shipped("edu");
  EXPECT_EQ(edu.pci.at(0), (PciId{0x1234, 0x11e8}));
  EXPECT_EQ(edu.extent(), 0x100000u);
  RegisterMap testdev = shipped("pci-testdev");
  EXPECT_EQ(testdev.pci.at(0), (PciId{0x1b36, 0x0005}));
}

TEST(RegisterMapTest, NamesRegistersArraysAndBytesInsideThem) {
  RegisterMap map = shipped("e1000");
  RegisterIndex index(map);
  EXPECT_EQ(name_at(index, 0x0000), "CTRL");
  EXPECT_EQ(name_at(index, 0x0003), "CTRL+0x3");
  EXPECT_EQ(name_at(index, 0x0008), "STATUS");
  EXPECT_EQ(name_at(index, 0x0100), "RCTL");
  EXPECT_EQ(name_at(index, 0x2818), "RDT");
  EXPECT_EQ(name_at(index, 0x5400), "RAL[0]");
  EXPECT_EQ(name_at(index, 0x5404), "RAH[0]");
  EXPECT_EQ(name_at(index, 0x5418), "RAL[3]");
  EXPECT_EQ(name_at(index, 0x547c), "RAH[15]");
  EXPECT_EQ(name_at(index, 0x5480), "-");  // past RAH[15]
  EXPECT_EQ(name_at(index, 0x5200), "MTA[0]");
  EXPECT_EQ(name_at(index, 0x53fc), "MTA[127]");
  EXPECT_EQ(name_at(index, 0x0004), "-");  // no register there
  EXPECT_EQ(name_at(index, 0x1ffff), "-");
}

TEST(RegisterMapTest, DecodesFieldsAsTheIssueShowsThem) {
  RegisterMap map = shipped("e1000");
  RegisterIndex index(map);
  // RCTL = EN | UPE | MPE | BAM | SECRC, BSIZE 0 (2048 bytes), RDMTS 0 (half).
  EXPECT_EQ(decoded(index, 0x100, 0x0400801a), "EN | UPE | MPE | RDMTS=HALF | BAM | BSIZE=2048 | SECRC");
  EXPECT_EQ(decoded(index, 0x100, 0x00030002), "EN | RDMTS=HALF | BSIZE=256");
  // CTRL as QEMU's e1000 reads after reset: SLU, SPEED=1000, SDP0_DATA, ADVD3WUC; then with RST.
  EXPECT_EQ(decoded(index, 0x0, 0x140240), "SLU | SPEED=1000M | SDP0_DATA | ADVD3WUC");
  EXPECT_EQ(decoded(index, 0x0, 0x4140240), "SLU | SPEED=1000M | SDP0_DATA | ADVD3WUC | RST");
  // STATUS: bit 31 is no field of the map: shown as hex, last.
  EXPECT_EQ(decoded(index, 0x8, 0x80080783),
            "FD | LU | SPEED=1000M | ASDV=0x3 | MTXCKOK | GIO_MASTER_ENABLE | 0x80000000");
  // EERD: multi-bit fields as NAME=number.
  EXPECT_EQ(decoded(index, 0x14, 0x54520010), "DONE | DATA=0x5452");
  EXPECT_EQ(decoded(index, 0x14, 0x201), "START | ADDR=0x2");
  // IMC takes ICR's fields (fields_from).
  EXPECT_EQ(decoded(index, 0xd8, 0x4), "LSC");
  // A register without fields: its value in hex; nothing set: 0.
  EXPECT_EQ(decoded(index, 0x2818, 0x1f), "0x1f");
  EXPECT_EQ(decoded(index, 0x2818, 0), "0");
  // Decimal fields.
  EXPECT_EQ(decoded(index, 0x2808, 4096), "LEN=4096");
}

TEST(RegisterMapTest, DecodesOnlyTheFieldsInsideANarrowAccess) {
  RegisterMap map = shipped("e1000");
  RegisterIndex index(map);
  // One byte at CTRL+3 (bits 31:24) with 0x04: bit 26, RST. SPEED (bits 9:8) is not in it.
  EXPECT_EQ(decoded(index, 0x3, 0x04, 1), "RST");
  // Two bytes at RAH[0]+2 (bits 31:16): AV and ASEL; ADDR (15:0) is not in them.
  EXPECT_EQ(decoded(index, 0x5406, 0x8001, 2), "ASEL=SRC | AV");
}

TEST(RegisterMapTest, EduAndTestdevMapsDecodeTheirDrivers) {
  RegisterMap edu = shipped("edu");
  RegisterIndex index(edu);
  EXPECT_EQ(name_at(index, 0x98), "DMA_CMD");
  EXPECT_EQ(decoded(index, 0x0, 0x010000ed), "MAGIC=0xed | MAJOR=1");
  EXPECT_EQ(decoded(index, 0x20, 0x81), "COMPUTING | IRQ_ON_DONE");
  EXPECT_EQ(decoded(index, 0x98, 0x3, 8), "START | TO_RAM");
  EXPECT_EQ(name_at(index, 0x84), "DMA_SRC+0x4");
  RegisterMap testdev = shipped("pci-testdev");
  RegisterIndex tindex(testdev);
  EXPECT_EQ(decoded(tindex, 0x0, 0x0, 1), "TEST=0");
  EXPECT_EQ(decoded(tindex, 0x0, 0x100), "WIDTH=1");
  EXPECT_EQ(name_at(tindex, 0x1c), "NAME[3]");
}

// ---- Malformed maps: one line, naming the file, the line and what is wrong ----

std::string toml_error(const std::string& text) {
  auto map = parse_toml_map(text, "bad.toml");
  if (map) {
    auto ok = validate(*map);
    return ok ? std::string("(accepted)") : ok.error();
  }
  return map.error();
}

TEST(RegisterMapTest, RefusesMalformedMapsWithTheLine) {
  EXPECT_EQ(toml_error("[[register]]\nname = \"A\"\nofset = 4\n"),
            "register map 'bad.toml' line 3: unknown key 'ofset' in register 'A' (known keys: name, offset, width, "
            "access, reset, description, count, stride, fields, fields_from)");
  EXPECT_EQ(toml_error("[[register]]\nname = \"A\"\n"), "register map 'bad.toml' line 1: register 'A' has no offset");
  EXPECT_EQ(toml_error("[[register]]\nname = \"A\"\noffset = 0\nwidth = 12\n"),
            "register map 'bad.toml' line 4: width must be 8, 16, 32 or 64 (bits)");
  EXPECT_EQ(toml_error("[[register]]\nname = \"A\"\noffset = 0\nfields = [{ name = \"F\", bits = \"32:30\" }]\n"),
            "register map 'bad.toml': field 'F' of register 'A' is bits 32:30, outside the register's 32 bits");
  EXPECT_EQ(toml_error("[[register]]\nname = \"A\"\noffset = 0\n"
                       "fields = [{ name = \"F\", bits = \"3:0\" }, { name = \"G\", bit = 3 }]\n"),
            "register map 'bad.toml': fields 'F' and 'G' of register 'A' share bits");
  EXPECT_EQ(toml_error("[[register]]\nname = \"A\"\noffset = 0\n"
                       "fields = [{ name = \"F\", bits = \"1:0\", values = { BIG = 4 } }]\n"),
            "register map 'bad.toml': value BIG (0x4) of field 'F' of register 'A' does not fit its 2 bits");
  EXPECT_EQ(toml_error("[[register]]\nname = \"A\"\noffset = 0\n[[register]]\nname = \"B\"\noffset = 2\n"),
            "register map 'bad.toml': registers 'A' and 'B' share the byte at 0x2");
  EXPECT_EQ(toml_error("[[register]]\nname = \"A\"\noffset = 0\n[[register]]\nname = \"A\"\noffset = 4\n"),
            "register map 'bad.toml': two registers are named 'A'");
  EXPECT_EQ(toml_error("[[register]]\nname = \"A\"\noffset = 0\nfields_from = \"B\"\n"),
            "register map 'bad.toml' line 4: fields_from = \"B\" of register 'A' names no register with fields");
  EXPECT_EQ(toml_error("[device]\nsize = 0x10\n[[register]]\nname = \"A\"\noffset = 0x10\n"),
            "register map 'bad.toml': register 'A' ends at 0x14, past the map's size 0x10");
  EXPECT_EQ(toml_error("[[register]]\nname = \"A\"\noffset = 0\ncount = 4\nstride = 2\n"),
            "register map 'bad.toml': register array 'A' has stride 0x2, less than its elements' 0x4 bytes");
  EXPECT_EQ(toml_error("[device]\npci = [\"8086-100e\"]\n[[register]]\nname = \"A\"\noffset = 0\n"),
            "register map 'bad.toml' line 2: each pci id must be \"vvvv:dddd\" or \"vvvv:*\" in hex, such as "
            "\"8086:100e\"");
  EXPECT_EQ(toml_error("[device]\nid = \"x\"\n"), "register map 'bad.toml': it has no [[register]] tables");
  // TOML syntax: toml++'s own description, with the line.
  const std::string syntax = toml_error("[[register]]\nname = \"A\noffset = 0\n");
  EXPECT_EQ(syntax.rfind("register map 'bad.toml' line 2: ", 0), 0u) << syntax;
  EXPECT_EQ(syntax.find('\n'), std::string::npos);
}

TEST(RegisterMapTest, FindsShippedMapsByName) {
  auto path = find_map_file("e1000", {"/nonexistent", MT_MAPS_DIR});
  ASSERT_TRUE(path) << path.error();
  EXPECT_EQ(*path, std::string(MT_MAPS_DIR) + "/e1000.toml");
  auto missing = find_map_file("nosuchdevice", {"/nonexistent"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), "no register map named 'nosuchdevice': not a file, and not in /nonexistent");
}

TEST(RegisterMapTest, TellsFormatsApartByTheirFirstBytes) {
  EXPECT_EQ(detect_map_format("# a map\n[device]\n"), MapFormat::TOML);
  EXPECT_EQ(detect_map_format("<?xml version=\"1.0\"?>\n<!-- x -->\n<device schemaVersion=\"1.3\">"), MapFormat::SVD);
  EXPECT_EQ(detect_map_format("<?xml version=\"1.0\"?>\n<database xmlns=\"x\">"), MapFormat::RNNDB);
  EXPECT_EQ(detect_map_format("[device]\nname = \"<not xml>\"\n"), MapFormat::TOML);
}

}  // namespace
}  // namespace mmiotrace::analysis
