// TraceReader: reads a trace file record by record, checking as it goes.
// It streams through a 1 MiB window (files of many GB need no more memory) and
// works on anything read(2) can read, pipes included.
//
// What it checks, and what it does with records of a type it does not know, is
// part of the format's definition: docs/trace-format.md, "Readers".
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "common/check.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "trace/format.h"

namespace mmiotrace::trace {

// "ACCESS", "MAP", ...; "type N" for a type this version does not know.
std::string to_string(RecordType type);

// Why open() or next() failed; the CLI picks its exit code from it.
enum class TraceFailure : uint8_t {
  NONE = 0,
  UNREADABLE,   // open(2) or read(2) failed: missing file, no permission, I/O error
  NOT_A_TRACE,  // empty, someone else's file, a kernel text log, a newer major version
  CORRUPT,      // a corrupt header or record, or the file ends inside one
};

template <typename T>
constexpr RecordType record_type_of() {
  if constexpr (std::is_same_v<T, AccessRecord>) {
    return RecordType::ACCESS;
  } else if constexpr (std::is_same_v<T, MapRecord>) {
    return RecordType::MAP;
  } else if constexpr (std::is_same_v<T, UnmapRecord>) {
    return RecordType::UNMAP;
  } else if constexpr (std::is_same_v<T, MarkRecord>) {
    return RecordType::MARK;
  } else if constexpr (std::is_same_v<T, PciDevRecord>) {
    return RecordType::PCIDEV;
  } else if constexpr (std::is_same_v<T, UnknownRecord>) {
    return RecordType::UNKNOWN;
  } else if constexpr (std::is_same_v<T, AccessRunRecord>) {
    return RecordType::ACCESS_RUN;
  } else if constexpr (std::is_same_v<T, CodeMapRecord>) {
    return RecordType::CODEMAP;
  } else {
    static_assert(std::is_same_v<T, LostRecord>, "not a record struct of format.h");
    return RecordType::LOST;
  }
}

// One record as read from the file. It points into the reader's buffer: it is
// valid until the reader's next call to next() (or the reader's destruction).
// Every record a reader delivers has passed its checks, so the accessors below
// can trust sizes and lengths.
class RecordView {
 public:
  RecordView() = default;

  RecordType type() const {
    uint16_t t;  // the header's first field: read alone, it is asked for several times per record
    std::memcpy(&t, data_, sizeof t);
    return static_cast<RecordType>(t);
  }
  RecordHeader header() const { return as_unchecked<RecordHeader>(); }
  uint64_t offset() const { return offset_; }  // byte offset of the record in the file
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }

  // The fixed part of the record, copied out (so no alignment is assumed). The
  // record must be of T's type.
  template <typename T>
  T as() const {
    MT_CHECK_MSG(type() == record_type_of<T>(), "RecordView::as<T>() on a record of another type");
    return as_unchecked<T>();
  }

  std::span<const uint8_t> access_value() const;  // ACCESS: `width` bytes, memory order
  // ACCESS_RUN: all count*width value bytes, access by access.
  std::span<const uint8_t> access_run_values() const;
  // ACCESS_RUN: the `width` bytes of access `i` (0 <= i < count), memory order.
  // Its address is run_access_phys(phys, stride, i) (format.h), its seq h.seq+i.
  std::span<const uint8_t> access_run_value(uint32_t i) const;
  std::string_view map_path() const;                  // MAP
  std::string_view mark_text() const;                 // MARK
  std::string_view pcidev_driver() const;             // PCIDEV: empty if no driver
  std::span<const uint8_t> codemap_build_id() const;  // CODEMAP: empty if none was recorded
  std::string_view codemap_path() const;              // CODEMAP

  // A view of the complete record `bytes` (which must outlive the view) made
  // elsewhere than in a trace file, such as from a kernel log (kernel_log_records.h):
  // an error if it does not pass the checks a TraceReader makes on a record of a known type.
  static Result<RecordView> checked(std::span<const uint8_t> bytes);

 private:
  friend class TraceReader;
  template <typename T>
  T as_unchecked() const {
    MT_CHECK(size_ >= sizeof(T));
    T t;
    std::memcpy(&t, data_, sizeof t);
    return t;
  }
  std::string_view payload(size_t fixed, size_t len) const;

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  uint64_t offset_ = 0;
};

// Where printers take records from: a TraceReader, or the events of a kernel
// log turned into records (kernel_log_records.h).
class RecordSource {
 public:
  virtual ~RecordSource() = default;
  // true and the next record (valid until the next call); false at the end; an
  // error saying where the input is damaged or unreadable.
  virtual Result<bool> next(RecordView& out) = 0;
  // After an error from next(): true if reading failed (I/O), false if the input is damaged.
  virtual bool read_failed() const = 0;
};

class TraceReader final : public RecordSource {
 public:
  static constexpr size_t kBufferSize = size_t{1} << 20;
  static constexpr uint32_t kMaxHeaderSize = 4096;  // later minor versions may grow the header up to this

