// FlatIndex: a hash table from small keys to dense indexes (0, 1, 2, ... in
// the order keys are first seen), open addressing with linear probing, for
// the per-access lookups of `stats` (registers, sites, threads, processes):
// std::unordered_map's node per entry and its modulo cost several times more
// per lookup, and `stats` makes several lookups per access. The two keys
// found last are checked first: accesses come in runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mmiotrace::analysis {

// Fibonacci hashing: the high bits of key * 2^64/phi.
inline uint64_t mix64(uint64_t x) { return x * 0x9e3779b97f4a7c15ull; }

template <typename Key, typename Hash>
class FlatIndex {
 public:
  FlatIndex() : slots_(16), shift_(64 - 4) {}

  // The index of `key`; a new one (size() before the call) if it was not
  // there, with *added set.
  inline uint32_t find_or_add(const Key& key, bool* added) {
    *added = false;
    if (recent_[0].index != 0 && recent_[0].key == key) return recent_[0].index - 1;
    if (recent_[1].index != 0 && recent_[1].key == key) {
      std::swap(recent_[0], recent_[1]);
      return recent_[0].index - 1;
    }
    const size_t mask = slots_.size() - 1;
    for (size_t i = Hash()(key) >> shift_;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.index != 0 && s.key == key) return remember(s);
      if (s.index == 0) {
        if ((count_ + 1) * 4 > slots_.size() * 3) {  // keep it at most 3/4 full
          grow();
          return find_or_add(key, added);
        }
        s.key = key;
        s.index = ++count_;
        *added = true;
        return remember(s);
      }
    }
  }
  uint32_t size() const { return count_; }

 private:
  struct Slot {
    Key key{};
    uint32_t index = 0;  // 1 + the key's index; 0: empty
  };
  uint32_t remember(const Slot& s) {
    recent_[1] = recent_[0];
    recent_[0] = s;
    return s.index - 1;
  }
  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.size() * 2, Slot{});
    --shift_;
    const size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.index == 0) continue;
      size_t i = Hash()(s.key) >> shift_;
      while (slots_[i].index != 0) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }
  std::vector<Slot> slots_;
  unsigned shift_;
  uint32_t count_ = 0;
  Slot recent_[2];
};

}  // namespace mmiotrace::analysis
