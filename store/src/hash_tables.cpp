#include "hash_tables.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace neardup::store::detail {
namespace {

std::uint16_t chunk(const std::uint8_t* code, int c) {
    return static_cast<std::uint16_t>(code[2 * c] | (code[2 * c + 1] << 8));
}

// `count` rows with their codes (in the same order) offered to `nearest`; a row already kept (met through
// another chunk) is skipped. The distances come from engine's wide scan, a block at a time.
void offer_rows(const std::uint8_t* query, const std::uint8_t* codes, const std::int64_t* ids, const std::uint32_t* rows,
                std::size_t count, NearestK& nearest) {
    constexpr std::size_t kBlock = 256;
    std::uint16_t distances[kBlock];
    for (std::size_t first = 0; first < count; first += kBlock) {
        const std::size_t n = std::min(kBlock, count - first);
        hamming_distances32(query, codes + first * 32, n, distances);
        for (std::size_t i = 0; i < n; ++i) {
            const int d = distances[i];
            if (d > nearest.worst()) continue;
            const std::uint32_t row = rows[first + i];
            const std::int64_t id = ids ? ids[row] : row;
            if (std::find(nearest.ids, nearest.ids + nearest.k, id) != nearest.ids + nearest.k) continue;
            nearest.push(d, id);
        }
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
        auto& copies = codes_[c];
        copies.resize(n * 32);
        std::vector<std::uint32_t> next(offsets.begin(), offsets.end() - 1);
        for (std::size_t r = 0; r < n; ++r) {
            const std::uint32_t at = next[chunk(codes + r * 32, c)]++;
            rows[at] = static_cast<std::uint32_t>(r);
            std::memcpy(copies.data() + static_cast<std::size_t>(at) * 32, codes + r * 32, 32);
        }
    }
}

std::size_t HashTables::bytes() const {
    std::size_t b = 0;
    for (int c = 0; c < kChunks; ++c) b += offsets_[c].size() * 4 + rows_[c].size() * 4 + codes_[c].size();
    return b;
}

void HashTables::search(const std::uint8_t* query, const std::int64_t* ids, NearestK& nearest) const {
    for (int c = 0; c < kChunks; ++c) {
        const std::uint16_t v = chunk(query, c);
        const auto& offsets = offsets_[c];
        const auto& rows = rows_[c];
        const auto& codes = codes_[c];
        const auto bucket = [&](std::uint16_t value) {
            const std::uint32_t first = offsets[value];
            offer_rows(query, codes.data() + static_cast<std::size_t>(first) * 32, ids, rows.data() + first, offsets[value + 1] - first, nearest);
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