  // Opens `path` and checks its file header. On failure, `*failure` (if given)
  // says which kind of failure it was.
  static Result<TraceReader> open(const std::string& path, TraceFailure* failure = nullptr);
  // Same, on the open descriptor `fd` (which the reader then owns), from which
  // `already_read` (the file's first bytes, at most kBufferSize) was read
  // (trace_input.h reads them to tell the kinds of file apart).
  static Result<TraceReader> adopt_fd(int fd, std::string path, std::span<const uint8_t> already_read,
                                      TraceFailure* failure = nullptr);

  TraceReader(TraceReader&& other) noexcept = default;
  TraceReader& operator=(TraceReader&& other) noexcept = default;
  TraceReader(const TraceReader&) = delete;
  TraceReader& operator=(const TraceReader&) = delete;
  ~TraceReader() override = default;

  // true and the next record in `out`; false at a clean end of the file; an
  // error (with failure() set) for a corrupt or truncated record or a failed
  // read. Records of a type this version does not know are skipped by their
  // size. After an error, every call returns the same error.
  // Sequence numbers: a record's seq must be at least the previous record's
  // seq plus the number of seqs that one took (an ACCESS_RUN's `count`, 1 for
  // every other record, a skipped one included).
  Result<bool> next(RecordView& out) override {
    if (next_access(out)) return true;
    return next_record(out);
  }
  bool read_failed() const override { return failure_ == TraceFailure::UNREADABLE; }

  const FileHeader& header() const { return header_; }
  const std::string& path() const { return path_; }
  uint64_t records_read() const { return records_read_; }        // intact records so far, skipped ones included
  uint64_t records_skipped() const { return records_skipped_; }  // of a type this version does not know
  TraceFailure failure() const { return failure_; }

 private:
  TraceReader(int fd, std::string path);
  // The common case of next(), inline: an unmasked ACCESS record wholly in
  // the buffer that passes every check next_record() would make. false (and
  // nothing changed) for anything else, which next_record() then reads.
  bool next_access(RecordView& out) {
    const size_t avail = end_ - pos_;
    if (avail < sizeof(AccessRecord) || failure_ != TraceFailure::NONE) return false;
    const uint8_t* p = buffer_.get() + pos_;
    // Only the fields checked, not the whole record.
    uint16_t type, size;
    uint64_t seq;
    uint8_t b[4];  // op, width, insn_len, flags
    std::memcpy(&type, p + offsetof(RecordHeader, type), sizeof type);
    std::memcpy(&size, p + offsetof(RecordHeader, size), sizeof size);
    std::memcpy(&seq, p + offsetof(RecordHeader, seq), sizeof seq);
    std::memcpy(b, p + offsetof(AccessRecord, op), sizeof b);
    static_assert(offsetof(AccessRecord, width) == offsetof(AccessRecord, op) + 1 &&
                  offsetof(AccessRecord, insn_len) == offsetof(AccessRecord, op) + 2 &&
                  offsetof(AccessRecord, flags) == offsetof(AccessRecord, op) + 3);
    const uint8_t op = b[0], width = b[1], insn_len = b[2], flags = b[3];
    // An unmasked access's size is sizeof(AccessRecord) + its width rounded up
    // to 8: a multiple of 8, more than the header; the other checks are check_access's.
    if (type != static_cast<uint16_t>(RecordType::ACCESS) || op > static_cast<uint8_t>(AccessOp::WRITE) || width == 0 ||
        width > kMaxAccessWidth || insn_len > kMaxInsnLength || (flags & kAccessMasked) != 0 ||
        size != sizeof(AccessRecord) + ((size_t{width} + 7) & ~size_t{7}) || size > avail) {
      return false;
    }
    if (records_read_ > 0 && (seq <= last_seq_ || seq - last_seq_ < last_seq_count_)) return false;
    out.data_ = p;
    out.size_ = size;
    out.offset_ = file_offset_;
    pos_ += size;
    file_offset_ += size;
    ++records_read_;
    last_seq_ = seq;
    last_seq_count_ = 1;
    return true;
  }
  Result<bool> next_record(RecordView& out);
  Result<void> read_file_header();
  Result<size_t> fill(size_t need);
  Error fail(TraceFailure kind, std::string message);
  Error corrupt(uint64_t offset, const std::string& why);
  Error truncated(uint64_t offset, const std::string& what);

  UniqueFd fd_;
  std::string path_;
  FileHeader header_{};
  std::unique_ptr<uint8_t[]> buffer_;
  size_t pos_ = 0;            // next unread byte in buffer_
  size_t end_ = 0;            // end of the valid bytes in buffer_
  bool eof_ = false;          // read(2) returned 0
  uint64_t file_offset_ = 0;  // offset in the file of buffer_[pos_]
  uint64_t records_read_ = 0;
  uint64_t records_skipped_ = 0;
  uint64_t last_seq_ = 0;
  uint32_t last_seq_count_ = 1;  // seqs the previous record took: last_seq_ .. last_seq_+last_seq_count_-1
  TraceFailure failure_ = TraceFailure::NONE;
  std::string error_;
};

}  // namespace mmiotrace::trace
