// One index directory: the catalog (truth), the FAISS indexes derived from it, and search over them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <span>
#include <string>
#include <vector>

#include <opencv2/core/types.hpp>

#include "neardup/engine/decode.hpp"
#include "neardup/engine/error.hpp"
#include "neardup/engine/signature.hpp"
#include "neardup/engine/verify.hpp"
#include "neardup/store/catalog.hpp"
#include "neardup/store/index_view.hpp"
#include "neardup/store/query_cache.hpp"
#include "neardup/store/searcher.hpp"

namespace neardup::store {

class DirectoryLock;

// How a Store opens its directory. create: makes the directory and catalog if there are none (only
// `neardup index` and the server do); write: the index must exist; both take the directory's write lock
// (DIR/LOCK), so a second writer fails at once naming the holder. read_only: no lock, nothing written, works
// on read-only storage; it sees the catalog as it was when opened.
enum class OpenMode { create, write, read_only };

struct StoreOptions {
    OpenMode mode = OpenMode::create;
    // Where the catalog lives: empty for catalog.sqlite in the index directory (one writing process), or a
    // postgresql:// URI for a catalog that many processes share (postgres_catalog.hpp); the directory then
    // holds only this process's snapshot of the indexes derived from it.
    std::string catalog;
    // False: a store that only writes to its catalog (a bulk backfill into a shared catalog, whose serving
    // processes follow it): no indexes are loaded, built, followed or saved, and searching is a StoreError.
    bool load_indexes = true;
    // Only the references whose keys this shard owns (shard.hpp) are indexed and searched here; the others are
    // another shard's. Needs a shared catalog. Adds of other shards' keys are written to the catalog (where
    // their shard follows them) but not indexed here.
    Shard shard;
    // signature.embedder: the embedding channel. The first writable open of an empty catalog records the
    // model's identity (or that there is none); a writable store refuses to open with another model, or
    // without one, and a store with a model refuses an index built without (its references have none).
    SignatureOptions signature;
    DescriptorIndexOptions descriptors;
    EmbeddingIndexOptions embeddings;
    ScoreModel score;
    VerifyOptions verify;
    // Default match decision on the score. Chosen on the offline benchmark (bench_quality, 2026-11-25) as the
    // lowest round threshold with precision >= 0.995: 0.85 gave P 0.9958 at recall 0.817 (0.5 gave P 0.990).
    // Geometrically it means about 19 RANSAC inliers, or a PDQ distance of about 43 bits, on its own.
    double match_threshold = 0.85;
    // PDQ neighbours per dihedral variant, and the distance beyond which a PDQ neighbour is no candidate.
    int pdq_neighbours = 8;
    int pdq_max_distance = 90;
    // Of the PDQ neighbours farther than pdq_far_distance, only the nearest pdq_far_candidates are verified
    // (negative: all). Far neighbours are a copy's only candidate source now and then (a crop whose
    // descriptors drew few votes: cutting them all at 64 bits lost 0.008 muAP with 20k distractors), but
    // in a large archive many unrelated photos lie that far: at 1M references they were 16 of the 16.6
    // candidates a query verified. 2 (README "Speed", 2026-12-07): chosen on the train split with 20k
    // distractors, where it kept every figure; the offline benchmark's figures the same.
    int pdq_far_distance = 64;
    int pdq_far_candidates = 2;
    // PDQ neighbours of a query are found exactly up to this many bits (15, 31 or 47: the hash tables'
    // lookup probes chunk values 0, 1 or 2 bits away, 16, 272 or 2192 buckets per query hash), farther ones
    // when the tables meet them (at 31, most up to about 45 bits). The hash exchange's search (search_pdq)
    // is always exact to 47. 31 (README "Speed", 2026-12-07): at 1M references the PDQ lookup p50 fell
    // from 7.5 to 1.7 ms; with 20k distractors (tables forced) every train figure held, 15 lost some.
    int pdq_exact_distance = 31;
    // A closed segment of at least this many references searches its PDQ hashes through the hash tables; a
    // smaller one scans them all (exact, and as fast below this size). For measurements on small indexes.
    std::size_t pdq_table_rows = PdqIndex::kTableRows;
    // With an embedding model: the most similar references by embedding that are verified too, and the
    // cosine similarity below which one is no candidate. Verification and the score decide the match; 0.5
    // keeps only neighbours far above unrelated photos (copy-detection models such as SSCD put unrelated
    // pairs near 0 and copies from about 0.75 up, where the SSCD authors report about 90 % precision).
    int embedding_neighbours = 8;
    double embedding_min_similarity = 0.5;
    // References verified per query from the descriptor votes.
    std::size_t vote_candidates = 24;
    // Minimum votes for a reference to be verified at all (fewer cannot reach a match score).
    int min_votes = 3;
    // And at least this fraction of the best-voted reference's votes (0: off). At a million references
    // generic structure gathers votes for many references beside the copy, and each costs a verification.
    double vote_fraction = 0;
    // Mirrored query descriptors also vote when the best direct candidate has fewer votes than this.
    int mirror_vote_below = 20;
    // Search the regions of a query (propose_regions) when the whole image matched nothing.
    bool search_regions = true;
    // Inliers that explain many references are surroundings, not the photo: a query keypoint that is an
    // inlier of this many verified references (those within shared_inlier_pdq_distance of one another's PDQ
    // counting once) is left out of each one's score. One shop app's chrome, a price in a common font or a
    // collage layout match every archived image that shows them; a copied photo matches its reference (and
    // that reference's near-exact duplicates). The whole image then matches nothing through them, and the
    // regions are searched. 0 turns it off. Measured with 20k distractor copies (README "Quality"): 2
    // (2026-12-07, chosen on train) took the test split's false matches from 111 (at 3) to 29.
    int shared_inlier_references = 2;
    int shared_inlier_pdq_distance = 31;
    // The regions' signatures and searches run in parallel (oneTBB): the same answer and CPU time, less
    // latency while cores are idle. False runs them one after another.
    bool parallel_regions = true;
    // Candidates are verified in parallel (catalog read, matching, RANSAC), merged in candidate order: the
    // same answer, less latency while cores are idle. False verifies them one after another.
    bool parallel_verification = true;
    // Query descriptors that vote in the mirrored pass and in each region's search, strongest first (the
    // whole image's direct pass uses descriptors.query_descriptors). A vote costs a list walk per
    // descriptor, and queries that match nothing pay both passes for the whole image and every region.
    // Chosen on the offline benchmark (README "The retrieval cascade at scale").
    std::size_t mirror_vote_descriptors = 256;
    std::size_t region_vote_descriptors = 256;
    // Early exit: a PDQ neighbour this near (of 256 bits) whose verification matches with at least this
    // many inliers ends the search before the descriptor votes and the regions (searcher.hpp). Negative
    // turns it off.
    int early_exit_pdq_distance = 24;
    int early_exit_inliers = 20;
    // New references go to a small open segment, copied on every write; at this many rows it is closed
    // and a new one opens. Closed segments are merged in the background, `merge_fanout` of a size at a
    // time, so a store of n references holds O(fanout log n) segments.
    std::size_t tail_rows = 256;
    std::size_t merge_fanout = 4;
    // False for bulk loads that call optimise() at the end (merging as they go would rebuild the same
    // references several times).
    bool background_merges = true;
    // Memory for the signatures of recent queries, keyed by the SHA-256 of their bytes (query_cache.hpp): a
    // repeated upload skips decoding and every signature. 0 turns the cache off. An entry is about 60 KB,
    // up to five times that with its regions.
    std::size_t query_cache_bytes = 64u << 20;
    // A shared catalog (PostgreSQL) is followed: other processes' adds and deletes reach this store's indexes
    // as soon as their notification arrives, and at the latest after this interval (a notification can be
    // lost with a dropped connection).
    std::chrono::milliseconds follow_interval{500};
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
    std::size_t embedding_entries = 0;
    std::string embedder;            // the identity of the embedding model the index records; empty: none
    std::size_t vocabulary_words = 0;  // of the vocabulary new segments are filed under; 0 before there is one
    std::int64_t generation = 0;
    bool loaded_from_snapshot = false;
    std::int64_t caught_up = 0;      // catalog rows added to the indexes on open, after the snapshot
    std::size_t segments = 0;
    std::int64_t merges = 0;         // background merges published since open
    std::int64_t segments_rebuilt = 0;  // snapshot segments whose files failed their checksum or load, rebuilt
    std::string snapshot_problem;    // why the snapshot was not used, or not all of it; empty when it was
    std::int64_t followed = 0;       // rows added and ids deleted by other processes, taken from a shared catalog
};

// What `check()` found. Healthy when every list is empty.
struct CheckReport {
    std::vector<std::string> catalog;    // SQLite integrity_check problems
    std::vector<std::string> snapshot;   // manifest or segment files that are missing, damaged or unreadable
    std::vector<std::string> indexes;    // disagreements between the loaded indexes and the catalog
    std::int64_t rows_checked = 0;
    bool healthy() const { return catalog.empty() && snapshot.empty() && indexes.empty(); }
};

Sha256 sha256_of(std::span<const std::uint8_t> bytes);

// Thread-safe. Searches read an immutable IndexView and take no lock; writers (one at a time) make the
// catalog durable first, then publish a new view, so a reference is searchable as soon as its write returns.
class Store {
public:
    // Opens the index directory as options.mode says, loads the latest snapshot (segments whose files fail
    // their checksum are rebuilt from the catalog, with a warning) and brings it up to date from the catalog.
    // Throws StoreError when the directory or catalog cannot be used: missing (outside create mode), locked
    // by another writer, damaged (SQLite quick_check on open for catalogs up to kQuickCheckBytes), or a
    // directory that holds index files but no catalog.
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
    // A hash-only reference (CatalogEntry::hash_only): a PDQ hash from a partner's list, no image. Its
    // identity for plan() is hash_identity(pdq). invalid_key for a key outside store/key.hpp's rule.
    Result<PreparedAdd> prepare_hash(const std::string& key, const PdqHash& pdq, const Labels& labels, bool replace,
                                     std::string source = {}) const;
    static Sha256 hash_identity(const PdqHash& pdq);
    // Makes prepared references durable (one transaction) and searchable; returns their ids. KeyConflict (and
    // nothing written) when another writer of a shared catalog added one of the keys since plan().
    std::vector<std::int64_t> commit(std::vector<PreparedAdd> adds);
    // commit(), and when it meets a KeyConflict, the adds one at a time, each that meets one planned again
    // against what the other writer added: unchanged (the same bytes) or conflict (other bytes, not written).
    // Returns each add's status, in order: added or replaced as prepared, or unchanged or conflict.
    std::vector<AddStatus> commit_resolving(std::vector<PreparedAdd> adds);
    // Convenience for one image: plan, prepare, commit.
    Result<AddStatus> add(const std::string& key, std::span<const std::uint8_t> bytes, const Labels& labels = {},
                          bool replace = false);

