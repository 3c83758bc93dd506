// k-nearest search over FAISS binary indexes (flat, and inverted files with a flat quantizer) with the
// Hamming distance compiled for the CPU's POPCNT instruction. Debian's libfaiss is built for baseline
// x86-64, where every popcount is a call into libgcc (perf: about half of descriptor search time); this
// reads the same index structures and gives the same neighbours, several times faster.
#pragma once

#include <cstdint>
#include <faiss/IndexBinary.h>

namespace neardup::store::detail {

// True when `index` is a kind this scan handles (IndexBinaryIDMap over IndexBinaryFlat, or IndexBinaryIVF
// with an IndexBinaryFlat quantizer) and the CPU has POPCNT.
bool fast_scan_supported(const faiss::IndexBinary& index);
// As index.search(n, queries, k, distances, labels) for 32-byte codes: per query, the k nearest ids by
// distance then id, -1 / INT32_MAX where fewer exist.
void fast_scan(const faiss::IndexBinary& index, std::int64_t n, const std::uint8_t* queries, int k, std::int32_t* distances,
               std::int64_t* labels);

}  // namespace neardup::store::detail
