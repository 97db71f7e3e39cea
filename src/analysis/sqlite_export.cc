#include "analysis/sqlite_export.h"

#include <fmt/format.h>

#include "analysis/code_maps.h"

namespace mmiotrace::analysis {

namespace {

constexpr const char* kSchema = R"SQL(
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE devices (busdevfn INTEGER PRIMARY KEY, pci_address TEXT, vendor INTEGER, device INTEGER,
                      irq INTEGER, driver TEXT);
CREATE TABLE device_bars (busdevfn INTEGER, bar INTEGER, start INTEGER, size INTEGER, flags INTEGER,
                          PRIMARY KEY (busdevfn, bar));
CREATE TABLE maps (map_id INTEGER, seq INTEGER, time_ns INTEGER, pid INTEGER, tid INTEGER, phys INTEGER,
                   virt INTEGER, len INTEGER, file_offset INTEGER, kind TEXT, prot INTEGER, bar INTEGER,
                   pci_address TEXT, path TEXT);
CREATE TABLE unmaps (seq INTEGER PRIMARY KEY, time_ns INTEGER, pid INTEGER, tid INTEGER, map_id INTEGER,
                     virt INTEGER, len INTEGER);
CREATE TABLE marks (seq INTEGER PRIMARY KEY, time_ns INTEGER, pid INTEGER, tid INTEGER, text TEXT);
CREATE TABLE unknowns (seq INTEGER PRIMARY KEY, time_ns INTEGER, pid INTEGER, tid INTEGER, map_id INTEGER,
                       phys INTEGER, pc INTEGER, insn BLOB);
CREATE TABLE lost (seq INTEGER PRIMARY KEY, time_ns INTEGER, count INTEGER);
CREATE TABLE code_maps (seq INTEGER PRIMARY KEY, time_ns INTEGER, pid INTEGER, tid INTEGER, virt INTEGER,
                        len INTEGER, file_offset INTEGER, elf_vaddr INTEGER, build_id TEXT, path TEXT,
                        flags INTEGER);
CREATE TABLE registers (register_id INTEGER PRIMARY KEY, map TEXT, name TEXT, offset INTEGER, width INTEGER,
                        description TEXT);
CREATE TABLE symbols (symbol_id INTEGER PRIMARY KEY, pid INTEGER, pc INTEGER, function TEXT, offset INTEGER,
                      file TEXT, line INTEGER, object TEXT, object_offset INTEGER, unavailable TEXT);
CREATE TABLE accesses (seq INTEGER PRIMARY KEY, time_ns INTEGER, pid INTEGER, tid INTEGER, op TEXT,
                       width INTEGER, map_id INTEGER, phys INTEGER, device_offset INTEGER, value INTEGER,
                       value_hex TEXT, pc INTEGER, flags INTEGER, run_index INTEGER,
                       register_id INTEGER REFERENCES registers, decoded TEXT,
                       symbol_id INTEGER REFERENCES symbols);
BEGIN;
)SQL";

constexpr const char* kFinish = R"SQL(
CREATE INDEX accesses_by_register ON accesses (register_id);
CREATE INDEX accesses_by_time ON accesses (time_ns);
CREATE VIEW access_names AS
  SELECT a.seq, a.time_ns, a.pid, a.tid, a.op, a.width, r.map AS map, r.name AS register, a.value,
         a.value_hex, a.decoded, a.pc, s.function, s.file, s.line
  FROM accesses a LEFT JOIN registers r USING (register_id) LEFT JOIN symbols s USING (symbol_id);
COMMIT;
)SQL";

const char* const kStatements[] = {
    "INSERT OR REPLACE INTO meta VALUES (?1, ?2)",
    "INSERT OR IGNORE INTO devices VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    "INSERT OR IGNORE INTO device_bars VALUES (?1, ?2, ?3, ?4, ?5)",
    "INSERT INTO maps VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    "INSERT INTO unmaps VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    "INSERT INTO marks VALUES (?1, ?2, ?3, ?4, ?5)",
    "INSERT INTO unknowns VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    "INSERT INTO lost VALUES (?1, ?2, ?3)",
    "INSERT INTO code_maps VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    "INSERT INTO registers VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    "INSERT INTO symbols VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    "INSERT INTO accesses VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
};

