// Nearest PDQ hashes among the references (FAISS binary index), queried with all eight dihedral variants.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "neardup/engine/hash256.hpp"

namespace faiss {
struct IndexBinary;
struct IOWriter;
}

namespace neardup::store {

namespace detail {
class HashTables;
}

struct HashNeighbour {
    std::int64_t id;
    int distance;
};

// Not thread-safe for writes; const search is safe from many threads while no write runs.
class PdqIndex {
public:
    PdqIndex();
    ~PdqIndex();
    PdqIndex(PdqIndex&&) noexcept;
    PdqIndex& operator=(PdqIndex&&) noexcept;

    void add(std::int64_t id, const Hash256& hash);
    // Declares the index complete (a closed segment): from `table_rows` hashes on, searches go through
    // multi-index hash tables (hash_tables.hpp), exact up to 47 bits and nearly flat in the size, instead
    // of scanning every hash. An add after it drops the tables.
    void seal(std::size_t table_rows = kTableRows);
    bool sealed_with_tables() const { return tables_ != nullptr; }
    static constexpr std::size_t kTableRows = 32768;
    std::size_t size() const;
    // The ids indexed, in insertion order (for consistency checks).
    std::vector<std::int64_t> ids() const;
    PdqIndex clone() const;
    // For each query hash, its k nearest references; merged to the best distance per id, sorted by distance.
    // With tables (seal), the k nearest of those within `exact_distance` bits (found exactly up to 15, 31 or
    // 47, the least of them that covers it: a cheaper lookup for a smaller one), and of farther ones those
    // the tables meet. `crowded` (when given) is set when some query hash's k-th neighbour lies within
    // `crowd_distance`: more references may be that near than k could return.
    static constexpr int kExactDistance = 47;
    std::vector<HashNeighbour> search(std::span<const Hash256> queries, int k, int crowd_distance = -1, bool* crowded = nullptr,
                                      int exact_distance = kExactDistance) const;

    // The FAISS serialisation; the file form is written durably (temporary file, fsync, rename).
    void save(faiss::IOWriter& out) const;
    void save(const std::filesystem::path& file) const;
    static PdqIndex load(const std::filesystem::path& file, std::size_t table_rows = kTableRows);

private:
    std::unique_ptr<faiss::IndexBinary> index_;
    std::shared_ptr<const detail::HashTables> tables_;  // null: exact scan
};

}  // namespace neardup::store
