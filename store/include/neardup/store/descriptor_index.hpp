// Local-feature descriptors of every reference in one FAISS binary index; candidates come from votes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <unordered_map>
#include <vector>

#include "neardup/engine/local_features.hpp"

namespace faiss {
struct IndexBinary;
struct IOWriter;
}

namespace neardup::store {

struct DescriptorIndexOptions {
    // Descriptors indexed per reference, strongest first: the memory bound (each costs 32 B + an 8 B id
    // in the index). Verification still uses every keypoint the catalog holds.
    int per_reference = 128;
    // Neighbours looked up per query descriptor, and the largest Hamming distance that votes (of 256 bits;
    // ORB distances between unrelated descriptors centre near 128, copies mostly fall under 50).
    int neighbours = 8;
    // A neighbour votes only when its distance is at most this fraction of the k-th neighbour's. Measured on
    // 400 benchmark queries: 0.85 with 8 neighbours gave muAP 0.881 at 38 ms search p50, against 0.867 at
    // 71 ms for plain 5-NN voting (generic descriptors no longer pull unrelated references into verification).
    double ratio = 0.85;
    // Query descriptors that search, strongest first (verification still uses all of them).
    std::size_t query_descriptors = 256;
    int max_distance = 56;
    // Above this many descriptors the index is an inverted file (IndexBinaryIVF) trained on a sample,
    // probing `nprobe` lists; below it, exact search.
    // 100k descriptors (about 800 references) is where exact search of a query's descriptors passed
    // ~50 ms on this machine, before the POPCNT scan (hamming_scan.hpp) that now runs both kinds; the
    // probes are few: 8 of 3 sqrt(n) lists.
    std::size_t ivf_threshold = 100'000;
    int nprobe = 8;
};

struct Vote {
    std::int64_t id;
    int votes;  // distinct query descriptors whose neighbours include this reference
};

// The k nearest reference descriptors of each searching query descriptor, nearest first. Searching several
// indexes into one DescriptorNeighbours keeps the k nearest over all of them, so segments vote as one index.
struct DescriptorNeighbours {
    int k = 0;
    std::size_t rows = 0;
    std::vector<std::int32_t> distances;  // rows x k; kEmpty where fewer than k were found
    std::vector<std::int64_t> labels;     // rows x k; -1 where empty
    static constexpr std::int32_t kEmpty = 1 << 30;
};

class DescriptorIndex {
public:
    explicit DescriptorIndex(DescriptorIndexOptions options = {});
    ~DescriptorIndex();
    DescriptorIndex(DescriptorIndex&&) noexcept;
    DescriptorIndex& operator=(DescriptorIndex&&) noexcept;

    // Only binary 32-byte descriptors (ORB) are indexed; other kinds are ignored (PDQ candidates only).
    void add(std::int64_t id, const LocalFeatures& features);
    std::size_t size() const;  // descriptors
    // Descriptors indexed per reference id (for consistency checks).
    std::unordered_map<std::int64_t, int> per_reference_counts() const;
    // Votes per reference from the query's descriptors, best first, at most `limit`.
    std::vector<Vote> vote(const std::vector<const LocalFeatures*>& queries, std::size_t limit) const;
    // Searches the query's strongest descriptors (options.query_descriptors) and merges the hits into
    // `into`, which starts empty (rows 0) for the first index searched. False for descriptors not indexed
    // here (not 32-byte binary).
    bool search(const LocalFeatures& query, DescriptorNeighbours& into) const;
    // Adds the votes of merged neighbours: within max_distance and within `ratio` of the k-th neighbour,
    // one per query descriptor per reference.
    static void count_votes(const DescriptorNeighbours& neighbours, const DescriptorIndexOptions& options,
                            std::unordered_map<std::int64_t, int>& votes);
    static std::vector<Vote> rank_votes(const std::unordered_map<std::int64_t, int>& votes, std::size_t limit);
    // A copy (segments clone their open tail to publish it with new rows).
    DescriptorIndex clone() const;
    const DescriptorIndexOptions& options() const { return options_; }

    // Rebuilds as an inverted file when the size crossed ivf_threshold (call after bulk adds).
    void optimise();

    // The FAISS serialisation; the file form is written durably (temporary file, fsync, rename).
    void save(faiss::IOWriter& out) const;
    void save(const std::filesystem::path& file) const;
    static DescriptorIndex load(const std::filesystem::path& file, DescriptorIndexOptions options = {});

    // Ids are (reference id << 8) | keypoint index, so a neighbour names its reference without a table.
    static constexpr int kKeypointBits = 8;

private:
    DescriptorIndexOptions options_;
    std::unique_ptr<faiss::IndexBinary> index_;
};

}  // namespace neardup::store
