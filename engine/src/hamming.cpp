#include "neardup/engine/hamming.hpp"
#include "neardup/engine/popcnt_clones.hpp"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#define NEARDUP_WIDE_POPCOUNT 1
#include <immintrin.h>
#else
#define NEARDUP_WIDE_POPCOUNT 0
#endif

namespace neardup {
namespace {

// Inlined into each clone, so each gets its own popcount instructions.
inline __attribute__((always_inline)) int distance32(const std::uint8_t* a, const std::uint8_t* b) {
    std::uint64_t x[4], y[4];
    std::memcpy(x, a, 32);
    std::memcpy(y, b, 32);
    return __builtin_popcountll(x[0] ^ y[0]) + __builtin_popcountll(x[1] ^ y[1]) + __builtin_popcountll(x[2] ^ y[2]) +
           __builtin_popcountll(x[3] ^ y[3]);
}

}  // namespace

NearestK::NearestK(int k_, std::int32_t* distances_, std::int64_t* ids_) : k(k_), distances(distances_), ids(ids_) {
    std::fill(distances, distances + k, INT32_MAX);
    std::fill(ids, ids + k, -1);
}

void NearestK::push(std::int32_t distance, std::int64_t id) {
    if (distance > distances[k - 1] || (distance == distances[k - 1] && ids[k - 1] >= 0 && id >= ids[k - 1])) return;
    int i = k - 1;
    while (i > 0 && (distances[i - 1] > distance || (distances[i - 1] == distance && ids[i - 1] > id))) {
        distances[i] = distances[i - 1];
        ids[i] = ids[i - 1];
        --i;
    }
    distances[i] = distance;
    ids[i] = id;
}

namespace detail {

NEARDUP_POPCNT_CLONES
void scan_hamming32_portable(const std::uint8_t* query, const std::uint8_t* codes, const std::int64_t* ids, std::size_t n,
                             NearestK& nearest, std::size_t first) {
    for (std::size_t j = first; j < n; ++j) {
        const int d = distance32(query, codes + j * kBinaryDescriptorBytes);
        if (d <= nearest.worst()) nearest.push(d, ids ? ids[j] : static_cast<std::int64_t>(j));
    }
}

NEARDUP_POPCNT_CLONES
void hamming_distances32_portable(const std::uint8_t* query, const std::uint8_t* codes, std::size_t n, std::uint16_t* out,
                                  std::size_t first) {
    for (std::size_t j = first; j < n; ++j) out[j] = static_cast<std::uint16_t>(distance32(query, codes + j * kBinaryDescriptorBytes));
}

#if NEARDUP_WIDE_POPCOUNT
// GCC 12's AVX-512 headers start some intrinsics from an "undefined" vector, which its flow analysis reports
// as uninitialised once inlined here.
#if !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define NEARDUP_WIDE_TARGET __attribute__((target("avx512f,avx512vl,avx512bw,avx512vpopcntdq")))
// The distances of eight codes to the broadcast query `q`: four 512-bit loads of two codes each, XOR,
// VPOPCNTQ, then the four 64-bit counts of each code summed by two rounds of lane shuffles. The counts come
// out in the order j, j+2, j+1, j+3, j+4, j+6, j+5, j+7 (kWideRow).
constexpr int kWideRow[8] = {0, 2, 1, 3, 4, 6, 5, 7};
NEARDUP_WIDE_TARGET inline __attribute__((always_inline)) __m512i eight_distances(const std::uint8_t* c, __m512i q) {
    const __m512i p0 = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(c), q));
    const __m512i p1 = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(c + 64), q));
    const __m512i p2 = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(c + 128), q));
    const __m512i p3 = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(c + 192), q));
    // Per 128-bit lane, pairs of words summed: (p0's, p1's), then (p2's, p3's)...
    const __m512i s01 = _mm512_add_epi64(_mm512_unpacklo_epi64(p0, p1), _mm512_unpackhi_epi64(p0, p1));
    const __m512i s23 = _mm512_add_epi64(_mm512_unpacklo_epi64(p2, p3), _mm512_unpackhi_epi64(p2, p3));
    // ...then the two halves of each code: lanes 0 and 2 plus lanes 1 and 3 of each.
    return _mm512_add_epi64(_mm512_shuffle_i64x2(s01, s23, 0x88), _mm512_shuffle_i64x2(s01, s23, 0xDD));
}

// Eight codes per step; only those within the current k-th distance are offered (NearestK's result does not
// depend on the order of offers).
NEARDUP_WIDE_TARGET void scan_hamming32_wide(const std::uint8_t* query, const std::uint8_t* codes, const std::int64_t* ids,
                                             std::size_t n, NearestK& nearest) {
    const __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(query)));
    std::size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m512i d = eight_distances(codes + j * kBinaryDescriptorBytes, q);
        unsigned mask = _mm512_cmple_epu64_mask(d, _mm512_set1_epi64(nearest.worst()));
        if (!mask) continue;
        alignas(64) std::uint64_t dist[8];
        _mm512_store_si512(dist, d);
        for (; mask; mask &= mask - 1) {
            const int lane = __builtin_ctz(mask);
            const int distance = static_cast<int>(dist[lane]);
            const std::size_t row = j + static_cast<std::size_t>(kWideRow[lane]);
            if (distance <= nearest.worst()) nearest.push(distance, ids ? ids[row] : static_cast<std::int64_t>(row));
        }
    }
    scan_hamming32_portable(query, codes, ids, n, nearest, j);  // the last n % 8 rows
}

