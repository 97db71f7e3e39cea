#include "trace/reader.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "trace/encode.h"

namespace mmiotrace::trace {

std::string to_string(RecordType type) {
  switch (type) {
    case RecordType::PAD:
      return "PAD";
    case RecordType::ACCESS:
      return "ACCESS";
    case RecordType::MAP:
      return "MAP";
    case RecordType::UNMAP:
      return "UNMAP";
    case RecordType::MARK:
      return "MARK";
    case RecordType::PCIDEV:
      return "PCIDEV";
    case RecordType::UNKNOWN:
      return "UNKNOWN";
    case RecordType::LOST:
      return "LOST";
    case RecordType::ACCESS_RUN:
      return "ACCESS_RUN";
    case RecordType::CODEMAP:
      return "CODEMAP";
  }
  return fmt::format("type {}", static_cast<unsigned>(type));
}

std::string_view RecordView::payload(size_t fixed, size_t len) const {
  MT_CHECK(fixed + len <= size_);
  return {reinterpret_cast<const char*>(data_) + fixed, len};
}

std::span<const uint8_t> RecordView::access_value() const {
  const auto r = as<AccessRecord>();
  MT_CHECK(sizeof r + r.width <= size_);
  return {data_ + sizeof r, r.width};
}

std::span<const uint8_t> RecordView::access_run_values() const {
  const auto r = as<AccessRunRecord>();
  const size_t n = size_t{r.count} * r.width;
  MT_CHECK(sizeof r + n <= size_);
  return {data_ + sizeof r, n};
}

std::span<const uint8_t> RecordView::access_run_value(uint32_t i) const {
  const auto r = as<AccessRunRecord>();
  MT_CHECK(i < r.count);
  const size_t at = sizeof r + size_t{i} * r.width;
  MT_CHECK(at + r.width <= size_);
  return {data_ + at, r.width};
}

std::string_view RecordView::map_path() const { return payload(sizeof(MapRecord), as<MapRecord>().path_len); }
std::string_view RecordView::mark_text() const { return payload(sizeof(MarkRecord), as<MarkRecord>().text_len); }
std::string_view RecordView::pcidev_driver() const {
  return payload(sizeof(PciDevRecord), as<PciDevRecord>().driver_len);
}
std::span<const uint8_t> RecordView::codemap_build_id() const {
  const auto r = as<CodeMapRecord>();
  MT_CHECK(sizeof r + r.build_id_len <= size_);
  return {data_ + sizeof r, r.build_id_len};
}
std::string_view RecordView::codemap_path() const {
  const auto r = as<CodeMapRecord>();
  return payload(sizeof r + r.build_id_len, r.path_len);
}

namespace {

// The size of a known type's fixed part; 0 for a type this version does not know.
size_t fixed_size(RecordType type) {
  switch (type) {
    case RecordType::PAD:
      return sizeof(RecordHeader);
    case RecordType::ACCESS:
      return sizeof(AccessRecord);
    case RecordType::MAP:
      return sizeof(MapRecord);
    case RecordType::UNMAP:
      return sizeof(UnmapRecord);
    case RecordType::MARK:
      return sizeof(MarkRecord);
    case RecordType::PCIDEV:
      return sizeof(PciDevRecord);
    case RecordType::UNKNOWN:
      return sizeof(UnknownRecord);
    case RecordType::LOST:
      return sizeof(LostRecord);
    case RecordType::ACCESS_RUN:
      return sizeof(AccessRunRecord);
    case RecordType::CODEMAP:
      return sizeof(CodeMapRecord);
  }
  return 0;
}

template <typename T>
T load(const uint8_t* p) {
  T t;
  std::memcpy(&t, p, sizeof t);
  return t;
}

// Sets `*why` (the reason a record is refused), if asked for, and returns
// false. The reader checks every record it reads, millions a second, without
// asking why; only for a record that fails does it check again for the
// message.
bool fail(std::string* why, std::string message) {
  if (why != nullptr) *why = std::move(message);
  return false;
}

// A payload of `len` bytes after a `fixed`-byte part must fill the record exactly.
bool check_payload(const char* what, size_t len, size_t fixed, size_t size, std::string* why) {
  const size_t need = fixed + padded8(static_cast<uint32_t>(len));
  if (need > size)
    return fail(why, fmt::format("{} length {} runs past the end of the {}-byte record", what, len, size));
  if (need != size)
    return fail(why, fmt::format("record size {} does not match {} length {} (expected {})", size, what, len, need));
  return true;
}

bool check_access(const uint8_t* p, size_t size, std::string* why) {
  const auto r = load<AccessRecord>(p);
  if (r.op > static_cast<uint8_t>(AccessOp::WRITE))
    return fail(why, fmt::format("access op {} is neither 0 (read) nor 1 (write)", r.op));
  if (r.width == 0 || r.width > kMaxAccessWidth)
    return fail(why, fmt::format("access width {} is not between 1 and {}", r.width, kMaxAccessWidth));
  if (r.insn_len > kMaxInsnLength)
    return fail(why, fmt::format("instruction length {} is more than {}", r.insn_len, kMaxInsnLength));
  if (size != record_size_for_access(r.width))
    return fail(why, fmt::format("record size {} does not match access width {} (expected {})", size, r.width,
                                 record_size_for_access(r.width)));
  if (r.flags & kAccessMasked) {
    if (r.byte_mask & ~full_byte_mask(r.width))
      return fail(why, fmt::format("byte mask {:#x} selects bytes past access width {}", r.byte_mask, r.width));
    if (r.byte_mask == 0) return fail(why, "the byte mask of a masked access selects no byte");
  }
  return true;
}

bool check_access_run(const uint8_t* p, size_t size, std::string* why) {
  const auto r = load<AccessRunRecord>(p);
  if (r.op > static_cast<uint8_t>(AccessOp::WRITE))
    return fail(why, fmt::format("access run op {} is neither 0 (read) nor 1 (write)", r.op));
  if (r.width != 1 && r.width != 2 && r.width != 4 && r.width != 8)
    return fail(why, fmt::format("access run width {} is not 1, 2, 4 or 8", r.width));
  if (r.count == 0) return fail(why, "access run count is 0");
  if (r.stride != r.width && r.stride != -static_cast<int32_t>(r.width))
    return fail(why, fmt::format("access run stride {} is neither {} nor -{} (its width)", r.stride, r.width, r.width));
  if (r.insn_len > kMaxInsnLength)
    return fail(why, fmt::format("instruction length {} is more than {}", r.insn_len, kMaxInsnLength));
  if (r.flags & kAccessMasked) return fail(why, "an access run has the masked flag (a run has no byte mask)");
  if (size != record_size_for_access_run(r.width, r.count))
    return fail(why, fmt::format("record size {} does not match access run count {} of width {} (expected {})", size,
                                 r.count, r.width, record_size_for_access_run(r.width, r.count)));
  if (!run_fits_address_space(r.phys, r.stride, r.count))
    return fail(why, fmt::format("access run of {} accesses from {:#x} with stride {} wraps around the address space",
                                 r.count, r.phys, r.stride));
  if (r.count - 1 > ~uint64_t{0} - r.h.seq)
    return fail(why,
                fmt::format("access run of {} accesses from sequence number {} runs past the largest sequence number",
                            r.count, r.h.seq));
  return true;
}

bool check_exact(RecordType type, size_t size, std::string* why) {
  if (size == fixed_size(type)) return true;
  return fail(why, fmt::format("{} record size {} is not {}", to_string(type), size, fixed_size(type)));
}

// Whether a record of a known type is consistent; if not, `*why` says why.
bool check_record(RecordType type, const uint8_t* p, size_t size, std::string* why) {
  if (type == RecordType::PAD) return fail(why, "record type 0 (PAD) never appears in a file");
  if (size < fixed_size(type))
    return fail(why, fmt::format("{} record size {} is smaller than its {}-byte structure", to_string(type), size,
                                 fixed_size(type)));
  switch (type) {
    case RecordType::ACCESS:
      return check_access(p, size, why);
    case RecordType::ACCESS_RUN:
      return check_access_run(p, size, why);
    case RecordType::MAP:
      return check_payload("path", load<MapRecord>(p).path_len, sizeof(MapRecord), size, why);
    case RecordType::MARK: {
      const auto r = load<MarkRecord>(p);
      if (r.text_len > kMaxMarkText)
        return fail(why, fmt::format("mark text length {} is more than {}", r.text_len, kMaxMarkText));
      return check_payload("mark text", r.text_len, sizeof r, size, why);
    }
    case RecordType::PCIDEV:
      return check_payload("driver name", load<PciDevRecord>(p).driver_len, sizeof(PciDevRecord), size, why);
    case RecordType::CODEMAP: {
      const auto r = load<CodeMapRecord>(p);
      if (r.build_id_len > kMaxBuildId)
        return fail(why, fmt::format("build-id length {} is more than {}", r.build_id_len, kMaxBuildId));
      return check_payload("build-id and path", size_t{r.build_id_len} + r.path_len, sizeof r, size, why);
    }
    case RecordType::UNKNOWN: {
      const auto r = load<UnknownRecord>(p);
      if (r.insn_len > kMaxInsnLength)
        return fail(why, fmt::format("instruction length {} is more than {}", r.insn_len, kMaxInsnLength));
      return check_exact(type, size, why);
    }
    default:
      return check_exact(type, size, why);
  }
}

std::string intact(uint64_t records) {
  if (records == 0) return "there are no records before it";
  if (records == 1) return "the 1 record before it is intact";
  return fmt::format("the {} records before it are intact", records);
}

// The version token of a kernel text log ("VERSION 20070824\n...").
std::string_view kernel_version(const uint8_t* p, size_t n) {
  std::string_view s(reinterpret_cast<const char*>(p), n);
  s.remove_prefix(std::string_view("VERSION ").size());
  return s.substr(0, std::min(s.find_first_of(" \r\n"), size_t{16}));
}

}  // namespace

Result<RecordView> RecordView::checked(std::span<const uint8_t> bytes) {
  if (bytes.size() < sizeof(RecordHeader)) return make_error(fmt::format("a record of {} bytes", bytes.size()));
  const auto h = load<RecordHeader>(bytes.data());
  const auto type = static_cast<RecordType>(h.type);
  if (h.size != bytes.size() || h.size % 8 != 0) return make_error(fmt::format("record size {} is wrong", h.size));
  if (fixed_size(type) == 0) return make_error(fmt::format("record type {} is unknown", h.type));
  if (!check_record(type, bytes.data(), bytes.size(), nullptr)) {
    std::string why;
    check_record(type, bytes.data(), bytes.size(), &why);
    return make_error(why);
  }
  RecordView view;
  view.data_ = bytes.data();
  view.size_ = bytes.size();
  return view;
}

Result<TraceReader> TraceReader::open(const std::string& path, TraceFailure* failure) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (failure) *failure = TraceFailure::UNREADABLE;
    return make_error(fmt::format("cannot open trace file '{}': {}", path, std::strerror(errno)));
  }
  return adopt_fd(fd, path, {}, failure);
}

