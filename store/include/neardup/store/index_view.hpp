// An immutable view of the FAISS indexes derived from the catalog. Searches hold a view for their whole
// run; writers publish a new one (sharing every unchanged segment), so a search never waits for a write
// and never sees half of one.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "neardup/engine/hash256.hpp"
#include "neardup/engine/local_features.hpp"
#include "neardup/store/descriptor_index.hpp"
#include "neardup/store/embedding_index.hpp"
#include "neardup/store/pdq_index.hpp"

namespace neardup::store {

// The indexes of the references with catalog ids in [first_id, last_id]. Never changed once published.
struct Segment {
    std::int64_t first_id = 0;
    std::int64_t last_id = 0;
    std::size_t rows = 0;  // references indexed (rows deleted before the build are left out)
    PdqIndex pdq;
    DescriptorIndex descriptors;
    EmbeddingIndex embeddings;  // empty unless the store embeds (SignatureOptions::embedder)

    explicit Segment(DescriptorIndexOptions options, EmbeddingIndexOptions embedding_options = {})
        : descriptors(options), embeddings(embedding_options) {}
    // A deep copy, to extend or reorganise without touching the published one.
    std::shared_ptr<Segment> copy() const {
        auto out = std::make_shared<Segment>(descriptors.options());
        out->first_id = first_id;
        out->last_id = last_id;
        out->rows = rows;
        out->pdq = pdq.clone();
        out->descriptors = descriptors.clone();
        out->embeddings = embeddings.clone();
        return out;
    }
};

struct IndexView {
    std::vector<std::shared_ptr<const Segment>> segments;  // disjoint id ranges, oldest first
    std::shared_ptr<const std::unordered_set<std::int64_t>> inactive = std::make_shared<std::unordered_set<std::int64_t>>();
    std::int64_t max_id = 0;  // the last catalog row the segments cover

    bool active(std::int64_t id) const { return !inactive->contains(id); }
    // The best distance of each reference among the k nearest of each query hash in every segment, nearest
    // first; inactive references left out. `crowded` and `exact_distance` as PdqIndex::search, over every segment.
    std::vector<HashNeighbour> pdq_search(std::span<const Hash256> queries, int k, int crowd_distance = -1, bool* crowded = nullptr,
                                          int exact_distance = PdqIndex::kExactDistance) const;
    // Descriptor votes over all segments as if they were one index (the k nearest are merged across them).
    std::vector<Vote> vote(const std::vector<const LocalFeatures*>& queries, const DescriptorIndexOptions& options,
                           std::size_t limit) const;
    // The same in two steps, so that votes of more query features can be added to those already counted.
    void add_votes(const LocalFeatures& query, const DescriptorIndexOptions& options, std::unordered_map<std::int64_t, int>& votes) const;
    // Active references by votes, best first, at most `limit`.
    std::vector<Vote> ranked(const std::unordered_map<std::int64_t, int>& votes, std::size_t limit) const;
    // The k most similar active references to `query` over every segment, most similar first.
    std::vector<EmbeddingNeighbour> embedding_search(std::span<const float> query, int k) const;
    std::size_t pdq_entries() const;
    std::size_t embedding_entries() const;
    std::size_t descriptor_entries() const;
};

}  // namespace neardup::store
