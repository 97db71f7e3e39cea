// myers_diff (src/analysis/myers.h): the edit script is minimal (its length
// equals what the textbook LCS table gives) and turns A into B, on random
// sequences of every shape.
#include "analysis/myers.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace mmiotrace::analysis {
namespace {

size_t lcs(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  std::vector<std::vector<size_t>> t(a.size() + 1, std::vector<size_t>(b.size() + 1, 0));
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      t[i][j] = a[i - 1] == b[j - 1] ? t[i - 1][j - 1] + 1 : std::max(t[i - 1][j], t[i][j - 1]);
    }
  }
  return t[a.size()][b.size()];
}

TEST(Myers, MinimalAndCorrectOnRandomSequences) {
  std::mt19937 rng(20240601);
  for (int round = 0; round < 2000; ++round) {
    const unsigned alphabet = 1 + rng() % 6;
    std::vector<uint32_t> a(rng() % 40), b(rng() % 40);
    for (auto& x : a) x = rng() % alphabet;
    if (round % 3 == 0) {
      b = a;  // similar sequences: a few edits
      for (int k = rng() % 4; k > 0 && !b.empty(); --k) b[rng() % b.size()] = rng() % alphabet;
      if (rng() % 2 && !b.empty()) b.erase(b.begin() + static_cast<long>(rng() % b.size()));
    } else {
      for (auto& x : b) x = rng() % alphabet;
    }
    const std::vector<Edit> edits = myers_diff(a, b);
    std::vector<uint32_t> rebuilt;
    size_t deleted = 0, inserted = 0, pa = 0, pb = 0;
    for (const Edit& e : edits) {
      ASSERT_GT(e.n, 0u);
      if (e.kind == Edit::Kind::EQUAL) {
        ASSERT_EQ(e.a, pa);
        ASSERT_EQ(e.b, pb);
        for (size_t i = 0; i < e.n; ++i) {
          ASSERT_EQ(a[e.a + i], b[e.b + i]);
          rebuilt.push_back(a[e.a + i]);
        }
        pa += e.n;
        pb += e.n;
      } else if (e.kind == Edit::Kind::DELETE) {
        ASSERT_EQ(e.a, pa);
        pa += e.n;
        deleted += e.n;
      } else {
        ASSERT_EQ(e.b, pb);
        for (size_t i = 0; i < e.n; ++i) rebuilt.push_back(b[e.b + i]);
        pb += e.n;
        inserted += e.n;
      }
    }
    ASSERT_EQ(pa, a.size());
    ASSERT_EQ(pb, b.size());
    ASSERT_EQ(rebuilt, b);
    const size_t common = lcs(a, b);
    ASSERT_EQ(deleted, a.size() - common) << "round " << round;
    ASSERT_EQ(inserted, b.size() - common) << "round " << round;
  }
}

}  // namespace
}  // namespace mmiotrace::analysis