Result<TraceReader> TraceReader::adopt_fd(int fd, std::string path, std::span<const uint8_t> already_read,
                                          TraceFailure* failure) {
  TraceReader reader(fd, std::move(path));
  MT_CHECK(already_read.size() <= kBufferSize);
  if (!already_read.empty()) std::memcpy(reader.buffer_.get(), already_read.data(), already_read.size());
  reader.end_ = already_read.size();
  if (auto r = reader.read_file_header(); !r) {
    if (failure) *failure = reader.failure_;
    return make_error(r.error());
  }
  return reader;
}

TraceReader::TraceReader(int fd, std::string path)
    : fd_(fd), path_(std::move(path)), buffer_(new uint8_t[kBufferSize]) {}

Error TraceReader::fail(TraceFailure kind, std::string message) {
  failure_ = kind;
  error_ = std::move(message);
  return make_error(error_);
}

Error TraceReader::corrupt(uint64_t offset, const std::string& why) {
  return fail(TraceFailure::CORRUPT,
              fmt::format("trace file '{}' is corrupt at byte {} ({}); {}", path_, offset, why, intact(records_read_)));
}

Error TraceReader::truncated(uint64_t offset, const std::string& what) {
  return fail(TraceFailure::CORRUPT, fmt::format("trace file '{}' is truncated at byte {} ({}); {}", path_, offset,
                                                 what, intact(records_read_)));
}

