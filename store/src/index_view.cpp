#include "neardup/store/index_view.hpp"

#include <algorithm>
#include <unordered_map>

namespace neardup::store {

std::vector<HashNeighbour> IndexView::pdq_search(std::span<const Hash256> queries, int k, int crowd_distance, bool* crowded,
                                                 int exact_distance) const {
    std::unordered_map<std::int64_t, int> best;
    for (const auto& segment : segments)
        for (const HashNeighbour& n : segment->pdq.search(queries, k, crowd_distance, crowded, exact_distance)) {
            if (!active(n.id)) continue;
            auto [it, inserted] = best.emplace(n.id, n.distance);
            if (!inserted) it->second = std::min(it->second, n.distance);
        }
    std::vector<HashNeighbour> out;
    out.reserve(best.size());
    for (const auto& [id, d] : best) out.push_back({id, d});
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.distance != b.distance ? a.distance < b.distance : a.id < b.id; });
    // As many as one index would have given (k per query hash), so more segments do not mean more candidates.
    const std::size_t cap = queries.size() * static_cast<std::size_t>(std::max(k, 0));
    if (out.size() > cap) out.resize(cap);
    return out;
}

void IndexView::add_votes(const LocalFeatures& query, const DescriptorIndexOptions& options,
                          std::unordered_map<std::int64_t, int>& votes) const {
    DescriptorNeighbours merged;
    WordProbes probes;  // segments under one vocabulary assign the query's descriptors once
    bool searched = false;
    for (const auto& segment : segments) searched = segment->descriptors.search(query, merged, &probes) || searched;
    if (searched) DescriptorIndex::count_votes(merged, options, votes);
}

std::vector<Vote> IndexView::ranked(const std::unordered_map<std::int64_t, int>& votes, std::size_t limit) const {
    std::unordered_map<std::int64_t, int> active_votes;
    for (const auto& [id, n] : votes)
        if (active(id)) active_votes.emplace(id, n);
    return DescriptorIndex::rank_votes(active_votes, limit);
}

std::vector<Vote> IndexView::vote(const std::vector<const LocalFeatures*>& queries, const DescriptorIndexOptions& options,
                                  std::size_t limit) const {
    std::unordered_map<std::int64_t, int> votes;
    for (const LocalFeatures* q : queries)
        if (q) add_votes(*q, options, votes);
    return ranked(votes, limit);
}

std::vector<EmbeddingNeighbour> IndexView::embedding_search(std::span<const float> query, int k) const {
    std::vector<EmbeddingNeighbour> out;
    if (k <= 0 || query.empty()) return out;
    for (const auto& segment : segments) {
        // Deleted references still sit in the segment: ask for more until k active ones or all are found.
        const std::size_t size = segment->embeddings.size();
        for (std::size_t asked = static_cast<std::size_t>(k);; asked = std::min(size, asked * 2)) {
            const auto found = segment->embeddings.search(query, static_cast<int>(std::min<std::size_t>(asked, 1u << 30)));
            std::size_t taken = 0;
            for (const auto& n : found)
                if (active(n.id) && taken < static_cast<std::size_t>(k)) {
                    out.push_back(n);
                    ++taken;
                }
            if (taken == static_cast<std::size_t>(k) || found.size() < asked || asked >= size) break;
            out.resize(out.size() - taken);
        }
    }
    std::sort(out.begin(), out.end(), [](const EmbeddingNeighbour& a, const EmbeddingNeighbour& b) {
        return a.similarity != b.similarity ? a.similarity > b.similarity : a.id < b.id;
    });
    if (out.size() > static_cast<std::size_t>(k)) out.resize(static_cast<std::size_t>(k));
    return out;
}

std::size_t IndexView::embedding_entries() const {
    std::size_t n = 0;
    for (const auto& s : segments) n += s->embeddings.size();
    return n;
}

std::size_t IndexView::pdq_entries() const {
    std::size_t n = 0;
    for (const auto& s : segments) n += s->pdq.size();
    return n;
}

std::size_t IndexView::descriptor_entries() const {
    std::size_t n = 0;
    for (const auto& s : segments) n += s->descriptors.size();
    return n;
}

}  // namespace neardup::store
