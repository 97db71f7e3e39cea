#include "analysis/myers.h"

#include <cstddef>

namespace mmiotrace::analysis {

namespace {

using Seq = std::span<const uint32_t>;

class Differ {
 public:
  Differ(Seq a, Seq b) : a_(a), b_(b) {}

  std::vector<Edit> run() {
    diff(0, a_.size(), 0, b_.size());
    return std::move(edits_);
  }

 private:
  void emit(Edit::Kind kind, size_t a, size_t b, size_t n) {
    if (n == 0) return;
    if (!edits_.empty() && edits_.back().kind == kind) {
      Edit& last = edits_.back();
      if ((kind == Edit::Kind::EQUAL && last.a + last.n == a && last.b + last.n == b) ||
          (kind == Edit::Kind::DELETE && last.a + last.n == a) ||
          (kind == Edit::Kind::INSERT && last.b + last.n == b)) {
        last.n += n;
        return;
      }
    }
    edits_.push_back(Edit{kind, a, b, n});
  }

  // a[a0, a1) against b[b0, b1).
  void diff(size_t a0, size_t a1, size_t b0, size_t b1) {
    size_t prefix = 0;
    while (a0 + prefix < a1 && b0 + prefix < b1 && a_[a0 + prefix] == b_[b0 + prefix]) ++prefix;
    emit(Edit::Kind::EQUAL, a0, b0, prefix);
    a0 += prefix;
    b0 += prefix;
    size_t suffix = 0;
    while (a1 - suffix > a0 && b1 - suffix > b0 && a_[a1 - suffix - 1] == b_[b1 - suffix - 1]) ++suffix;
    a1 -= suffix;
    b1 -= suffix;
    if (a0 == a1) {
      emit(Edit::Kind::INSERT, a0, b0, b1 - b0);
    } else if (b0 == b1) {
      emit(Edit::Kind::DELETE, a0, b0, a1 - a0);
    } else {
      bisect(a0, a1, b0, b1);
    }
    emit(Edit::Kind::EQUAL, a1, b1, suffix);
  }

  // Finds where the forward and the reverse D-paths meet and diffs the two
  // halves on either side of that point.
  void bisect(size_t a0, size_t a1, size_t b0, size_t b1) {
    const auto n = static_cast<ptrdiff_t>(a1 - a0);
    const auto m = static_cast<ptrdiff_t>(b1 - b0);
    const ptrdiff_t max_d = (n + m + 1) / 2;
    const ptrdiff_t offset = max_d;
    const ptrdiff_t length = 2 * max_d + 2;
    std::vector<ptrdiff_t> v1(static_cast<size_t>(length), -1), v2(static_cast<size_t>(length), -1);
    v1[static_cast<size_t>(offset + 1)] = 0;
    v2[static_cast<size_t>(offset + 1)] = 0;
    const ptrdiff_t delta = n - m;
    const bool front = (delta % 2) != 0;
    ptrdiff_t k1start = 0, k1end = 0, k2start = 0, k2end = 0;
    auto A = [&](ptrdiff_t i) { return a_[a0 + static_cast<size_t>(i)]; };
    auto B = [&](ptrdiff_t i) { return b_[b0 + static_cast<size_t>(i)]; };
    for (ptrdiff_t d = 0; d < max_d; ++d) {
      for (ptrdiff_t k1 = -d + k1start; k1 <= d - k1end; k1 += 2) {
        const auto k1o = static_cast<size_t>(offset + k1);
        ptrdiff_t x1 = (k1 == -d || (k1 != d && v1[k1o - 1] < v1[k1o + 1])) ? v1[k1o + 1] : v1[k1o - 1] + 1;
        ptrdiff_t y1 = x1 - k1;
        while (x1 < n && y1 < m && A(x1) == B(y1)) ++x1, ++y1;
        v1[k1o] = x1;
        if (x1 > n) {
          k1end += 2;
        } else if (y1 > m) {
          k1start += 2;
        } else if (front) {
          const ptrdiff_t k2o = offset + delta - k1;
          if (k2o >= 0 && k2o < length && v2[static_cast<size_t>(k2o)] != -1 &&
              x1 >= n - v2[static_cast<size_t>(k2o)]) {
            return split(a0, a1, b0, b1, static_cast<size_t>(x1), static_cast<size_t>(y1));
          }
        }
      }
      for (ptrdiff_t k2 = -d + k2start; k2 <= d - k2end; k2 += 2) {
        const auto k2o = static_cast<size_t>(offset + k2);
        ptrdiff_t x2 = (k2 == -d || (k2 != d && v2[k2o - 1] < v2[k2o + 1])) ? v2[k2o + 1] : v2[k2o - 1] + 1;
        ptrdiff_t y2 = x2 - k2;
        while (x2 < n && y2 < m && A(n - x2 - 1) == B(m - y2 - 1)) ++x2, ++y2;
        v2[k2o] = x2;
        if (x2 > n) {
          k2end += 2;
        } else if (y2 > m) {
          k2start += 2;
        } else if (!front) {
          const ptrdiff_t k1o = offset + delta - k2;
          if (k1o >= 0 && k1o < length && v1[static_cast<size_t>(k1o)] != -1) {
            const ptrdiff_t x1 = v1[static_cast<size_t>(k1o)];
            const ptrdiff_t y1 = offset + x1 - k1o;
            if (x1 >= n - x2) return split(a0, a1, b0, b1, static_cast<size_t>(x1), static_cast<size_t>(y1));
          }
        }
      }
    }
    // Nothing in common.
    emit(Edit::Kind::DELETE, a0, b0, a1 - a0);
    emit(Edit::Kind::INSERT, a1, b0, b1 - b0);
  }

  void split(size_t a0, size_t a1, size_t b0, size_t b1, size_t x, size_t y) {
    diff(a0, a0 + x, b0, b0 + y);
    diff(a0 + x, a1, b0 + y, b1);
  }

  Seq a_, b_;
  std::vector<Edit> edits_;
};

}  // namespace

std::vector<Edit> myers_diff(Seq a, Seq b) { return Differ(a, b).run(); }

}  // namespace mmiotrace::analysis
