#include "analysis/diff.h"

#include <fnmatch.h>

#include <algorithm>

#include "analysis/change.h"
#include "analysis/myers.h"

namespace mmiotrace::analysis {

namespace {

bool glob(const std::string& pattern, const std::string& text) {
  return fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

// The register's name without its index ("RAL" for "RAL[3]") too, so that
// "RAL" ignores every element.
std::string without_index(const std::string& name) {
  const size_t bracket = name.find('[');
  return bracket == std::string::npos ? name : name.substr(0, bracket);
}

uint64_t width_mask(unsigned bytes) { return bytes >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * bytes)) - 1; }

}  // namespace

DiffKeys::~DiffKeys() = default;

int64_t DiffKeys::key(char op, const std::string& label, const std::string& name, unsigned width, int side,
                      const Register* reg, unsigned byte, const Binding* binding) {
  auto [it, added] = ids_.try_emplace(std::tuple{op, label, name, width}, static_cast<int64_t>(keys_.size()));
  if (added) {
    const std::string full = label.empty() ? name : label + " " + name;
    for (const std::string& p : options_.ignore_registers) {
      if (glob(p, name) || glob(p, full) || glob(p, without_index(name))) {
        it->second = -1;
        return -1;
      }
    }
    Key k;
    k.op = op;
    k.label = label;
    k.name = name;
    k.width = width;
    k.byte = byte;
    if (reg != nullptr) {
      for (const std::string& p : options_.ignore_fields) {
        const size_t dot = p.rfind('.');
        if (dot == std::string::npos) continue;
        const std::string rp = p.substr(0, dot), fp = p.substr(dot + 1);
        if (!glob(rp, name) && !glob(rp, without_index(name)) && !glob(rp, full)) continue;
        for (const Field& f : reg->fields) {
          if (!f.name.empty() && glob(fp, f.name)) k.ignored |= f.mask() >> (8 * byte);
        }
      }
      k.ignored &= width_mask(width);
    }
    keys_.push_back(std::move(k));
  }
  if (it->second >= 0) {
    Key& k = keys_[static_cast<size_t>(it->second)];
    if (k.reg[side] == nullptr) {
      k.reg[side] = reg;
      k.binding[side] = binding;
    }
  }
  return it->second;
}

uint32_t DiffKeys::token(uint32_t key, bool known, uint64_t value) {
  if (options_.ignore_values) known = false;
  const uint64_t compared = known ? value & ~keys_[key].ignored : 0;
  auto [it, added] = tokens_.try_emplace(std::tuple{key, known, compared}, static_cast<uint32_t>(tokens_.size()));
  return it->second;
}

DiffSide::DiffSide(DiffKeys& keys, int side, const DiffOptions& options, const DeviceCatalog* devices)
    : keys_(keys), side_(side), options_(options), devices_(devices) {}

void DiffSide::add(const Access& a, uint32_t key, bool known, uint64_t value) {
  const uint32_t token = keys_.token(key, known, value);
  if (!a.is_write() && !options_.count_polls && !events_.empty() && events_.back().token == token &&
      keys_.at(key).op == 'R') {
    events_.back().repeat++;
    return;
  }
  DiffEvent e;
  e.key = key;
  e.token = token;
  e.value = value;
  e.known = known;
  e.seq = a.seq;
  e.time_ns = a.time_ns;
  e.pc = a.pc;
  e.pid = a.pid;
  events_.push_back(e);
}

