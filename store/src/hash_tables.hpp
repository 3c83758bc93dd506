// Multi-index hashing (Norouzi, Punjani and Fleet, 2012) over 256-bit codes: the code is cut into 16
// chunks of 16 bits, each chunk indexes a table, and a query looks up, in every table, each chunk value
// within f bits of its own (f = 0, 1 or 2, the lookup's choice). Any code within 16 (f + 1) - 1 bits of the
// query (15, 31, 47) has some chunk within f bits of the query's, so every such code is found; farther
// ones only when a chunk is near. At f = 2 a lookup touches 16 x 137 buckets whatever the number of codes
// (16 x 17 at f = 1, 16 at f = 0), and about n / 65536 codes per bucket: at a million PDQ hashes, about 34k
// distances instead of a million per query hash. Each table holds its
// own copy of the codes in bucket order, so a bucket is read as one run of memory: reading the codes in
// place cost a cache miss per candidate (14 ms per search at a million hashes, 2026-12-02), the copies
// cost 16 x 36 bytes per hash.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "neardup/engine/hamming.hpp"

namespace neardup::store::detail {

class HashTables {
public:
    static constexpr int kChunks = 16;
    static constexpr int kMaxFlips = 2;
    // Every code this near is found by a lookup of `flips` bits per chunk: 15, 31, 47.
    static constexpr int exact_radius(int flips) { return kChunks * (flips + 1) - 1; }
    static constexpr int kExactRadius = kChunks * (kMaxFlips + 1) - 1;  // 47
    // The fewest flips whose lookup is exact to `distance` bits (kMaxFlips beyond 47).
    static constexpr int flips_for(int distance) {
        int f = 0;
        while (f < kMaxFlips && exact_radius(f) < distance) ++f;
        return f;
    }

    // Tables over n codes of 32 bytes (rows 0..n-1), copied.
    HashTables(const std::uint8_t* codes, std::size_t n);

    // Offers to `nearest` the rows (as ids[row], or the row when ids is null) of every code that shares a
    // chunk within `flips` bits (0..kMaxFlips) with `query`, each once, with its full distance.
    void search(const std::uint8_t* query, const std::int64_t* ids, NearestK& nearest, int flips = kMaxFlips) const;
    std::size_t bytes() const;

private:
    // Per chunk, rows grouped by chunk value: rows_[c][offsets_[c][v] .. offsets_[c][v + 1]), and their
    // codes in the same order in codes_[c].
    std::array<std::vector<std::uint32_t>, kChunks> offsets_;
    std::array<std::vector<std::uint32_t>, kChunks> rows_;
    std::array<std::vector<std::uint8_t>, kChunks> codes_;
};

}  // namespace neardup::store::detail
