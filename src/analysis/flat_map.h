// FlatIndex: a hash table from small keys to dense indexes (0, 1, 2, ... in
// the order keys are first seen), open addressing with linear probing, for
// the per-access lookups of `stats` (registers, sites, threads, processes):
// std::unordered_map's node per entry and its modulo cost several times more
// per lookup, and `stats` makes several lookups per access. (A cache of the
// keys found last cost more than it saved: accesses alternate between registers.)
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
    const size_t mask = slots_.size() - 1;
    for (size_t i = Hash()(key) >> shift_;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.index != 0 && s.key == key) return s.index - 1;
      if (s.index == 0) {
        if ((count_ + 1) * 4 > slots_.size() * 3) {  // keep it at most 3/4 full
          grow();
          return find_or_add(key, added);
        }
        s.key = key;
        s.index = ++count_;
        *added = true;
        return s.index - 1;
      }
    }
  }
  uint32_t size() const { return count_; }

 private:
  struct Slot {
    Key key{};
    uint32_t index = 0;  // 1 + the key's index; 0: empty
  };
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
};

// FlatSet64: a set of 64-bit values, open addressing with linear probing
// (the distinct values `stats` keeps per register: a lookup per access
// whose value changed, where std::unordered_set costs a modulo and a node).
class FlatSet64 {
 public:
  FlatSet64() : slots_(16), shift_(64 - 4) {}
  bool contains(uint64_t v) const {
    if (v == 0) return has_zero_;
    const size_t mask = slots_.size() - 1;
    for (size_t i = mix64(v) >> shift_;; i = (i + 1) & mask) {
      if (slots_[i] == v) return true;
      if (slots_[i] == 0) return false;
    }
  }
  void insert(uint64_t v) {
    if (v == 0) {
      has_zero_ = true;
      return;
    }
    if ((count_ + 1) * 4 > slots_.size() * 3) grow();
    const size_t mask = slots_.size() - 1;
    for (size_t i = mix64(v) >> shift_;; i = (i + 1) & mask) {
      if (slots_[i] == v) return;
      if (slots_[i] == 0) {
        slots_[i] = v;
        ++count_;
        return;
      }
    }
  }

 private:
  void grow() {
    std::vector<uint64_t> old;
    old.swap(slots_);
    slots_.assign(old.size() * 2, 0);
    --shift_;
    count_ = 0;
    for (uint64_t v : old) {
      if (v != 0) insert(v);
    }
  }
  std::vector<uint64_t> slots_;  // 0: empty (the value 0 is has_zero_)
  unsigned shift_;
  size_t count_ = 0;
  bool has_zero_ = false;
};

}  // namespace mmiotrace::analysis
