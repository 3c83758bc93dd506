// A bounded cache of query signatures keyed by the SHA-256 of the query's bytes: re-uploads and retries of
// the same file skip decoding and every signature. Signatures depend on the bytes and the extractor's
// options alone, never on the index, so adds and deletes cannot make an entry stale: searches run anew
// over the current index every time, and only what they derive from the pixels is reused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include <opencv2/core/types.hpp>

#include "neardup/engine/signature.hpp"
#include "neardup/store/catalog.hpp"

namespace neardup::store {

// One region of a query (propose_regions) as a query of its own.
struct RegionQuery {
    cv::Rect2f rect;  // in the query's full-size pixels: where the region's hits are placed
    QuerySignature signature;
};

// What a search derives from one query's pixels: the whole image's signature and, once a search needed
// them (nothing matched the whole image), the regions'.
struct QuerySignatures {
    std::optional<QuerySignature> whole;
    std::optional<std::vector<RegionQuery>> regions;
    // Heap bytes held (keypoints, descriptors, hashes), for the cache's bound.
    std::size_t memory_bytes() const;
};

struct QueryCacheStats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::size_t entries = 0;
    std::size_t bytes = 0;
};

// Least recently used entries go first once the entries' memory_bytes() would pass max_bytes; an entry
// larger than a quarter of the bound is not kept. Thread-safe.
class QueryCache {
public:
    explicit QueryCache(std::size_t max_bytes);

    // The entry for these bytes' SHA-256 (now the most recently used), or null; counts a hit or a miss.
    std::shared_ptr<const QuerySignatures> find(const Sha256& sha);
    // Stores or replaces the entry, then evicts down to the bound.
    void put(const Sha256& sha, std::shared_ptr<const QuerySignatures> signatures);
    QueryCacheStats stats() const;

private:
    struct ShaHash {
        std::size_t operator()(const Sha256& s) const noexcept;
    };
    struct Entry {
        Sha256 sha;
        std::shared_ptr<const QuerySignatures> signatures;
        std::size_t bytes;
    };
    void erase(std::list<Entry>::iterator it);

    const std::size_t max_bytes_;
    mutable std::mutex mutex_;
    std::list<Entry> recency_;  // most recently used first
    std::unordered_map<Sha256, std::list<Entry>::iterator, ShaHash> index_;
    std::size_t bytes_ = 0;
    std::uint64_t hits_ = 0;
    std::uint64_t misses_ = 0;
};

}  // namespace neardup::store
