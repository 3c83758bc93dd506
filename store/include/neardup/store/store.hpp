// One index directory: the catalog (truth), the FAISS indexes derived from it, and search over them.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include <opencv2/core/types.hpp>

#include "neardup/engine/decode.hpp"
#include "neardup/engine/error.hpp"
#include "neardup/engine/signature.hpp"
#include "neardup/engine/verify.hpp"
#include "neardup/store/catalog.hpp"
#include "neardup/store/descriptor_index.hpp"
#include "neardup/store/pdq_index.hpp"

namespace neardup::store {

struct StoreOptions {
    SignatureOptions signature;
    DescriptorIndexOptions descriptors;
    ScoreModel score;
    VerifyOptions verify;
    // Default match decision on the score. Chosen on the offline benchmark (bench_quality, 2026-11-25) as the
    // lowest round threshold with precision >= 0.995: 0.85 gave P 0.9958 at recall 0.817 (0.5 gave P 0.990).
    // Geometrically it means about 19 RANSAC inliers, or a PDQ distance of about 43 bits, on its own.
    double match_threshold = 0.85;
    // PDQ neighbours per dihedral variant, and the distance beyond which a PDQ neighbour is no candidate.
    int pdq_neighbours = 8;
    int pdq_max_distance = 90;
    // References verified per query from the descriptor votes.
    std::size_t vote_candidates = 24;
    // Minimum votes for a reference to be verified at all (fewer cannot reach a match score).
    int min_votes = 3;
    // Mirrored query descriptors also vote when the best direct candidate has fewer votes than this.
    int mirror_vote_below = 20;
    // Search the regions of a query (propose_regions) when the whole image matched nothing.
    bool search_regions = true;
};

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
};

enum class AddStatus { added, unchanged, replaced, conflict };

// A reference ready to commit: its catalog row and signature, computed without touching the store's state.
struct PreparedAdd {
    NewEntry entry;
    Signature signature;
};

struct StoreStats {
    std::int64_t active = 0;
    std::int64_t inactive = 0;       // deleted or replaced, reclaimed by compaction
    std::size_t pdq_entries = 0;
    std::size_t descriptor_entries = 0;
    std::int64_t generation = 0;
    bool loaded_from_snapshot = false;
    std::int64_t caught_up = 0;      // catalog rows added to the indexes on open, after the snapshot
};

Sha256 sha256_of(std::span<const std::uint8_t> bytes);

// Thread-safe: searches run concurrently under a shared lock; adds and deletes take it exclusively only
// for the in-memory index update, after the catalog write is durable.
class Store {
public:
    // Opens (creating if needed) the index directory, loads the latest snapshot and brings it up to date
    // from the catalog. Throws StoreError when the directory or catalog cannot be used.
    explicit Store(const std::filesystem::path& dir, StoreOptions options = {});
    ~Store();

    const SignatureExtractor& extractor() const { return extractor_; }
    const StoreOptions& options() const { return options_; }

    // What adding `key` with these bytes would do: unchanged (same bytes), conflict (other bytes, no
    // replace), replaced or added.
    AddStatus plan(const std::string& key, const Sha256& sha, bool replace) const;
    // Decodes and fingerprints; `sha` is the SHA-256 of `bytes` that plan() was given. No state touched,
    // safe in parallel.
    Result<PreparedAdd> prepare(const std::string& key, std::span<const std::uint8_t> bytes, const Sha256& sha,
                                const Labels& labels, bool replace) const;
    // Makes prepared references durable (one transaction) and searchable; returns their ids.
    std::vector<std::int64_t> commit(std::vector<PreparedAdd> adds);
    // Convenience for one image: plan, prepare, commit.
    Result<AddStatus> add(const std::string& key, std::span<const std::uint8_t> bytes, const Labels& labels = {},
                          bool replace = false);

    bool remove(const std::string& key);
    std::optional<CatalogEntry> get(const std::string& key) const;
    // The stored signature of the active image under `key`.
    std::optional<Signature> signature(const std::string& key) const;

    // Bytes -> decode -> search_image.
    Result<std::vector<SearchHit>> search(std::span<const std::uint8_t> bytes, const SearchOptions& options = {}) const;
    // The whole image first; when nothing matches, each region that propose_regions finds (collage tiles,
    // the photo in a screenshot) is searched too, and every reference keeps its best result.
    std::vector<SearchHit> search_image(const DecodedImage& image, const SearchOptions& options = {}) const;
    // One query signature, no regions.
    std::vector<SearchHit> search(const QuerySignature& query, const SearchOptions& options = {}) const;

    // Reorganises the descriptor index for its size (inverted file past a threshold); call after bulk adds.
    void optimise();
    // Writes the FAISS indexes next to the catalog (atomic: a crash leaves the previous snapshot).
    void save_snapshot();
    // Drops deleted rows from the catalog for good and rebuilds the indexes. Returns rows removed.
    std::int64_t compact();
    StoreStats stats() const;

private:
    void rebuild_from_catalog();
    void catch_up(std::int64_t after_id);
    void index_row(std::int64_t id, bool active, const Signature& signature);

    std::filesystem::path dir_;
    StoreOptions options_;
    SignatureExtractor extractor_;
    std::unique_ptr<Catalog> catalog_;
    std::mutex write_mutex_;           // one writer at a time: catalog order = index order
    mutable std::shared_mutex mutex_;  // guards the fields below
    PdqIndex pdq_;
    DescriptorIndex descriptors_;
    std::unordered_set<std::int64_t> inactive_;
    std::int64_t indexed_max_id_ = 0;
    StoreStats open_stats_;
};

}  // namespace neardup::store