    bool remove(const std::string& key);
    std::optional<CatalogEntry> get(const std::string& key) const;
    // The stored signature of the active image under `key`.
    std::optional<Signature> signature(const std::string& key) const;

    // Bytes -> decode -> search_image, the signatures taken from the query cache when these bytes were
    // searched recently (the search itself always runs over the current index). `trace`, when given,
    // receives where the time went.
    Result<std::vector<SearchHit>> search(std::span<const std::uint8_t> bytes, const SearchOptions& options = {},
                                          SearchTrace* trace = nullptr) const;
    // Searcher::search_image over the current view.
    std::vector<SearchHit> search_image(const DecodedImage& image, const SearchOptions& options = {},
                                        SearchTrace* trace = nullptr) const;
    // One query signature, no regions (Searcher::search over the current view).
    std::vector<SearchHit> search(const QuerySignature& query, const SearchOptions& options = {}, SearchTrace* trace = nullptr) const;

    // The reference's thumbnail JPEG (kThumbnailLongSide px, made when it was added); nothing for an unknown
    // key, a hash-only reference, or one added before thumbnails existed.
    std::optional<std::vector<std::uint8_t>> thumbnail(const std::string& key) const;
    static constexpr int kThumbnailLongSide = 256;
    // A thumbnail of image bytes, as add() makes one (decode errors as decode_image's).
    Result<std::vector<std::uint8_t>> make_thumbnail(std::span<const std::uint8_t> bytes) const;
    // Backfill for references added before thumbnails existed: the ones still without (ids after `after_id`,
    // at most `limit`, in id order), and storing one. Writable stores only.
    std::vector<CatalogEntry> missing_thumbnails(std::int64_t after_id, std::size_t limit) const;
    void set_thumbnail(std::int64_t id, std::span<const std::uint8_t> jpeg);
    // Active references in key order after `after_key`, keys starting with `prefix`, carrying every label;
    // at most `limit`. `next` receives the key to continue after, empty when there are no more.
    std::vector<CatalogEntry> list(const std::string& after_key, const std::string& prefix, const Labels& labels, std::size_t limit,
                                   std::string* next) const;
    // References within options.max_distance of a PDQ hash (Searcher::search_pdq over the current view).
    std::vector<PdqMatch> search_pdq(const Hash256& hash, const PdqSearchOptions& options = {}) const;
    // Every active reference in key order, with its signature (export).
    void for_each_active(const std::function<void(const CatalogEntry&, const Signature&)>& fn) const;

