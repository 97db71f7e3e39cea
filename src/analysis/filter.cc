#include "analysis/filter.h"

#include <algorithm>
#include <charconv>

namespace mmiotrace::analysis {

namespace {

bool parse_number(std::string_view text, uint64_t& out) {
  int base = 10;
  if (text.substr(0, 2) == "0x" || text.substr(0, 2) == "0X") {
    text.remove_prefix(2);
    base = 16;
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

template <typename T>
bool any_of_values(const std::vector<T>& values, const T& v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

// '*' (any run) and '?' (any one character); everything else, '[' included, is
// literal, so that "RAL[3]" names the element and "RAL*" every RAL.
bool glob_match(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool any_range(const std::vector<Range>& ranges, uint64_t v) {
  return std::any_of(ranges.begin(), ranges.end(), [v](const Range& r) { return r.contains(v); });
}

}  // namespace

Result<Range> parse_range(std::string_view text) {
  auto bad = [&] {
    return make_error(fmt::format("cannot read the range '{}': give N, FIRST-LAST or FIRST+COUNT (0x for hex)", text));
  };
  Range r;
  const size_t dash = text.find('-');
  const size_t plus = text.find('+');
  if (dash != std::string_view::npos) {
    if (!parse_number(text.substr(0, dash), r.first) || !parse_number(text.substr(dash + 1), r.last)) return bad();
    if (r.last < r.first) {
      return make_error(fmt::format("the range '{}' ends before it starts", text));
    }
    return r;
  }
  if (plus != std::string_view::npos) {
    uint64_t count = 0;
    if (!parse_number(text.substr(0, plus), r.first) || !parse_number(text.substr(plus + 1), count) || count == 0)
      return bad();
    r.last = r.first + (count - 1);
    if (r.last < r.first) return bad();
    return r;
  }
  if (!parse_number(text, r.first)) return bad();
  r.last = r.first;
  return r;
}

Result<uint64_t> parse_seconds(std::string_view text) {
  auto bad = [&] {
    return make_error(
        fmt::format("cannot read the time '{}': give seconds as print shows them, such as 12.000512", text));
  };
  const size_t dot = text.find('.');
  uint64_t seconds = 0;
  const std::string_view whole = text.substr(0, dot);
  auto [end, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), seconds);
  if (whole.empty() || ec != std::errc() || end != whole.data() + whole.size()) return bad();
  uint64_t ns = 0;
  if (dot != std::string_view::npos) {
    const std::string_view frac = text.substr(dot + 1);
    if (frac.empty() || frac.size() > 9) return bad();
    uint64_t f = 0;
    auto [fend, fec] = std::from_chars(frac.data(), frac.data() + frac.size(), f);
    if (fec != std::errc() || fend != frac.data() + frac.size()) return bad();
    for (size_t i = frac.size(); i < 9; ++i) f *= 10;
    ns = f;
  }
  if (seconds > UINT64_MAX / 1000000000u - 1) return bad();
  return seconds * 1000000000u + ns;
}

bool FilterSpec::empty() const {
  return map_ids.empty() && devices.empty() && bars.empty() && offsets.empty() && addresses.empty() &&
         registers.empty() && !op && widths.empty() && pids.empty() && tids.empty() && pcs.empty() &&
         functions.empty() && !from_ns && !to_ns && from_mark.empty() && to_mark.empty();
}

Result<Filter> Filter::make(const FilterSpec& spec, const DeviceCatalog* catalog, RegisterBindings* bindings,
                            const FunctionRanges& functions) {
  Filter f;
  f.spec_ = spec;
  f.everything_ = spec.empty();
  f.window_open_ = spec.from_mark.empty();
  f.catalog_ = catalog;
  f.bindings_ = bindings;
  if (!spec.registers.empty()) {
    if (bindings == nullptr || bindings->empty()) {
      return make_error("filtering by register name (--reg) needs a register map: give one with --regs");
    }
    for (const RegisterMap& map : bindings->maps()) {
      std::vector<bool> selected(map.registers.size());
      for (size_t i = 0; i < map.registers.size(); ++i) {
        for (const std::string& pattern : spec.registers) {
          if (glob_match(pattern, map.registers[i].name)) selected[i] = true;
        }
      }
      f.register_selected_.push_back(std::move(selected));
    }
    f.indexed_patterns_ = std::any_of(spec.registers.begin(), spec.registers.end(),
                                      [](const std::string& p) { return p.find('[') != std::string::npos; });
  }
  if ((!spec.devices.empty() || !spec.bars.empty()) && catalog == nullptr) {
    return make_error("filtering by device or BAR needs the trace's PCIDEV and MAP records");
  }
  if (!spec.functions.empty()) {
    if (!functions) {
      return make_error("filtering by function (--function) needs the trace's symbols, which this trace has not");
    }
    for (const std::string& name : spec.functions) {
      auto ranges = functions(name);
      if (!ranges) return Error{ranges.error()};
      f.function_pcs_.insert(f.function_pcs_.end(), ranges->begin(), ranges->end());
    }
  }
  return f;
}

void Filter::observe(const trace::RecordView& record) {
  if (record.type() != trace::RecordType::MARK || (spec_.from_mark.empty() && spec_.to_mark.empty())) return;
  const std::string_view text = record.mark_text();
  if (window_open_) {
    if (!spec_.to_mark.empty() && text.find(spec_.to_mark) != std::string_view::npos) window_open_ = false;
  } else if (!spec_.from_mark.empty() && text.find(spec_.from_mark) != std::string_view::npos) {
    window_open_ = true;
  }
}

bool Filter::in_window(uint64_t time_ns) const {
  if (!window_open_) return false;
  if (spec_.from_ns && time_ns < *spec_.from_ns) return false;
  if (spec_.to_ns && time_ns > *spec_.to_ns) return false;
  return true;
}

bool Filter::device_matches(int32_t map_id, uint64_t phys, const AccessDescription* d) const {
  const DeviceLocation loc = catalog_->locate(map_id, phys);
  if (!spec_.bars.empty() && !any_of_values(spec_.bars, loc.bar)) return false;
  if (spec_.devices.empty()) return true;
  for (const std::string& want : spec_.devices) {
    if (d != nullptr && d->binding != nullptr && d->binding->label == want) return true;
    if (loc.device == nullptr) continue;
    const std::string address = pci_address(loc.device->busdevfn);
    if (want == address || (want.size() == 7 && address.substr(5) == want)) return true;
    if (want == fmt::format("{:04x}:{:04x}", loc.device->id.vendor, loc.device->id.device)) return true;
  }
  return false;
}

bool Filter::offset_matches(int32_t map_id, uint64_t phys, const AccessDescription* d) const {
  if (d != nullptr && d->binding != nullptr) return any_range(spec_.offsets, d->offset);
  const uint64_t offset = catalog_ != nullptr ? catalog_->locate(map_id, phys).offset : phys;
  return any_range(spec_.offsets, offset);
}

bool Filter::register_matches(const AccessDescription& d) const {
  if (d.binding == nullptr) return false;
  const RegisterMap& map = *d.binding->map;
  const auto& selected = register_selected_[static_cast<size_t>(&map - bindings_->maps().data())];
  for (const RegisterPart& p : d.parts) {
    if (!p.hit) continue;
    if (selected[static_cast<size_t>(p.hit->reg - map.registers.data())]) return true;
    if (indexed_patterns_) {
      fmt::memory_buffer name;
      format_register_name(map, *p.hit, name);
      for (const std::string& pattern : spec_.registers) {
        if (glob_match(pattern, std::string_view(name.data(), name.size()))) return true;
      }
    }
  }
  return false;
}

bool Filter::accepts(const Access& a, const AccessDescription* described) {
  if (everything_) return true;
  if (!in_window(a.time_ns)) return false;
  if (spec_.op && a.op != *spec_.op) return false;
  if (!spec_.widths.empty() && !any_of_values(spec_.widths, static_cast<unsigned>(a.width))) return false;
  if (!spec_.pids.empty() && !any_of_values(spec_.pids, a.pid)) return false;
  if (!spec_.tids.empty() && !any_of_values(spec_.tids, a.tid)) return false;
  if (!spec_.map_ids.empty() && !any_of_values(spec_.map_ids, a.map_id)) return false;
  if (!spec_.addresses.empty() && !any_range(spec_.addresses, a.phys)) return false;
  if (!spec_.pcs.empty() && !any_range(spec_.pcs, a.pc)) return false;
  if (!spec_.functions.empty() && !any_range(function_pcs_, a.pc)) return false;
  if (described == nullptr && bindings_ != nullptr && !bindings_->empty() &&
      (!spec_.registers.empty() || !spec_.offsets.empty() || !spec_.devices.empty())) {
    bindings_->describe(a, scratch_);
    described = &scratch_;
  }
  if ((!spec_.devices.empty() || !spec_.bars.empty()) && !device_matches(a.map_id, a.phys, described)) return false;
  if (!spec_.offsets.empty() && !offset_matches(a.map_id, a.phys, described)) return false;
  if (!spec_.registers.empty() && !register_matches(*described)) return false;
  return true;
}

bool Filter::accepts_unknown(const trace::UnknownRecord& r) {
  if (everything_) return true;
  if (!in_window(r.h.time_ns)) return false;
  // An UNKNOWN has no op, width or register: a filter on those leaves it out.
  if (spec_.op || !spec_.widths.empty() || !spec_.registers.empty()) return false;
  if (!spec_.pids.empty() && !any_of_values(spec_.pids, r.pid)) return false;
  if (!spec_.tids.empty() && !any_of_values(spec_.tids, r.h.tid)) return false;
  if (!spec_.map_ids.empty() && !any_of_values(spec_.map_ids, static_cast<int32_t>(r.map_id))) return false;
  if (!spec_.addresses.empty() && !any_range(spec_.addresses, r.phys)) return false;
  if (!spec_.pcs.empty() && !any_range(spec_.pcs, r.pc)) return false;
  if (!spec_.functions.empty() && !any_range(function_pcs_, r.pc)) return false;
  const int32_t map_id = static_cast<int32_t>(r.map_id);
  if ((!spec_.devices.empty() || !spec_.bars.empty()) && !device_matches(map_id, r.phys, nullptr)) return false;
  if (!spec_.offsets.empty()) {
    uint64_t offset = 0;
    const Binding* b = bindings_ != nullptr ? bindings_->locate(map_id, r.phys, &offset) : nullptr;
    if (b == nullptr) offset = catalog_ != nullptr ? catalog_->locate(map_id, r.phys).offset : r.phys;
    if (!any_range(spec_.offsets, offset)) return false;
  }
  return true;
}

}  // namespace mmiotrace::analysis
