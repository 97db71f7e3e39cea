// The SQLite export (`mmiotrace export --sqlite FILE`, docs/export.md): every
// record of a trace into tables with a documented schema (accesses, maps,
// devices, marks, registers, symbols, ...), so that a trace can be queried
// with SQL in any SQLite tool. Accesses are the ones the filter passes; the
// records that give them context are all there.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include "analysis/bind.h"
#include "analysis/devices.h"
#include "analysis/symbolizer.h"
#include "analysis/walk.h"
#include "common/result.h"

namespace mmiotrace::analysis {

// The schema's version, in the meta table (key 'schema'); docs/export.md.
inline constexpr int kSqliteSchemaVersion = 1;

class SqliteExport final : public TraceVisitor {
 public:
  // Creates the tables in a new database at `path` (which must not hold one).
  // `regs`, `symbols` (may be null) and `devices` must outlive this.
  static Result<std::unique_ptr<SqliteExport>> create(const std::string& path, const RegisterBindings* regs,
                                                      Symbolizer* symbols, const DeviceCatalog* devices);
  ~SqliteExport() override;

  // The trace's own facts, into the meta table.
  void set_meta(const std::string& key, const std::string& value);
  void on_record(const trace::RecordView& record) override;
  void on_access(const Access& access, const AccessDescription* described) override;
  // Indexes and views, then commits. Error: one line.
  Result<void> finish();
  uint64_t accesses() const { return accesses_; }

 private:
  explicit SqliteExport(sqlite3* db) : db_(db) {}
  Result<void> prepare_all();
  sqlite3_stmt* stmt(const char* sql);
  void fail(const char* what);
  int64_t register_id(const AccessDescription& d);
  int64_t symbol_id(uint32_t pid, uint64_t pc);

  sqlite3* db_;
  std::map<std::string, sqlite3_stmt*> stmts_;
  const RegisterBindings* regs_ = nullptr;
  Symbolizer* symbols_ = nullptr;
  const DeviceCatalog* devices_ = nullptr;
  std::map<std::pair<const Binding*, uint64_t>, int64_t> register_ids_;  // (binding, offset of the part)
  std::unordered_map<uint64_t, int64_t> symbol_ids_;                     // (pid << 47) ^ pc
  uint64_t accesses_ = 0;
  std::string error_;
};

}  // namespace mmiotrace::analysis
