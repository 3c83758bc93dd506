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

void HashTables::search(const std::uint8_t* query, const std::int64_t* ids, NearestK& nearest, int flips) const {
    if (flips < 0 || flips > kMaxFlips) throw std::invalid_argument("HashTables::search: flips must be in [0, 2]");
    // Buckets sit at random places of tables far larger than the caches, so a lookup is bound by memory
    // latency, not by the distances: every bucket's range is read first (independent loads that the CPU
    // overlaps), then the buckets are scanned, the first cache lines of the codes and rows of the bucket a
    // few places ahead prefetched.
    static_assert(kMaxFlips == 2, "the bucket list below enumerates values within 2 bits of the chunk");
    constexpr int kPerChunk = 1 + 16 + 16 * 15 / 2;  // the value itself, 1 and 2 bits flipped: 137
    constexpr int kAhead = 4;
    struct Bucket {
        std::uint32_t first, end;
        int chunk;
    };
    std::array<Bucket, kChunks * kPerChunk> buckets;
    std::size_t n = 0;
    for (int c = 0; c < kChunks; ++c) {
        const std::uint16_t v = chunk(query, c);
        const auto& offsets = offsets_[c];
        const auto add = [&](std::uint16_t value) { buckets[n++] = {offsets[value], offsets[value + 1u], c}; };
        add(v);
        if (flips == 0) continue;
        for (int a = 0; a < 16; ++a) {
            const auto va = static_cast<std::uint16_t>(v ^ (1u << a));
            add(va);
            if (flips == 1) continue;
            for (int b = a + 1; b < 16; ++b) add(static_cast<std::uint16_t>(va ^ (1u << b)));
        }
    }
    const auto prefetch = [&](const Bucket& b) {
        if (b.first == b.end) return;
        __builtin_prefetch(codes_[b.chunk].data() + static_cast<std::size_t>(b.first) * 32);
        __builtin_prefetch(rows_[b.chunk].data() + b.first);
    };
    for (std::size_t i = 0; i < std::min<std::size_t>(kAhead, n); ++i) prefetch(buckets[i]);
    for (std::size_t i = 0; i < n; ++i) {
        if (i + kAhead < n) prefetch(buckets[i + kAhead]);
        const Bucket& b = buckets[i];
        if (b.first == b.end) continue;
        offer_rows(query, codes_[b.chunk].data() + static_cast<std::size_t>(b.first) * 32, ids, rows_[b.chunk].data() + b.first,
                   b.end - b.first, nearest);
    }
}

}  // namespace neardup::store::detail