    // Merges every segment into one, organised for its size (inverted file past a threshold); call after bulk
    // adds.
    void optimise();
    // Writes the FAISS indexes next to the catalog: each new segment file and then snapshot.json through a
    // temporary file, fsync and rename, then the directory is synced; a crash, power loss or full disk leaves
    // the previous snapshot whole (StoreError on failure). Read-only stores throw StoreError.
    void save_snapshot();
    // Drops deleted rows from the catalog for good and rebuilds the indexes. Returns rows removed.
    std::int64_t compact();
    StoreStats stats() const;
    // Hits, misses and size of the query cache (all zero when it is off).
    QueryCacheStats query_cache_stats() const;
    // The in-memory figures of stats() (no catalog query): cheap enough for every metrics scrape.
    StoreStats index_stats() const;
    // Verifies the catalog (SQLite integrity_check), the snapshot's files against their checksums, and that
    // the loaded indexes hold exactly the catalog's rows (each reference once, with its descriptors). Reads
    // the whole catalog: minutes for millions of rows.
    CheckReport check() const;
    bool read_only() const { return options_.mode == OpenMode::read_only; }
    // Blocks until the background merger has nothing left to do (true), or `timeout` passed (false). For
    // tests and benchmarks that need the merged state; searches never need to wait.
    bool wait_until_merged(std::chrono::milliseconds timeout) const;

