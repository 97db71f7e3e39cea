// AtomicFile: an output file that appears whole or not at all. It is written
// under a temporary name in the same folder and renamed over `path` by
// commit(); if commit() is never reached (an error, bad input), the
// temporary file is removed and `path` is left as it was.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

#include "common/result.h"

namespace mmiotrace::analysis {

class AtomicFile {
 public:
  // Creates the temporary file beside `path`. Error: one line naming `path`.
  static Result<AtomicFile> create(const std::string& path);
  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  ~AtomicFile();  // removes the temporary file unless committed

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_; }
  // Buffered; a write error is reported by flush() or commit().
  void write(std::string_view s);
  fmt::memory_buffer& buffer() { return buffer_; }  // append freely; flushed when large
  void maybe_flush();
  Result<void> flush();
  // Writes out, syncs, closes and renames over `path`.
  Result<void> commit();
  // Closes the descriptor without renaming (for a writer that reopens
  // temp_path() itself, such as SQLite); commit() then only renames.
  void close_for_reopen();

 private:
  AtomicFile(std::string path, std::string temp, int fd) : path_(std::move(path)), temp_(std::move(temp)), fd_(fd) {}
  std::string path_;
  std::string temp_;
  int fd_ = -1;
  bool committed_ = false;
  std::string error_;
  fmt::memory_buffer buffer_;
};

}  // namespace mmiotrace::analysis