// Eight distances per step, put back in row order (kWideRow is its own inverse) and narrowed to 16 bits.
NEARDUP_WIDE_TARGET void hamming_distances32_wide(const std::uint8_t* query, const std::uint8_t* codes, std::size_t n,
                                                  std::uint16_t* out) {
    const __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(query)));
    const __m512i order = _mm512_setr_epi64(0, 2, 1, 3, 4, 6, 5, 7);
    std::size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m512i d = _mm512_permutexvar_epi64(order, eight_distances(codes + j * kBinaryDescriptorBytes, q));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + j), _mm512_cvtepi64_epi16(d));
    }
    hamming_distances32_portable(query, codes, n, out, j);  // the last n % 8 rows
}
#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

bool wide_popcount_supported() {
#if NEARDUP_WIDE_POPCOUNT
    static const bool supported = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                                  __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vpopcntdq");
    return supported;
#else
    return false;
#endif
}

namespace {
std::atomic<bool> wide_allowed{true};
}

void allow_wide_popcount(bool allowed) { wide_allowed.store(allowed, std::memory_order_relaxed); }

}  // namespace detail

namespace {

// Whether the scans take their eight-per-step paths now: the CPU has them and no benchmark turned them off.
[[maybe_unused]] bool wide_in_use() {
    return detail::wide_popcount_supported() && detail::wide_allowed.load(std::memory_order_relaxed);
}

// Offers row `row` at distance `d` to the two nearest so far (ties keep the lower row, offered first).
inline __attribute__((always_inline)) void keep_two(TwoNearest& best, int d, std::size_t row) {
    if (d < best.distance) {
        best.second = best.distance;
        best.distance = d;
        best.index = static_cast<int>(row);
    } else if (d < best.second) {
        best.second = d;
    }
}

}  // namespace

void scan_hamming32(const std::uint8_t* query, const std::uint8_t* codes, const std::int64_t* ids, std::size_t n, NearestK& nearest) {
#if NEARDUP_WIDE_POPCOUNT
    if (wide_in_use()) return detail::scan_hamming32_wide(query, codes, ids, n, nearest);
#endif
    detail::scan_hamming32_portable(query, codes, ids, n, nearest, 0);
}

void hamming_distances32(const std::uint8_t* query, const std::uint8_t* codes, std::size_t n, std::uint16_t* out) {
#if NEARDUP_WIDE_POPCOUNT
    if (wide_in_use()) return detail::hamming_distances32_wide(query, codes, n, out);
#endif
    detail::hamming_distances32_portable(query, codes, n, out, 0);
}

NEARDUP_POPCNT_CLONES
int hamming_distance32(const std::uint8_t* a, const std::uint8_t* b) { return distance32(a, b); }

namespace detail {

NEARDUP_POPCNT_CLONES
void two_nearest_hamming32_portable(const std::uint8_t* query, std::size_t nq, const std::uint8_t* reference, std::size_t nr,
                                    TwoNearest* out) {
    for (std::size_t i = 0; i < nq; ++i) {
        const std::uint8_t* q = query + i * kBinaryDescriptorBytes;
        TwoNearest best;
        for (std::size_t j = 0; j < nr; ++j) keep_two(best, distance32(q, reference + j * kBinaryDescriptorBytes), j);
        out[i] = best;
    }
}

}  // namespace detail

void two_nearest_hamming32(const std::uint8_t* query, std::size_t nq, const std::uint8_t* reference, std::size_t nr,
                           TwoNearest* out) {
#if NEARDUP_WIDE_POPCOUNT
    if (wide_in_use()) {
        // Each query row's distances to the reference rows, eight per step, a block at a time, then the two
        // smallest in row order (ties to the lower row, as the portable loop).
        constexpr std::size_t kBlock = 256;
        std::uint16_t distances[kBlock];
        for (std::size_t i = 0; i < nq; ++i) {
            TwoNearest best;
            for (std::size_t first = 0; first < nr; first += kBlock) {
                const std::size_t n = std::min(kBlock, nr - first);
                detail::hamming_distances32_wide(query + i * kBinaryDescriptorBytes, reference + first * kBinaryDescriptorBytes, n,
                                                 distances);
                for (std::size_t j = 0; j < n; ++j) keep_two(best, distances[j], first + j);
            }
            out[i] = best;
        }
        return;
    }
#endif
    detail::two_nearest_hamming32_portable(query, nq, reference, nr, out);
}

}  // namespace neardup