    // Catalogs up to this size get SQLite's quick_check on every open (about a second per 256 MiB here).
    static constexpr std::uintmax_t kQuickCheckBytes = 64u << 20;

private:
    // The vocabulary for a segment of the catalog rows after_id < id <= last_id, about
    // `expected_descriptors` big: the store's, or, when it has none yet or the segment outgrew it
    // (Vocabulary::groups_for), a larger one trained on a sample of those rows, which becomes the store's.
    // Null below DescriptorIndexOptions::ivf_threshold while the store has none.
    std::shared_ptr<const Vocabulary> vocabulary_for(std::int64_t after_id, std::int64_t last_id, std::size_t expected_descriptors,
                                                     const std::stop_token& stop) const;
    // Upper bound of the descriptors of catalog rows after_id < id <= last_id.
    std::size_t expected_descriptors(std::int64_t after_id, std::int64_t last_id) const;
    // The segment of catalog rows after_id < id <= last_id, its descriptors filed under vocabulary_for;
    // null when `stop` was requested first.
    std::shared_ptr<const Segment> build_segment(std::int64_t after_id, std::int64_t last_id, std::size_t expected_descriptors,
                                                 const std::stop_token& stop = {}) const;
    void load_snapshot();
    // Writers (holding write_mutex_): publish rows just made durable, and ids made inactive.
    // `covered_upto`: catalog ids up to it are accounted for (rows of other shards among them left out).
    void publish(const std::vector<std::int64_t>& ids, const std::vector<const Signature*>& signatures,
                 const std::vector<std::int64_t>& deactivated, std::int64_t covered_upto = 0);
    void request_merge();
    void merge_loop(std::stop_token stop);
    bool merge_once(const std::stop_token& stop);