// Makes `need` (<= kBufferSize) bytes available at buffer_[pos_] unless the file
// ends first; returns how many are available.
Result<size_t> TraceReader::fill(size_t need) {
  if (end_ - pos_ >= need || eof_) return end_ - pos_;
  // Move the partial record to the front so that the read below can be large.
  std::memmove(buffer_.get(), buffer_.get() + pos_, end_ - pos_);
  end_ -= pos_;
  pos_ = 0;
  while (end_ < need && !eof_) {
    ssize_t n = ::read(fd_.get(), buffer_.get() + end_, kBufferSize - end_);
    if (n > 0) {
      end_ += static_cast<size_t>(n);
    } else if (n == 0) {
      eof_ = true;
    } else if (errno != EINTR) {
      return fail(TraceFailure::UNREADABLE,
                  fmt::format("cannot read trace file '{}': {}", path_, std::strerror(errno)));
    }
  }
  return end_;
}

Result<void> TraceReader::read_file_header() {
  auto avail = fill(sizeof(FileHeader));
  if (!avail) return make_error(avail.error());
  const uint8_t* p = buffer_.get();
  const size_t n = *avail;
  if (n == 0) return fail(TraceFailure::NOT_A_TRACE, fmt::format("'{}' is empty, not an mmiotrace trace file", path_));
  if (n >= 8 && std::memcmp(p, "VERSION ", 8) == 0) {
    return fail(TraceFailure::NOT_A_TRACE,
                fmt::format("'{}' is a kernel mmiotrace text log (VERSION {}), not an mmiotrace trace file: read it "
                            "with KernelLogReader (trace/kernel_log.h), or print it with mmiotrace print",
                            path_, kernel_version(p, n)));
  }
  if (std::memcmp(p, kMagic, std::min(n, sizeof kMagic)) != 0)
    return fail(TraceFailure::NOT_A_TRACE, fmt::format("'{}' is not an mmiotrace trace file", path_));
  auto truncated_header = [this](size_t present, size_t size) {
    return fail(TraceFailure::CORRUPT, fmt::format("trace file '{}' is truncated (it ends {} bytes into its {}-byte "
                                                   "file header)",
                                                   path_, present, size));
  };
  if (n < sizeof(FileHeader)) return truncated_header(n, sizeof(FileHeader));
  std::memcpy(&header_, p, sizeof header_);
  if (header_.version_major != kVersionMajor) {
    const bool newer = header_.version_major > kVersionMajor;
    return fail(TraceFailure::NOT_A_TRACE,
                fmt::format("'{}' was written by {} mmiotrace (trace format {}.{}); this mmiotrace reads format {}.x",
                            path_, newer ? "a newer" : "an older, unsupported", header_.version_major,
                            header_.version_minor, kVersionMajor));
  }
  const uint32_t hs = header_.header_size;
  if (hs < sizeof(FileHeader) || hs % 8 != 0 || hs > kMaxHeaderSize) {
    return fail(TraceFailure::CORRUPT,
                fmt::format("trace file '{}' is corrupt at byte {} (header size {} is not a multiple of 8 between {} "
                            "and {})",
                            path_, offsetof(FileHeader, header_size), hs, sizeof(FileHeader), kMaxHeaderSize));
  }
  // A later minor version may have a longer header: skip what we do not know.
  auto all = fill(hs);
  if (!all) return make_error(all.error());
  if (*all < hs) return truncated_header(*all, hs);
  pos_ += hs;
  file_offset_ = hs;
  return {};
}

