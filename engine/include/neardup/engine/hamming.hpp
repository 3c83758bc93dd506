// Hamming distances of 32-byte binary descriptors (ORB), compiled twice: for the CPU's POPCNT instruction
// and for baseline x86-64, the loader picking one (GCC target_clones). Debian's OpenCV and FAISS are built
// for the baseline, where every popcount is a library call; these loops are several times faster.
#pragma once

#include <cstddef>
#include <cstdint>

namespace neardup {

inline constexpr std::size_t kBinaryDescriptorBytes = 32;

// Keeps the k smallest (distance, id) pairs seen, sorted, ties to the smaller id. `distances` and `ids`
// hold k entries, filled with INT32_MAX / -1 by the constructor.
struct NearestK {
    int k;
    std::int32_t* distances;
    std::int64_t* ids;
    NearestK(int k, std::int32_t* distances, std::int64_t* ids);
    void push(std::int32_t distance, std::int64_t id);
    std::int32_t worst() const { return distances[k - 1]; }
};

// Offers every row of `codes` (n rows of 32 bytes, ids[j] or j when ids is null) to `nearest`. On CPUs with
// AVX-512 VPOPCNTQ eight rows are measured per step (detail::wide_popcount_supported); the result is the same.
void scan_hamming32(const std::uint8_t* query, const std::uint8_t* codes, const std::int64_t* ids, std::size_t n, NearestK& nearest);

// The distance of `query` to each of the n rows of `codes` (32 bytes each), into out[0..n): eight rows per
// step where scan_hamming32 measures eight, the same values.
void hamming_distances32(const std::uint8_t* query, const std::uint8_t* codes, std::size_t n, std::uint16_t* out);

namespace detail {
// The two paths of scan_hamming32 and hamming_distances32, for tests: rows [first, n) one at a time, and
// whether the CPU has the wide one.
void scan_hamming32_portable(const std::uint8_t* query, const std::uint8_t* codes, const std::int64_t* ids, std::size_t n,
                             NearestK& nearest, std::size_t first);
void hamming_distances32_portable(const std::uint8_t* query, const std::uint8_t* codes, std::size_t n, std::uint16_t* out,
                                  std::size_t first);
bool wide_popcount_supported();
// Benchmarks time both paths in one run: false keeps scan_hamming32, hamming_distances32 and
// two_nearest_hamming32 on their portable paths (default true).
void allow_wide_popcount(bool allowed);
}  // namespace detail

// The Hamming distance of one pair of 32-byte descriptors (POPCNT where the CPU has it).
int hamming_distance32(const std::uint8_t* a, const std::uint8_t* b);

struct TwoNearest {
    int index = -1;                  // nearest reference row, -1 when there is none
    std::int32_t distance = 1 << 30;
    std::int32_t second = 1 << 30;   // distance of the second nearest (1 << 30 when there is none)
};
// For each of the nq query rows, the two nearest of the nr reference rows (brute force; ties to the
// lower row, as cv::BFMatcher::knnMatch with k = 2). Eight distances per step where the CPU has AVX-512
// VPOPCNTQ, the same result.
void two_nearest_hamming32(const std::uint8_t* query, std::size_t nq, const std::uint8_t* reference, std::size_t nr,
                           TwoNearest* out);
namespace detail {
// two_nearest_hamming32 one distance at a time (its path where the CPU lacks the wide one), for tests.
void two_nearest_hamming32_portable(const std::uint8_t* query, std::size_t nq, const std::uint8_t* reference, std::size_t nr,
                                    TwoNearest* out);
}  // namespace detail

}  // namespace neardup
