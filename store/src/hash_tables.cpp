#include "hash_tables.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace neardup::store::detail {
namespace {

std::uint16_t chunk(const std::uint8_t* code, int c) {
    return static_cast<std::uint16_t>(code[2 * c] | (code[2 * c + 1] << 8));
}

// The codes of `count` rows offered to `nearest`; a row already kept (met through another chunk) is
// skipped. Compiled for POPCNT and for baseline x86-64, as engine/hamming.
__attribute__((target_clones("popcnt", "default"))) void offer_rows(const std::uint8_t* query, const std::uint8_t* codes,
                                                                     const std::int64_t* ids, const std::uint32_t* rows,
                                                                     std::size_t count, NearestK& nearest) {
    std::uint64_t q[4];
    std::memcpy(q, query, 32);
    for (std::size_t i = 0; i < count; ++i) {
        std::uint64_t c[4];
        std::memcpy(c, codes + static_cast<std::size_t>(rows[i]) * 32, 32);
        const int d = __builtin_popcountll(q[0] ^ c[0]) + __builtin_popcountll(q[1] ^ c[1]) + __builtin_popcountll(q[2] ^ c[2]) +
                      __builtin_popcountll(q[3] ^ c[3]);
        if (d > nearest.worst()) continue;
        const std::int64_t id = ids ? ids[rows[i]] : rows[i];
        if (std::find(nearest.ids, nearest.ids + nearest.k, id) != nearest.ids + nearest.k) continue;
        nearest.push(d, id);
    }
}

}  // namespace

HashTables::HashTables(const std::uint8_t* codes, std::size_t n) {
    if (n >= (std::size_t{1} << 32)) throw std::length_error("HashTables: more than 2^32 codes");
    for (int c = 0; c < kChunks; ++c) {
        auto& offsets = offsets_[c];
        offsets.assign(65537, 0);
        for (std::size_t r = 0; r < n; ++r) ++offsets[chunk(codes + r * 32, c) + 1];
        for (std::size_t v = 1; v < offsets.size(); ++v) offsets[v] += offsets[v - 1];
        auto& rows = rows_[c];
        rows.resize(n);
        std::vector<std::uint32_t> next(offsets.begin(), offsets.end() - 1);
        for (std::size_t r = 0; r < n; ++r) rows[next[chunk(codes + r * 32, c)]++] = static_cast<std::uint32_t>(r);
    }
}

void HashTables::search(const std::uint8_t* query, const std::uint8_t* codes, const std::int64_t* ids, NearestK& nearest) const {
    for (int c = 0; c < kChunks; ++c) {
        const std::uint16_t v = chunk(query, c);
        const auto& offsets = offsets_[c];
        const auto& rows = rows_[c];
        const auto bucket = [&](std::uint16_t value) {
            offer_rows(query, codes, ids, rows.data() + offsets[value], offsets[value + 1] - offsets[value], nearest);
        };
        bucket(v);
        for (int a = 0; a < 16; ++a) {
            const auto va = static_cast<std::uint16_t>(v ^ (1u << a));
            bucket(va);
            for (int b = a + 1; b < 16; ++b) bucket(static_cast<std::uint16_t>(va ^ (1u << b)));
        }
    }
}

}  // namespace neardup::store::detail