    // Following a shared catalog (holding write_mutex_): rows other processes committed with ids up to
    // `upto` beyond the view's, and then every change after change_cursor_.
    void catch_up_rows_locked(std::int64_t upto);
    void follow_locked();
    // A new view of the catalog's rows (compaction, here or elsewhere), holding write_mutex_.
    void rebuild_locked();
    // The catalog's inactive ids of this store's shard: the view's tombstones.
    std::shared_ptr<std::unordered_set<std::int64_t>> tombstones() const;
    void follow_loop(std::stop_token stop);

    void require_writable(const char* what) const;
    // Checks the embedding model against the one the catalog records (and records it in a new index).
    void check_embedder();
    std::shared_ptr<const IndexView> searchable_view() const;  // StoreError without indexes
    static std::vector<std::uint8_t> encode_thumbnail(const cv::Mat& bgr);

    std::filesystem::path dir_;
    StoreOptions options_;
    SignatureExtractor extractor_;
    std::unique_ptr<DirectoryLock> lock_;  // null when read-only
    void open_sqlite_catalog();  // catalog.sqlite in dir_, with the directory's checks

    std::unique_ptr<Catalog> catalog_;
    std::unique_ptr<Searcher> searcher_;
    std::unique_ptr<QueryCache> query_cache_;  // null when off
    std::string embedder_;  // the model identity the catalog records; empty: none
    std::atomic<std::shared_ptr<const IndexView>> view_;
    // The vocabulary new segments are filed under: trained on the first segment organised with at least
    // DescriptorIndexOptions::ivf_threshold descriptors, and again, larger, on a segment that outgrew it
    // (Vocabulary::groups_for). Older segments keep theirs until a merge rebuilds them. Null before.
    mutable std::atomic<std::shared_ptr<const Vocabulary>> vocabulary_;
    std::mutex write_mutex_;                    // one writer at a time: catalog order = index order
    // SHA-256 of the segment files on disk known to hold what their names say (written or verified here);
    // a snapshot writes only the files missing from it. Guarded by write_mutex_.
    std::unordered_map<std::string, std::string> file_checksums_;
    const Segment* open_tail_ = nullptr;        // the segment new rows go to (guarded by write_mutex_)
    // Guarded by write_mutex_: the catalog's change number the view has seen, and the generation its rows
    // belong to (a snapshot records it; another process's compaction moves the catalog's on, so that the next
    // open rebuilds rather than trust rows the catalog has dropped).
    std::int64_t change_cursor_ = 0;
    std::int64_t generation_ = 0;
    std::atomic<std::int64_t> followed_{0};
    StoreStats open_stats_;
    std::atomic<std::int64_t> merges_{0};
    mutable std::mutex merge_mutex_;
    bool merge_pending_ = false;
    bool merge_idle_ = true;  // the merger waits with nothing to do
    std::condition_variable_any merge_wanted_;
    mutable std::condition_variable merge_idle_changed_;
    std::jthread merger_;  // last: stopped and joined before the members it uses go
    std::jthread follower_;  // a shared catalog's follower: stopped first
};

}  // namespace neardup::store
