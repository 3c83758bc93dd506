#include "neardup/engine/hamming.hpp"
#include "neardup/engine/popcnt_clones.hpp"

#include <algorithm>
#include <climits>
#include <cstring>

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

NEARDUP_POPCNT_CLONES
void scan_hamming32(const std::uint8_t* query, const std::uint8_t* codes, const std::int64_t* ids, std::size_t n, NearestK& nearest) {
    for (std::size_t j = 0; j < n; ++j) {
        const int d = distance32(query, codes + j * kBinaryDescriptorBytes);
        if (d <= nearest.worst()) nearest.push(d, ids ? ids[j] : static_cast<std::int64_t>(j));
    }
}

NEARDUP_POPCNT_CLONES
void two_nearest_hamming32(const std::uint8_t* query, std::size_t nq, const std::uint8_t* reference, std::size_t nr,
                           TwoNearest* out) {
    for (std::size_t i = 0; i < nq; ++i) {
        const std::uint8_t* q = query + i * kBinaryDescriptorBytes;
        TwoNearest best;
        for (std::size_t j = 0; j < nr; ++j) {
            const int d = distance32(q, reference + j * kBinaryDescriptorBytes);
            if (d < best.distance) {
                best.second = best.distance;
                best.distance = d;
                best.index = static_cast<int>(j);
            } else if (d < best.second) {
                best.second = d;
            }
        }
        out[i] = best;
    }
}

}  // namespace neardup