// Binds parameters 1, 2, ... of `s` in order.
class Bind {
 public:
  explicit Bind(sqlite3_stmt* s) : s_(s) { sqlite3_reset(s_); }
  Bind& i(uint64_t v) {
    sqlite3_bind_int64(s_, ++n_, static_cast<sqlite3_int64>(v));
    return *this;
  }
  Bind& t(std::string_view v) {
    sqlite3_bind_text(s_, ++n_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Bind& blob(const void* p, size_t n) {
    sqlite3_bind_blob(s_, ++n_, p, static_cast<int>(n), SQLITE_TRANSIENT);
    return *this;
  }
  Bind& null() {
    sqlite3_bind_null(s_, ++n_);
    return *this;
  }
  bool run() { return sqlite3_step(s_) == SQLITE_DONE; }

 private:
  sqlite3_stmt* s_;
  int n_ = 0;
};

}  // namespace

Result<std::unique_ptr<SqliteExport>> SqliteExport::create(const std::string& path, const RegisterBindings* regs,
                                                           Symbolizer* symbols, const DeviceCatalog* devices) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    std::string why = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return make_error(fmt::format("cannot create the SQLite database '{}': {}", path, why));
  }
  std::unique_ptr<SqliteExport> e(new SqliteExport(db));
  e->regs_ = regs;
  e->symbols_ = symbols;
  e->devices_ = devices;
  char* err = nullptr;
  if (sqlite3_exec(db, kSchema, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string why = err != nullptr ? err : "?";
    sqlite3_free(err);
    return make_error(fmt::format("cannot create the tables in '{}': {}", path, why));
  }
  if (auto r = e->prepare_all(); !r) return Error{r.error()};
  e->set_meta("schema", std::to_string(kSqliteSchemaVersion));
  return e;
}

SqliteExport::~SqliteExport() {
  for (auto& [sql, s] : stmts_) sqlite3_finalize(s);
  sqlite3_close(db_);
}

Result<void> SqliteExport::prepare_all() {
  for (const char* sql : kStatements) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK)
      return make_error(fmt::format("SQLite: {} ({})", sqlite3_errmsg(db_), sql));
    stmts_[sql] = s;
  }
  return {};
}

sqlite3_stmt* SqliteExport::stmt(const char* sql) { return stmts_.at(sql); }

void SqliteExport::fail(const char* what) {
  if (error_.empty()) error_ = fmt::format("writing {} into the SQLite database failed: {}", what, sqlite3_errmsg(db_));
}

void SqliteExport::set_meta(const std::string& key, const std::string& value) {
  if (!Bind(stmt(kStatements[0])).t(key).t(value).run()) fail("meta");
}

void SqliteExport::on_record(const trace::RecordView& record) {
  const trace::RecordHeader h = record.header();
  switch (record.type()) {
    case trace::RecordType::PCIDEV: {
      const auto r = record.as<trace::PciDevRecord>();
      if (!Bind(stmt(kStatements[1]))
               .i(r.busdevfn)
               .t(pci_address(r.busdevfn))
               .i(r.vendor)
               .i(r.device)
               .i(r.irq)
               .t(record.pcidev_driver())
               .run())
        fail("devices");
      for (int bar = 0; bar < 7; ++bar) {
        if (r.size[bar] == 0) continue;
        if (!Bind(stmt(kStatements[2]))
                 .i(r.busdevfn)
                 .i(bar)
                 .i(r.start[bar] & ~uint64_t{0xf})
                 .i(r.size[bar])
                 .i(r.start[bar] & 0xf)
                 .run())
          fail("device_bars");
      }
      break;
    }
    case trace::RecordType::MAP: {
      const auto r = record.as<trace::MapRecord>();
      Bind b(stmt(kStatements[3]));
      b.i(static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(r.map_id))))
          .i(h.seq)
          .i(h.time_ns)
          .i(r.pid)
          .i(h.tid)
          .i(r.phys)
          .i(r.virt)
          .i(r.len)
          .i(r.file_offset)
          .t(trace::device_kind_name(r.kind))
          .i(r.prot);
      if (r.bar == trace::kNoBar) {
        b.null();
      } else {
        b.i(r.bar);
      }
      if (r.pci_busdevfn != 0) {
        b.t(pci_address(r.pci_busdevfn));
      } else {
        b.null();
      }
      if (!b.t(record.map_path()).run()) fail("maps");
      break;
    }
    case trace::RecordType::UNMAP: {
      const auto r = record.as<trace::UnmapRecord>();
      if (!Bind(stmt(kStatements[4])).i(h.seq).i(h.time_ns).i(r.pid).i(h.tid).i(r.map_id).i(r.virt).i(r.len).run())
        fail("unmaps");
      break;
    }
    case trace::RecordType::MARK: {
      const auto r = record.as<trace::MarkRecord>();
      if (!Bind(stmt(kStatements[5])).i(h.seq).i(h.time_ns).i(r.pid).i(h.tid).t(record.mark_text()).run())
        fail("marks");
      break;
    }
    case trace::RecordType::UNKNOWN: {
      const auto r = record.as<trace::UnknownRecord>();
      if (!Bind(stmt(kStatements[6]))
               .i(h.seq)
               .i(h.time_ns)
               .i(r.pid)
               .i(h.tid)
               .i(r.map_id)
               .i(r.phys)
               .i(r.pc)
               .blob(r.insn, r.insn_len)
               .run())
        fail("unknowns");
      break;
    }
    case trace::RecordType::LOST:
      if (!Bind(stmt(kStatements[7])).i(h.seq).i(h.time_ns).i(record.as<trace::LostRecord>().count).run()) fail("lost");
      break;
    case trace::RecordType::CODEMAP: {
      const auto r = record.as<trace::CodeMapRecord>();
      if (!Bind(stmt(kStatements[8]))
               .i(h.seq)
               .i(h.time_ns)
               .i(r.pid)
               .i(h.tid)
               .i(r.virt)
               .i(r.len)
               .i(r.file_offset)
               .i(r.elf_vaddr)
               .t(hex_string(record.codemap_build_id()))
               .t(record.codemap_path())
               .i(r.flags)
               .run())
        fail("code_maps");
      break;
    }
    default:
      break;
  }
}

