// The search policy over one IndexView: candidate sources (PDQ neighbours, descriptor votes), verification
// of the candidates against their catalog signatures, the early exit for near-exact copies and the region
// pass. The Store keeps persistence; a new candidate source plugs in here.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include <opencv2/core/types.hpp>

#include "neardup/engine/decode.hpp"
#include "neardup/engine/signature.hpp"
#include "neardup/engine/verify.hpp"
#include "neardup/store/catalog.hpp"
#include "neardup/store/index_view.hpp"
#include "neardup/store/query_cache.hpp"

namespace neardup::store {

struct StoreOptions;

struct SearchOptions {
    int top = 10;                          // 0 = all verified candidates
    std::optional<double> threshold;       // overrides StoreOptions::match_threshold
    Labels required_labels;                // only references carrying all of these
};

struct SearchHit {
    std::int64_t id = 0;
    std::string key;
    Labels labels;
    double score = 0;
    bool match = false;
    int inliers = 0;
    int pdq_distance = 256;
    bool mirrored = false;
    cv::Rect2f region;  // matched region in the reference, full-size pixels
    cv::Rect2f query_region;  // the matched area in the query, full-size pixels (empty without local features)
    bool hash_only = false;  // the reference is a PDQ hash without an image (CatalogEntry::hash_only)
    double agreement = -1;   // GeometricMatch::agreement of the verification
    double thickness = 0;    // GeometricMatch::thickness of the verification
    // The rest of the verification's evidence (GeometricMatch), which the score reads.
    int correspondences = 0;
    double residual = 0;
    double anisotropy = 1;
    double reference_coverage = 0;
    double query_coverage = 0;
    int shared_inliers = 0;    // inliers left out of the score: they explain other references too (StoreOptions::shared_inlier_references)
    bool from_region = false;  // found by searching a region of the query (a tile, the photo in a screenshot)
    std::optional<float> embedding_similarity;  // MatchEvidence::embedding_similarity
};

// A search by PDQ hash alone (hash lists exchanged with partners): references within max_distance bits.
struct PdqSearchOptions {
    // The PDQ documentation's suggested match threshold: distances up to 31 of 256 bits.
    int max_distance = 31;
    int top = 10;               // at most this many matches per hash, nearest first (1..kMaxTop)
    Labels required_labels;     // only references carrying all of these
    static constexpr int kMaxTop = 1000;
};

struct PdqMatch {
    std::int64_t id = 0;
    std::string key;
    Labels labels;
    int distance = 0;
    int quality = 0;  // the reference's PDQ quality
    bool hash_only = false;
};

// Where one query's time went, in seconds per stage (wall clock of the thread doing it), and what it did.
// Stages add up over the whole image and its regions; the regions run in parallel, so their stages may sum
// to more than the query's wall time.
struct SearchTrace {
    double decode = 0;      // bytes to pixels (Store::search of bytes only)
    double signature = 0;   // query signatures: the whole image's, and each region's
    double hashes = 0;      // PDQ neighbours
    double embeddings = 0;  // nearest embeddings (with an embedding model)
    double votes = 0;       // descriptor candidate search and ranking
    double verify = 0;      // catalog reads and verification of candidates
    double regions = 0;     // proposing regions (their signatures, votes and verification count above)
    int verified = 0;       // candidates verified
    // Where the candidates came from (each counted once, at the first source that named it; deleted ones
    // included): PDQ neighbours, descriptor votes, nearest embeddings.
    int from_pdq = 0;
    int from_votes = 0;
    int from_embeddings = 0;
    int regions_searched = 0;
    bool early_exit = false;  // a near-exact PDQ copy confirmed by verification ended the search
    bool matched = false;     // the best hit is a match
    bool cached = false;      // the query's signatures came from the query cache (no decode, no signature)

    double total() const { return decode + signature + hashes + embeddings + votes + verify + regions; }
    // Adds another trace's times and counts (a region's, into its query's).
    SearchTrace& operator+=(const SearchTrace& other);
};

class Searcher {
public:
    // Borrows all three; they must outlive the Searcher. Thread-safe (const).
    Searcher(const Catalog& catalog, const SignatureExtractor& extractor, const StoreOptions& options);

    // The whole image first; when nothing matches, each region that propose_regions finds (collage tiles,
    // the photo in a screenshot) is searched too, and every reference keeps its best result.
    std::vector<SearchHit> search_image(const IndexView& view, const DecodedImage& image, const SearchOptions& options,
                                        SearchTrace* trace = nullptr) const;
    // search_image over signatures known already (a query cache's), computing what is missing from the
    // pixels that `pixels` gives (called only then; null when they cannot be had, which skips what needs
    // them): the whole image's signature, and the regions' when the whole image matched nothing.
    // `signatures` receives what was computed.
    std::vector<SearchHit> search_signatures(const IndexView& view, QuerySignatures& signatures,
                                             const std::function<const DecodedImage*()>& pixels, const SearchOptions& options,
                                             SearchTrace& trace) const;
    // One query signature, no regions. A PDQ neighbour within StoreOptions::early_exit_pdq_distance that
    // verifies with early_exit_inliers ends the search before the descriptor votes: the hits are then the
    // PDQ candidates' (an exact copy outscores whatever the votes could add).
    std::vector<SearchHit> search(const IndexView& view, const QuerySignature& query, const SearchOptions& options,
                                  SearchTrace* trace = nullptr) const;

    // References whose PDQ hash lies within options.max_distance of `hash`, nearest first, then by key.
    // Exact to 47 bits (PdqIndex::search). Only the hash as given: no dihedral variants.
    std::vector<PdqMatch> search_pdq(const IndexView& view, const Hash256& hash, const PdqSearchOptions& options) const;

private:
    // Query descriptors that vote: in the direct pass and, when the direct votes name no clear candidate,
    // in the mirrored pass.
    struct VoteBudget {
        std::size_t direct;
        std::size_t mirrored;
    };
    std::vector<SearchHit> search(const IndexView& view, const QuerySignature& query, const SearchOptions& options,
                                  VoteBudget budget, SearchTrace& trace) const;
    // The regions propose_regions finds in the image, each with its query signature (in parallel).
    std::vector<RegionQuery> region_queries(const DecodedImage& image, SearchTrace& trace) const;
    // What verification found of one reference beyond its hit: the whole geometric evidence (which query
    // keypoints explain it, in the mirrored features when `geometry.mirrored`), and the reference's PDQ.
    struct Explained {
        GeometricMatch geometry;
        Hash256 pdq{};
        int pdq_quality = 0;
    };
    using ExplainedById = std::unordered_map<std::int64_t, Explained>;
    // Verifies `candidates` (in parallel with StoreOptions::parallel_verification), appending their hits in
    // candidate order, skipping ids already in `hits` and those inactive in `view`.
    void verify(const IndexView& view, const QuerySignature& query, const std::vector<std::int64_t>& candidates,
                const SearchOptions& options, std::vector<SearchHit>& hits, ExplainedById& explained, SearchTrace& trace) const;
    // StoreOptions::shared_inlier_references: re-scores each hit without the query keypoints that explain
    // that many other references too (counting PDQ-near references once).
    void discount_shared(std::vector<SearchHit>& hits, const ExplainedById& explained, double threshold) const;

    const Catalog& catalog_;
    const SignatureExtractor& extractor_;
    const StoreOptions& options_;
};

}  // namespace neardup::store
