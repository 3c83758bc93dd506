// k-nearest search over FAISS binary indexes (flat, and inverted files with a flat quantizer) with the
// POPCNT Hamming scan of engine/hamming.hpp. Debian's libfaiss is built for baseline x86-64, where every
// popcount is a call into libgcc (perf: about half of descriptor search time); this reads the same index
// structures (flat codes, the quantizer's centroids, the inverted lists) and gives the same neighbours.
#pragma once

#include <cstdint>
#include <faiss/IndexBinary.h>

namespace neardup::store::detail {

// True when `index` is a kind this scan handles: IndexBinaryIDMap over IndexBinaryFlat, or IndexBinaryIVF
// with an IndexBinaryFlat quantizer, of 32-byte codes.
bool fast_scan_supported(const faiss::IndexBinary& index);
// As index.search(n, queries, k, distances, labels): per query, the k nearest ids by distance then id,
// -1 / INT32_MAX where fewer exist.
void fast_scan(const faiss::IndexBinary& index, std::int64_t n, const std::uint8_t* queries, int k, std::int32_t* distances,
               std::int64_t* labels);

// The Hamming distance of `query` to each of the n 64-bit short codes, into out[0..n), each also counted
// in histogram[0..64].
void distances_hamming8(std::uint64_t query, const std::uint64_t* codes, std::size_t n, std::uint8_t* out, int* histogram);

}  // namespace neardup::store::detail