int64_t SqliteExport::register_id(const AccessDescription& d) {
  if (d.binding == nullptr || d.parts.empty() || !d.parts[0].hit) return -1;
  const RegisterPart& part = d.parts[0];
  auto [it, added] = register_ids_.try_emplace(std::pair{d.binding, part.offset}, register_ids_.size() + 1);
  if (added) {
    fmt::memory_buffer name;
    format_register_name(*d.binding->map, *part.hit, name);
    const Register& reg = *part.hit->reg;
    if (!Bind(stmt(kStatements[9]))
             .i(static_cast<uint64_t>(it->second))
             .t(d.binding->label)
             .t(std::string_view(name.data(), name.size()))
             .i(part.offset)
             .i(reg.kind == RegKind::REGISTER ? reg.width : part.nbytes)
             .t(reg.description)
             .run())
      fail("registers");
  }
  return it->second;
}

int64_t SqliteExport::symbol_id(uint32_t pid, uint64_t pc) {
  const uint64_t key = (uint64_t{pid} << 47) ^ pc;
  auto [it, added] = symbol_ids_.try_emplace(key, symbol_ids_.size() + 1);
  if (added) {
    const Symbol& s = symbols_->lookup(pid, pc);
    Bind b(stmt(kStatements[10]));
    b.i(static_cast<uint64_t>(it->second)).i(pid).i(pc);
    if (s.function.empty()) {
      b.null().null();
    } else {
      b.t(s.function).i(s.offset);
    }
    if (s.file.empty()) {
      b.null().null();
    } else {
      b.t(s.file).i(static_cast<uint64_t>(s.line));
    }
    if (s.object.empty()) {
      b.null().null();
    } else {
      b.t(s.object).i(s.object_offset);
    }
    if (s.available) {
      b.null();
    } else {
      b.t(s.why);
    }
    if (!b.run()) fail("symbols");
  }
  return it->second;
}

void SqliteExport::on_access(const Access& a, const AccessDescription* described) {
  ++accesses_;
  Bind b(stmt(kStatements[11]));
  b.i(a.seq).i(a.time_ns).i(a.pid).i(a.tid).t(a.is_write() ? "W" : "R").i(a.width);
  b.i(static_cast<uint64_t>(static_cast<int64_t>(a.map_id))).i(a.phys);
  b.i(devices_ != nullptr ? devices_->locate(a.map_id, a.phys).offset : a.phys);
  if (a.value_known() && a.width <= 8) {
    const uint64_t v = a.value_bits(0, a.width);
    b.i(v).t(fmt::format("{:#x}", v));
  } else if (a.value_known()) {
    b.null().t(hex_string(a.value));
  } else {
    b.null().t("?");
  }
  b.i(a.pc).i(a.flags);
  if (a.run_count != 0) {
    b.i(a.run_index);
  } else {
    b.null();
  }
  const int64_t reg = described != nullptr ? register_id(*described) : -1;
  if (reg > 0) {
    b.i(static_cast<uint64_t>(reg));
  } else {
    b.null();
  }
  if (described != nullptr && described->binding != nullptr) {
    fmt::memory_buffer text;
    format_description(*described, a.is_write(), text);
    b.t(std::string_view(text.data(), text.size()));
  } else {
    b.null();
  }
  if (symbols_ != nullptr) {
    b.i(static_cast<uint64_t>(symbol_id(a.pid, a.pc)));
  } else {
    b.null();
  }
  if (!b.run()) fail("accesses");
}

Result<void> SqliteExport::finish() {
  if (!error_.empty()) return make_error(error_);
  char* err = nullptr;
  if (sqlite3_exec(db_, kFinish, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string why = err != nullptr ? err : "?";
    sqlite3_free(err);
    return make_error(fmt::format("finishing the SQLite database failed: {}", why));
  }
  return {};
}

}  // namespace mmiotrace::analysis
