#include "neardup/store/searcher.hpp"

#include <algorithm>
#include <cmath>
#include <chrono>
#include <optional>
#include <unordered_map>

#include <tbb/parallel_for.h>

#include "neardup/engine/hamming.hpp"
#include "neardup/engine/regions.hpp"
#include "neardup/store/store.hpp"
#include "signature_rows.hpp"

namespace neardup::store {
namespace {

// body(i) for i in [0, n): in parallel, or in order.
template <class Body>
void for_each_index(std::size_t n, bool parallel, const Body& body) {
    if (parallel) tbb::parallel_for(std::size_t{0}, n, body);
    else
        for (std::size_t i = 0; i < n; ++i) body(i);
}

using Clock = std::chrono::steady_clock;

// Adds the time since `start` to `into` and restarts the clock.
void lap(Clock::time_point& start, double& into) {
    const auto now = Clock::now();
    into += std::chrono::duration<double>(now - start).count();
    start = now;
}

// Results order: score, then key so that equal scores list in a stable order.
bool best_first(const SearchHit& a, const SearchHit& b) { return a.score != b.score ? a.score > b.score : a.key < b.key; }

}  // namespace

Searcher::Searcher(const Catalog& catalog, const SignatureExtractor& extractor, const StoreOptions& options)
    : catalog_(catalog), extractor_(extractor), options_(options) {}

SearchTrace& SearchTrace::operator+=(const SearchTrace& o) {
    decode += o.decode;
    signature += o.signature;
    hashes += o.hashes;
    embeddings += o.embeddings;
    votes += o.votes;
    verify += o.verify;
    regions += o.regions;
    verified += o.verified;
    from_pdq += o.from_pdq;
    from_votes += o.from_votes;
    from_embeddings += o.from_embeddings;
    regions_searched += o.regions_searched;
    early_exit = early_exit || o.early_exit;
    matched = matched || o.matched;
    return *this;
}

std::vector<SearchHit> Searcher::search_image(const IndexView& view, const DecodedImage& image, const SearchOptions& options,
                                              SearchTrace* trace) const {
    SearchTrace local;
    QuerySignatures signatures;
    return search_signatures(view, signatures, [&] { return &image; }, options, trace ? *trace : local);
}

std::vector<RegionQuery> Searcher::region_queries(const DecodedImage& image, SearchTrace& t) const {
    const double scale = static_cast<double>(image.width) / std::max(1, image.bgr.cols);
    auto clock = Clock::now();
    const auto proposals = propose_regions(image.bgr);
    lap(clock, t.regions);
    std::vector<RegionQuery> out(proposals.size());
    std::vector<double> seconds(proposals.size());
    for_each_index(proposals.size(), options_.parallel_regions, [&](std::size_t i) {
        const cv::Rect& r = proposals[i];
        auto start = Clock::now();
        out[i].rect = cv::Rect2f(static_cast<float>(r.x * scale), static_cast<float>(r.y * scale), static_cast<float>(r.width * scale),
                                 static_cast<float>(r.height * scale));
        out[i].signature = extractor_.compute_query(image.bgr(r).clone(), static_cast<std::uint32_t>(r.width * scale),
                                                    static_cast<std::uint32_t>(r.height * scale));
        lap(start, seconds[i]);
    });
    for (double s : seconds) t.signature += s;
    return out;
}

std::vector<SearchHit> Searcher::search_signatures(const IndexView& view, QuerySignatures& signatures,
                                                   const std::function<const DecodedImage*()>& pixels, const SearchOptions& options,
                                                   SearchTrace& t) const {
    // Every candidate of the whole image, so that region results can merge with them before the cut to top.
    SearchOptions all = options;
    all.top = 0;
    if (!signatures.whole) {
        const DecodedImage* image = pixels();
        if (!image) return {};
        auto clock = Clock::now();
        signatures.whole = extractor_.compute_query(image->bgr, image->width, image->height);
        lap(clock, t.signature);
    }
    std::vector<SearchHit> hits = search(view, *signatures.whole, all, &t);
    const double threshold = options.threshold.value_or(options_.match_threshold);
    const bool matched = !hits.empty() && hits.front().score >= threshold;
    if (options_.search_regions && !matched) {
        if (!signatures.regions) {
            if (const DecodedImage* image = pixels()) signatures.regions = region_queries(*image, t);
        }
        const std::vector<RegionQuery> none;
        const auto& regions = signatures.regions ? *signatures.regions : none;
        // Each region is a query of its own (votes, verification), independent of the others: they run in
        // parallel, and merge in proposal order so that the answer does not depend on timing.
        struct RegionResult {
            std::vector<SearchHit> hits;
            SearchTrace trace;
        };
        std::vector<RegionResult> results(regions.size());
        const VoteBudget budget{options_.region_vote_descriptors, options_.region_vote_descriptors};
        for_each_index(regions.size(), options_.parallel_regions, [&](std::size_t i) {
            RegionResult& out = results[i];
            ++out.trace.regions_searched;
            out.hits = search(view, regions[i].signature, all, budget, out.trace);
            for (auto& h : out.hits) {
                h.from_region = true;
                // The region's hit lies in the crop: place it in the whole query.
                if (h.query_region.area() > 0) {
                    h.query_region.x += regions[i].rect.x;
                    h.query_region.y += regions[i].rect.y;
                }
            }
        });
        for (auto& result : results) {
            t += result.trace;
            for (auto& h : result.hits) {
                auto it = std::find_if(hits.begin(), hits.end(), [&](const SearchHit& x) { return x.id == h.id; });
                if (it == hits.end()) hits.push_back(std::move(h));
                else if (h.score > it->score) *it = std::move(h);
            }
        }
        std::sort(hits.begin(), hits.end(), best_first);
    }
    if (options.top > 0 && hits.size() > static_cast<std::size_t>(options.top)) hits.resize(options.top);
    t.matched = !hits.empty() && hits.front().match;
    return hits;
}

void Searcher::verify(const IndexView& view, const QuerySignature& query, const std::vector<std::int64_t>& candidates,
                      const SearchOptions& options, std::vector<SearchHit>& hits, ExplainedById& explained,
                      SearchTrace& trace) const {
    const double threshold = options.threshold.value_or(options_.match_threshold);
    // Active as the view says, not as the catalog says now: a reference deleted since the view was taken is
    // still part of this search's consistent state (rows stay until compaction).
    std::vector<std::int64_t> todo;
    for (std::int64_t id : candidates)
        if (view.active(id) && std::find(todo.begin(), todo.end(), id) == todo.end() &&
            std::none_of(hits.begin(), hits.end(), [&](const SearchHit& h) { return h.id == id; }))
            todo.push_back(id);
    struct Verified {
        std::optional<SearchHit> hit;
        Explained explained;
    };
    std::vector<Verified> results(todo.size());
    for_each_index(todo.size(), options_.parallel_verification && todo.size() > 1, [&](std::size_t i) {
        const std::int64_t id = todo[i];
        std::vector<std::uint8_t> signature_bytes;
        auto entry = catalog_.find_by_id(id, &signature_bytes);
        if (!entry || !has_labels(entry->labels, options.required_labels)) return;
        const Signature reference = detail::decode_signature_or_throw(id, signature_bytes);
        MatchEvidence e = compare(query, reference, options_.score, options_.verify);
        SearchHit h;
        h.id = id;
        h.key = std::move(entry->key);
        h.labels = std::move(entry->labels);
        h.score = e.score;
        h.match = e.score >= threshold;
        h.inliers = e.geometry.inliers;
        h.pdq_distance = e.pdq_distance;
        h.mirrored = e.geometry.mirrored;
        h.region = e.geometry.reference_region;
        h.query_region = e.geometry.query_region;
        h.hash_only = entry->hash_only();
        h.agreement = e.geometry.agreement;
        h.thickness = e.geometry.thickness;
        h.correspondences = e.geometry.correspondences;
        h.residual = e.geometry.residual;
        h.anisotropy = e.geometry.anisotropy;
        h.reference_coverage = e.geometry.reference_coverage;
        h.query_coverage = e.geometry.query_coverage;
        h.embedding_similarity = e.embedding_similarity;
        results[i].explained = Explained{std::move(e.geometry), reference.pdq.hash, e.pdq_quality};
        results[i].hit = std::move(h);
    });
    // In candidate order, whatever order they finished in.
    for (auto& r : results) {
        if (!r.hit) continue;
        ++trace.verified;
        explained[r.hit->id] = std::move(r.explained);
        hits.push_back(std::move(*r.hit));
    }
}

std::vector<SearchHit> Searcher::search(const IndexView& view, const QuerySignature& query, const SearchOptions& options,
                                        SearchTrace* trace) const {
    SearchTrace local;
    return search(view, query, options, {options_.descriptors.query_descriptors, options_.mirror_vote_descriptors},
                  trace ? *trace : local);
}

std::vector<SearchHit> Searcher::search(const IndexView& view, const QuerySignature& query, const SearchOptions& options,
                                        VoteBudget budget, SearchTrace& t) const {
    auto clock = Clock::now();
    std::vector<std::int64_t> candidates;
    const auto& variants = query.signature.pdq_dihedral.empty() ? std::vector<Hash256>{query.signature.pdq.hash}
                                                                : query.signature.pdq_dihedral;
    int near_exact = 0;
    bool crowded = false;  // as many near-exact copies as neighbours looked up: there may be more
    int far = 0;  // candidates beyond pdq_far_distance taken so far (nearest first)
    for (const auto& n : view.pdq_search(variants, options_.pdq_neighbours, options_.early_exit_pdq_distance, &crowded,
                                         options_.pdq_exact_distance)) {
        if (n.distance > options_.pdq_max_distance) continue;
        if (n.distance > options_.pdq_far_distance && options_.pdq_far_candidates >= 0 && far++ >= options_.pdq_far_candidates) continue;
        candidates.push_back(n.id);
        if (n.distance <= options_.early_exit_pdq_distance) ++near_exact;
    }
    lap(clock, t.hashes);
    t.from_pdq += static_cast<int>(candidates.size());
    if (crowded) near_exact = 0;  // the votes must run to find the others
    std::vector<SearchHit> hits;
    ExplainedById explained;
    if (near_exact) {
        // A near-exact copy: its verification decides whether the descriptor search is needed at all.
        verify(view, query, candidates, options, hits, explained, t);
        lap(clock, t.verify);
        const bool confirmed = std::any_of(hits.begin(), hits.end(), [&](const SearchHit& h) {
            return h.match && h.pdq_distance <= options_.early_exit_pdq_distance && h.inliers >= options_.early_exit_inliers;
        });
        if (confirmed) {
            t.early_exit = true;
            std::sort(hits.begin(), hits.end(), best_first);
            if (options.top > 0 && hits.size() > static_cast<std::size_t>(options.top)) hits.resize(options.top);
            return hits;
        }
    }
    // A candidate named by a later source too is verified once, and counted for the first that named it.
    const auto add_candidate = [&](std::int64_t id, int& source) {
        if (std::find(candidates.begin(), candidates.end(), id) != candidates.end()) return;
        candidates.push_back(id);
        ++source;
    };
    // The embedding channel: the most similar references by embedding are verified too.
    if (!query.signature.embedding.empty()) {
        for (const auto& n : view.embedding_search(query.signature.embedding, options_.embedding_neighbours)) {
            if (n.similarity < options_.embedding_min_similarity) break;  // most similar first
            add_candidate(n.id, t.from_embeddings);
        }
        lap(clock, t.embeddings);
    }
    // Mirrored descriptors vote only when the direct ones found no clear candidate: half the descriptor
    // search for most queries, and a mirrored copy gets few direct votes.
    const std::size_t limit = options_.vote_candidates * 2;
    std::unordered_map<std::int64_t, int> counts;
    view.add_votes(query.signature.features.first(budget.direct), options_.descriptors, counts);
    auto votes = view.ranked(counts, limit);
    if (votes.empty() || votes.front().votes < options_.mirror_vote_below) {
        // The direct ones are counted already.
        view.add_votes(query.mirrored_features.first(budget.mirrored), options_.descriptors, counts);
        votes = view.ranked(counts, limit);
    }
    std::size_t taken = 0;
    // Votes ranked best first: a reference far below the best voted one is rarely the copy when the best is
    // (StoreOptions::vote_fraction).
    const int bar = votes.empty() ? options_.min_votes
                                  : std::max(options_.min_votes, static_cast<int>(std::ceil(options_.vote_fraction * votes.front().votes)));
    for (const auto& v : votes) {
        if (taken >= options_.vote_candidates || v.votes < bar) break;
        add_candidate(v.id, t.from_votes);
        ++taken;
    }
    lap(clock, t.votes);
    verify(view, query, candidates, options, hits, explained, t);
    discount_shared(hits, explained, options.threshold.value_or(options_.match_threshold));
    lap(clock, t.verify);
    std::sort(hits.begin(), hits.end(), best_first);
    if (options.top > 0 && hits.size() > static_cast<std::size_t>(options.top)) hits.resize(options.top);
    return hits;
}

void Searcher::discount_shared(std::vector<SearchHit>& hits, const ExplainedById& explained, double threshold) const {
    const int limit = options_.shared_inlier_references;
    if (limit <= 0) return;
    // A query keypoint is counted once per distinct reference it explains; PDQ-near references (copies of
    // one picture the archive holds several times) count as one.
    const auto slot = [](const Explained& e, int k) { return (static_cast<std::int64_t>(e.geometry.mirrored) << 32) | k; };
    std::unordered_map<std::int64_t, int> uses;
    std::vector<const Explained*> counted;
    for (const SearchHit& h : hits) {
        const auto it = explained.find(h.id);
        if (h.inliers <= 0 || it == explained.end()) continue;
        const Explained& e = it->second;
        if (std::any_of(counted.begin(), counted.end(), [&](const Explained* c) {
                return hamming_distance(c->pdq, e.pdq) <= options_.shared_inlier_pdq_distance;
            }))
            continue;
        counted.push_back(&e);
        for (int k : e.geometry.query_inliers) ++uses[slot(e, k)];
    }
    for (SearchHit& h : hits) {
        const auto it = explained.find(h.id);
        if (h.inliers <= 0 || it == explained.end()) continue;
        int shared = 0;
        for (int k : it->second.geometry.query_inliers) {
            const auto u = uses.find(slot(it->second, k));
            shared += u != uses.end() && u->second >= limit ? 1 : 0;
        }
        if (shared == 0) continue;
        h.shared_inliers = shared;
        // The score of what is left: the hash evidence as it was, the geometry without the shared inliers
        // (out of the correspondences too, as if those keypoints had not been there).
        MatchEvidence rest;
        rest.pdq_distance = h.pdq_distance;
        rest.pdq_quality = it->second.pdq_quality;
        rest.geometry = it->second.geometry;
        rest.geometry.inliers -= shared;
        rest.geometry.correspondences -= shared;
        rest.embedding_similarity = h.embedding_similarity;  // not a keypoint's: nothing of it is shared
        h.score = std::min(h.score, match_score(rest, options_.score));
        h.match = h.score >= threshold;
    }
}

std::vector<PdqMatch> Searcher::search_pdq(const IndexView& view, const Hash256& hash, const PdqSearchOptions& options) const {
    // Deleted references and label filters drop neighbours after the lookup: look further by as many.
    const int top = std::clamp(options.top, 1, PdqSearchOptions::kMaxTop);
    const int deleted = static_cast<int>(std::min<std::size_t>(view.inactive->size(), 20'000));
    const int k = (options.required_labels.empty() ? top : 4 * top + 32) + deleted;
    std::vector<PdqMatch> out;
    std::vector<std::uint8_t> signature_bytes;
    const Hash256 query[] = {hash};
    for (const auto& n : view.pdq_search(query, k)) {
        if (n.distance > options.max_distance) break;  // nearest first
        auto entry = catalog_.find_by_id(n.id, &signature_bytes);
        if (!entry || !has_labels(entry->labels, options.required_labels)) continue;
        PdqMatch m;
        m.id = n.id;
        m.key = std::move(entry->key);
        m.labels = std::move(entry->labels);
        m.distance = n.distance;
        m.quality = detail::decode_signature_or_throw(n.id, signature_bytes).pdq.quality;
        m.hash_only = entry->hash_only();
        out.push_back(std::move(m));
    }
    std::stable_sort(out.begin(), out.end(), [](const PdqMatch& a, const PdqMatch& b) {
        return a.distance != b.distance ? a.distance < b.distance : a.key < b.key;
    });
    if (out.size() > static_cast<std::size_t>(top)) out.resize(top);
    return out;
}

}  // namespace neardup::store