void DiffSide::on_access(const Access& a, const AccessDescription* described) {
  ++accesses_;
  const char op = a.is_write() ? 'W' : 'R';
  if (described != nullptr && described->binding != nullptr) {
    for (const RegisterPart& part : described->parts) {
      fmt::memory_buffer name;
      const Register* reg = nullptr;
      unsigned byte = 0;
      if (part.hit) {
        format_register_name(*described->binding->map, *part.hit, name);
        if (part.hit->reg->kind == RegKind::REGISTER) reg = part.hit->reg;
        byte = static_cast<unsigned>(part.hit->byte);
      } else {
        fmt::format_to(fmt::appender(name), "+{:#x}", part.offset);
      }
      const int64_t key = keys_.key(op, described->binding->label, fmt::to_string(name), part.nbytes, side_, reg, byte,
                                    described->binding);
      if (key >= 0) add(a, static_cast<uint32_t>(key), part.value_known, part.value);
    }
    return;
  }
  std::string name;
  const DeviceLocation at = devices_ != nullptr ? devices_->locate(a.map_id, a.phys) : DeviceLocation{};
  if (at.device != nullptr) {
    name = at.bar >= 0 ? fmt::format("{} BAR{}+{:#x}", pci_address(at.device->busdevfn), at.bar, at.offset)
                       : fmt::format("{}+{:#x}", pci_address(at.device->busdevfn), at.offset);
  } else if (devices_ != nullptr && devices_->mapping(a.map_id) != nullptr) {
    name = fmt::format("map {}+{:#x}", a.map_id, at.offset);
  } else {
    name = fmt::format("{:#x}", a.phys);
  }
  const bool known = a.value_known() && a.width <= 8;
  const int64_t key = keys_.key(op, "", name, a.width, side_, nullptr, 0, nullptr);
  if (key >= 0) add(a, static_cast<uint32_t>(key), known, known ? a.value_bits(0, a.width) : 0);
}

namespace {

using Out = fmt::memory_buffer;

// "R e1000 STATUS => FD | LU x 3".
void put_event(const DiffKeys& keys, int side, const DiffEvent& e, Out& out) {
  const DiffKeys::Key& k = keys.at(e.key);
  fmt::format_to(fmt::appender(out), "{} {}", k.op, k.full_name());
  if (!e.known) {
    out.append(std::string_view(k.op == 'W' ? " <= ?" : " => ?"));
  } else {
    out.append(std::string_view(k.op == 'W' ? " <= " : " => "));
    if (k.reg[side] != nullptr) {
      DecodedValue d;
      decode_value(*k.reg[side], e.value, k.byte, k.width, k.binding[side]->variant, d);
      format_decoded(d, out);
    } else {
      fmt::format_to(fmt::appender(out), "{:#x}", e.value);
    }
  }
  if (e.repeat > 1) fmt::format_to(fmt::appender(out), " x {}", e.repeat);
}

std::string event_text(const DiffKeys& keys, int side, const DiffEvent& e) {
  Out out;
  put_event(keys, side, e, out);
  return fmt::to_string(out);
}

struct Line {
  char mark;  // ' ', '-', '+', '~'
  const DiffEvent* a = nullptr;
  const DiffEvent* b = nullptr;
};

class Writer {
 public:
  Writer(const DiffKeys& keys, DiffResult& result, Out& out) : keys_(keys), result_(result), out_(out) {}

  void line(const Line& l) {
    if (l.mark == ' ' || l.mark == '-') {
      put_event(keys_, 0, *l.a, out_);
    } else if (l.mark == '+') {
      put_event(keys_, 1, *l.b, out_);
    }
    if (l.mark == '~') {
      const DiffKeys::Key& k = keys_.at(l.a->key);
      fmt::format_to(fmt::appender(out_), "{} {}: A{}  B{}", k.op, k.full_name(), value_part(0, *l.a),
                     value_part(1, *l.b));
      if (l.a->known && l.b->known) {
        const std::string what = describe_change(k.reg[0], k.binding[0] != nullptr ? k.binding[0]->variant : -1, k.byte,
                                                 l.a->value, l.b->value);
        if (!what.empty()) fmt::format_to(fmt::appender(out_), "  ({})", what);
      }
    }
    std::string where;
    if (l.a != nullptr) where += fmt::format("A #{}", l.a->seq);
    if (l.b != nullptr) where += fmt::format("{}B #{}", where.empty() ? "" : " ", l.b->seq);
    fmt::format_to(fmt::appender(out_), "  [{}]\n", where);
    if (l.mark == ' ') return;
    const DiffKeys::Key& k = keys_.at((l.a != nullptr ? l.a : l.b)->key);
    if (l.mark == '-') result_.only_a += 1;
    if (l.mark == '+') result_.only_b += 1;
    if (l.mark == '~') result_.changed += 1;
    const std::string name = k.full_name();
    if (std::find(result_.registers.begin(), result_.registers.end(), name) == result_.registers.end())
      result_.registers.push_back(name);
  }

