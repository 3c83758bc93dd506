// Local-feature descriptors of every reference in one FAISS binary index; candidates come from votes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <unordered_map>
#include <vector>

#include "neardup/engine/local_features.hpp"
#include "neardup/store/vocabulary.hpp"

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
    // From this many descriptors an index is organised as an inverted file over a vocabulary of visual
    // words (vocabulary.hpp; a store trains one when its first segment gets this big and then files every
    // segment under it, retraining a larger one as it grows). Below it, and before any vocabulary, exact
    // search: 32k descriptors (about 256 references) is where that scan costs a few ms per query.
    std::size_t ivf_threshold = 32'768;
    // Lists scanned per query descriptor: the `nprobe` nearest words among those of the `probe_groups`
    // nearest vocabulary groups. Chosen on the offline benchmark (2026-12-02, README "Quality"): 8 of 2
    // groups lost 0.005 muAP; 16 of 4 kept every figure or lost a pair, depending on the vocabulary's
    // training sample; 32 of 4 keeps every figure at or above the per-segment inverted files' before it.
    int nprobe = 32;
    int probe_groups = 4;
    // Of those, only the words at most this many bits farther from the query descriptor than its nearest
    // word (negative: all nprobe). A descriptor deep inside its word's cell has its neighbours there; one
    // near a border has several words at similar distances and keeps them.
    int probe_margin = -1;
    // Entries read per query descriptor at most (0: no limit): the probed words' lists are scanned nearest
    // word first until this many entries have been read (the list that crosses it whole, the nearest word's
    // always). Lists grow with the index, so the probes' cost would too; the budget keeps it flat and spends
    // it where the query descriptor lies, on more words where their lists are short. Per segment searched.
    // 8192 (README "Speed", 2026-12-07): chosen on the train split with 20k distractors, where it kept every
    // figure (4096 lost 0.006 muAP there); the offline benchmark's figures the same.
    int max_codes = 8192;
    // With a vocabulary, the list walk reads short codes first: each indexed descriptor's first 64 bits
    // (ORB's tests are ordered by variance and decorrelated, so any 64 of them sample the whole distance),
    // 8 bytes an entry where the whole code and its id are 40. The `shortlist` entries nearest on those
    // bits are then measured on all 256 bits for the k nearest. 0 (the default): every entry on all 256
    // bits. Costs 8 B of memory per indexed descriptor when on. Measured and not adopted (README "Speed"):
    // at 1M references 64 saved 17 % of the descriptor search and lost 2 of 200 matches, 128 saved nothing.
    int shortlist = 0;
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

// The words each query descriptor probes, assigned once per vocabulary however many segments share it.
class WordProbes {
public:
    // rows x nprobe word ids (-1 where fewer) of the query's first `rows` descriptors in `vocabulary`.
    const std::int64_t* lists(const Vocabulary& vocabulary, const LocalFeatures& query, std::size_t rows, int probe_groups, int nprobe,
                              int margin);

private:
    struct Entry {
        const Vocabulary* vocabulary;
        std::size_t rows;
        std::vector<std::int64_t> lists;
    };
    std::vector<Entry> entries_;
};

class DescriptorIndex {
public:
    explicit DescriptorIndex(DescriptorIndexOptions options = {});
    ~DescriptorIndex();
    DescriptorIndex(DescriptorIndex&&) noexcept;
    DescriptorIndex& operator=(DescriptorIndex&&) noexcept;

    // Only binary 32-byte descriptors (ORB) are indexed; other kinds are ignored (PDQ candidates only).
    void add(std::int64_t id, const LocalFeatures& features);
    // The same for many references, their descriptors assigned to words in parallel.
    void add_many(const std::vector<std::int64_t>& ids, const std::vector<const LocalFeatures*>& features);
    std::size_t size() const;  // descriptors
    // Descriptors indexed per reference id (for consistency checks).
    std::unordered_map<std::int64_t, int> per_reference_counts() const;
    // Votes per reference from the query's descriptors, best first, at most `limit`.
    std::vector<Vote> vote(const std::vector<const LocalFeatures*>& queries, std::size_t limit) const;
    // Searches the query's strongest descriptors (options.query_descriptors) and merges the hits into
    // `into`, which starts empty (rows 0) for the first index searched. False for descriptors not indexed
    // here (not 32-byte binary).
    // `probes` (optional) shares word assignments between segments searched for the same query.
    bool search(const LocalFeatures& query, DescriptorNeighbours& into, WordProbes* probes = nullptr) const;
    // Adds the votes of merged neighbours: within max_distance and within `ratio` of the k-th neighbour,
    // one per query descriptor per reference.
    static void count_votes(const DescriptorNeighbours& neighbours, const DescriptorIndexOptions& options,
                            std::unordered_map<std::int64_t, int>& votes);
    static std::vector<Vote> rank_votes(const std::unordered_map<std::int64_t, int>& votes, std::size_t limit);
    // A copy (segments clone their open tail to publish it with new rows).
    DescriptorIndex clone() const;
    const DescriptorIndexOptions& options() const { return options_; }

    // Rebuilds as an inverted file over a vocabulary trained on its own descriptors when the size crossed
    // ivf_threshold (call after bulk adds).
    void optimise();
    // A vocabulary sized for this index (Vocabulary::groups_for), trained on its descriptors; the index must
    // be flat (not yet organised).
    Vocabulary train_vocabulary() const;
    // Rebuilds a flat index as an inverted file whose lists are `vocabulary`'s words; later adds are filed
    // under it too. Any size; a no-op on an index already organised.
    void organise(std::shared_ptr<const Vocabulary> vocabulary);
    // The vocabulary the lists follow; null for a flat index (or an inverted file of an older format,
    // whose lists are found by scanning every centroid).
    const std::shared_ptr<const Vocabulary>& vocabulary() const { return vocabulary_; }
    // For an index loaded from a file: its inverted file's centroids are a vocabulary of `groups` groups.
    // Shares one of `known` with the same words, or makes (and appends) a new one. StoreError when the
    // index is not an inverted file of that shape.
    void attach_vocabulary(std::size_t groups, std::vector<std::shared_ptr<const Vocabulary>>& known);

    // The FAISS serialisation; the file form is written durably (temporary file, fsync, rename).
    void save(faiss::IOWriter& out) const;
    void save(const std::filesystem::path& file) const;
    static DescriptorIndex load(const std::filesystem::path& file, DescriptorIndexOptions options = {});

    // Ids are (reference id << 8) | keypoint index, so a neighbour names its reference without a table.
    static constexpr int kKeypointBits = 8;

private:
    // Short codes (first 8 bytes of each code) of the inverted lists: all of them, or those of the lists
    // named (appending what the list gained since).
    void rebuild_short_codes();
    void sync_short_codes(const std::int64_t* lists, std::size_t n);

    DescriptorIndexOptions options_;
    std::shared_ptr<const Vocabulary> vocabulary_;  // before index_: it may point to the vocabulary's quantizer
    std::unique_ptr<faiss::IndexBinary> index_;
    // With a vocabulary and a shortlist: per inverted list, its entries' short codes in list order.
    std::vector<std::vector<std::uint64_t>> short_codes_;
};

}  // namespace neardup::store