// Every record; next() reads the common ones itself (next_access()).
Result<bool> TraceReader::next_record(RecordView& out) {
  if (!error_.empty()) return make_error(error_);
  for (;;) {
    // fill() only when the buffer runs short: most records are there already.
    size_t avail = end_ - pos_;
    if (avail < sizeof(RecordHeader)) {
      auto filled = fill(sizeof(RecordHeader));
      if (!filled) return make_error(filled.error());
      avail = *filled;
    }
    if (avail == 0) return false;
    if (avail < sizeof(RecordHeader))
      return truncated(file_offset_, fmt::format("the file ends {} bytes into a record header", avail));
    const auto h = load<RecordHeader>(buffer_.get() + pos_);
    if (h.size % 8 != 0) return corrupt(file_offset_, fmt::format("record size {} is not a multiple of 8", h.size));
    if (h.size < sizeof(RecordHeader))
      return corrupt(file_offset_, fmt::format("record size {} is smaller than the {}-byte record header", h.size,
                                               sizeof(RecordHeader)));
    // The previous record took the seqs last_seq_ .. last_seq_ + last_seq_count_ - 1.
    if (records_read_ > 0 && (h.seq <= last_seq_ || h.seq - last_seq_ < last_seq_count_)) {
      if (last_seq_count_ == 1)
        return corrupt(file_offset_, fmt::format("sequence number {} does not follow {}", h.seq, last_seq_));
      return corrupt(file_offset_,
                     fmt::format("sequence number {} does not follow {}, the last of the {} taken by the access run "
                                 "at sequence number {}",
                                 h.seq, last_seq_ + last_seq_count_ - 1, last_seq_count_, last_seq_));
    }
    if (avail < h.size) {
      auto filled = fill(h.size);
      if (!filled) return make_error(filled.error());
      avail = *filled;
    }
    if (avail < h.size)
      return truncated(file_offset_, fmt::format("the file ends {} bytes into a record of {} bytes", avail, h.size));
    const auto type = static_cast<RecordType>(h.type);
    const uint8_t* p = buffer_.get() + pos_;
    const bool known = fixed_size(type) != 0;
    if (known) {
      if (!check_record(type, p, h.size, nullptr)) {
        std::string why;
        check_record(type, p, h.size, &why);
        return corrupt(file_offset_, why);
      }
      out.data_ = p;
      out.size_ = h.size;
      out.offset_ = file_offset_;
    } else {
      ++records_skipped_;  // a record type from a later minor version
    }
    pos_ += h.size;
    file_offset_ += h.size;
    ++records_read_;
    last_seq_ = h.seq;
    last_seq_count_ = type == RecordType::ACCESS_RUN ? load<AccessRunRecord>(p).count : 1;
    if (known) return true;
  }
}

}  // namespace mmiotrace::trace