 private:
  std::string value_part(int side, const DiffEvent& e) const {
    std::string s = event_text(keys_, side, e);
    const size_t arrow = s.find(keys_.at(e.key).op == 'W' ? " <= " : " => ");
    return arrow == std::string::npos ? s : s.substr(arrow);
  }
  const DiffKeys& keys_;
  DiffResult& result_;
  Out& out_;
};

// The lines of one run of deletions and insertions: a deleted and an
// inserted event of the same register pair up (in order) as "changed".
void pair_up(const std::vector<const DiffEvent*>& dels, const std::vector<const DiffEvent*>& ins,
             std::vector<Line>& lines) {
  size_t j = 0;
  for (const DiffEvent* del : dels) {
    size_t k = j;
    while (k < ins.size() && ins[k]->key != del->key) ++k;
    if (k == ins.size()) {
      lines.push_back(Line{'-', del, nullptr});
      continue;
    }
    for (; j < k; ++j) lines.push_back(Line{'+', nullptr, ins[j]});
    lines.push_back(Line{'~', del, ins[k]});
    j = k + 1;
  }
  for (; j < ins.size(); ++j) lines.push_back(Line{'+', nullptr, ins[j]});
}

}  // namespace

DiffResult diff_sides(const DiffKeys& keys, const DiffSide& a, const DiffSide& b, const DiffOptions& options,
                      const std::string& a_name, const std::string& b_name, Out& out) {
  std::vector<uint32_t> ta, tb;
  for (const DiffEvent& e : a.events()) ta.push_back(e.token);
  for (const DiffEvent& e : b.events()) tb.push_back(e.token);
  const std::vector<Edit> edits = myers_diff(ta, tb);

  // Every event as a line, in order.
  std::vector<Line> lines;
  std::vector<const DiffEvent*> dels, ins;
  auto flush = [&] {
    pair_up(dels, ins, lines);
    dels.clear();
    ins.clear();
  };
  for (const Edit& e : edits) {
    for (size_t i = 0; i < e.n; ++i) {
      if (e.kind == Edit::Kind::EQUAL) {
        flush();
        lines.push_back(Line{' ', &a.events()[e.a + i], &b.events()[e.b + i]});
      } else if (e.kind == Edit::Kind::DELETE) {
        dels.push_back(&a.events()[e.a + i]);
      } else {
        ins.push_back(&b.events()[e.b + i]);
      }
    }
  }
  flush();

  DiffResult result;
  fmt::format_to(fmt::appender(out), "--- A {}\n+++ B {}\n", a_name, b_name);
  Writer writer(keys, result, out);
  const size_t ctx = options.context;
  size_t i = 0;
  while (i < lines.size()) {
    if (lines[i].mark == ' ') {
      ++i;
      continue;
    }
    // A hunk: from `ctx` lines before this difference to `ctx` after the last
    // difference that is at most 2*ctx equal lines from the next.
    const size_t start = i >= ctx ? i - ctx : 0;
    size_t end = i;
    for (size_t k = i; k < lines.size(); ++k) {
      if (lines[k].mark != ' ') {
        end = k;
      } else if (k - end > 2 * ctx) {
        break;
      }
    }
    const size_t stop = std::min(lines.size(), end + ctx + 1);
    const DiffEvent* fa = nullptr;
    const DiffEvent* fb = nullptr;
    for (size_t k = start; k < stop && (fa == nullptr || fb == nullptr); ++k) {
      if (fa == nullptr) fa = lines[k].a;
      if (fb == nullptr) fb = lines[k].b;
    }
    out.append(std::string_view("@@"));
    if (fa != nullptr) fmt::format_to(fmt::appender(out), " A #{}", fa->seq);
    if (fb != nullptr) fmt::format_to(fmt::appender(out), " B #{}", fb->seq);
    out.append(std::string_view(" @@\n"));
    for (size_t k = start; k < stop; ++k) {
      out.push_back(lines[k].mark);
      out.push_back(' ');
      writer.line(lines[k]);
    }
    i = stop;
  }
  fmt::format_to(fmt::appender(out), "# {} register accesses in A, {} in B: ", a.events().size(), b.events().size());
  if (result.same()) {
    out.append(std::string_view("the same\n"));
  } else {
    fmt::format_to(fmt::appender(out),
                   "{} only in A, {} only in B, {} with another value; registers that differ:", result.only_a,
                   result.only_b, result.changed);
    for (const std::string& r : result.registers) fmt::format_to(fmt::appender(out), " {}", r);
    out.push_back('\n');
  }
  return result;
}

}  // namespace mmiotrace::analysis
