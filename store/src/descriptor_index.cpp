#include "neardup/store/descriptor_index.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexBinaryIVF.h>
#include <faiss/MetaIndexes.h>
#include <faiss/index_io.h>
#include <faiss/invlists/InvertedLists.h>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include "durable_file.hpp"
#include "faiss_clone.hpp"
#include "neardup/engine/hamming.hpp"
#include "hamming_scan.hpp"
#include "neardup/store/catalog.hpp"

namespace neardup::store {
namespace {

constexpr int kBits = 256;  // ORB: 32 bytes
constexpr int kBytes = kBits / 8;

std::unique_ptr<faiss::IndexBinary> flat_index() {
    auto map = std::make_unique<faiss::IndexBinaryIDMap>(new faiss::IndexBinaryFlat(kBits));
    map->own_fields = true;
    return map;
}

// How many of a query descriptor's probed lists (nearest word first) fit `max_codes` entries: the first,
// and each next one while fewer than max_codes have been read before it. All of them when max_codes <= 0.
int probes_within_budget(const faiss::IndexBinaryIVF& ivf, const std::int64_t* lists, int nprobe, int max_codes) {
    if (max_codes <= 0) return nprobe;
    std::size_t read = 0;
    for (int p = 0; p < nprobe; ++p) {
        if (p > 0 && read >= static_cast<std::size_t>(max_codes)) return p;
        if (lists[p] >= 0) read += ivf.invlists->list_size(static_cast<std::size_t>(lists[p]));
    }
    return nprobe;
}

}  // namespace

DescriptorIndex::DescriptorIndex(DescriptorIndexOptions options) : options_(options), index_(flat_index()) {
    if (options_.per_reference < 1 || options_.per_reference > (1 << kKeypointBits))
        throw std::invalid_argument("DescriptorIndexOptions::per_reference must be in [1, 256]");
}
DescriptorIndex::~DescriptorIndex() = default;
DescriptorIndex::DescriptorIndex(DescriptorIndex&&) noexcept = default;
DescriptorIndex& DescriptorIndex::operator=(DescriptorIndex&&) noexcept = default;

void DescriptorIndex::add(std::int64_t id, const LocalFeatures& features) {
    if (descriptor_bytes(features.kind) != kBytes || features.size() == 0) return;  // binary 32-byte only (ORB)
    // Keypoints are stored so that every prefix is spread over the image, strongest first within that.
    const std::size_t n = std::min<std::size_t>(features.size(), options_.per_reference);
    std::vector<faiss::IndexBinary::idx_t> ids(n);
    for (std::size_t i = 0; i < n; ++i) ids[i] = (id << kKeypointBits) | static_cast<faiss::IndexBinary::idx_t>(i);
    if (vocabulary_) {
        std::vector<faiss::IndexBinary::idx_t> lists(n);
        for (std::size_t i = 0; i < n; ++i) lists[i] = vocabulary_->assign(features.descriptors.data() + i * kBytes);
        static_cast<faiss::IndexBinaryIVF&>(*index_).add_core(static_cast<faiss::IndexBinary::idx_t>(n), features.descriptors.data(),
                                                             ids.data(), lists.data());
        sync_short_codes(lists.data(), n);
        return;
    }
    index_->add_with_ids(static_cast<faiss::IndexBinary::idx_t>(n), features.descriptors.data(), ids.data());
}

void DescriptorIndex::add_many(const std::vector<std::int64_t>& ids, const std::vector<const LocalFeatures*>& features) {
    if (!vocabulary_) {
        for (std::size_t i = 0; i < ids.size(); ++i) add(ids[i], *features[i]);
        return;
    }
    std::vector<std::uint8_t> codes;
    std::vector<faiss::IndexBinary::idx_t> labels;
    for (std::size_t r = 0; r < ids.size(); ++r) {
        const LocalFeatures& f = *features[r];
        if (descriptor_bytes(f.kind) != kBytes) continue;
        const std::size_t n = std::min<std::size_t>(f.size(), options_.per_reference);
        codes.insert(codes.end(), f.descriptors.begin(), f.descriptors.begin() + static_cast<std::ptrdiff_t>(n * kBytes));
        for (std::size_t i = 0; i < n; ++i) labels.push_back((ids[r] << kKeypointBits) | static_cast<faiss::IndexBinary::idx_t>(i));
    }
    std::vector<faiss::IndexBinary::idx_t> lists(labels.size());
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, lists.size(), 1024), [&](const tbb::blocked_range<std::size_t>& rows) {
        for (std::size_t i = rows.begin(); i < rows.end(); ++i) lists[i] = vocabulary_->assign(codes.data() + i * kBytes);
    });
    if (!lists.empty())
        static_cast<faiss::IndexBinaryIVF&>(*index_).add_core(static_cast<faiss::IndexBinary::idx_t>(lists.size()), codes.data(),
                                                             labels.data(), lists.data());
    sync_short_codes(lists.data(), lists.size());
}

void DescriptorIndex::rebuild_short_codes() {
    short_codes_.clear();
    const auto* ivf = dynamic_cast<const faiss::IndexBinaryIVF*>(index_.get());
    if (!vocabulary_ || !ivf || options_.shortlist <= 0) return;
    short_codes_.resize(ivf->nlist);
    std::vector<std::int64_t> all(ivf->nlist);
    for (std::size_t l = 0; l < all.size(); ++l) all[l] = static_cast<std::int64_t>(l);
    sync_short_codes(all.data(), all.size());
}

void DescriptorIndex::sync_short_codes(const std::int64_t* lists, std::size_t n) {
    const auto* ivf = dynamic_cast<const faiss::IndexBinaryIVF*>(index_.get());
    if (!vocabulary_ || !ivf || options_.shortlist <= 0) return;
    if (short_codes_.size() != ivf->nlist) short_codes_.resize(ivf->nlist);
    for (std::size_t i = 0; i < n; ++i) {
        if (lists[i] < 0) continue;
        const auto list = static_cast<std::size_t>(lists[i]);
        auto& shorts = short_codes_[list];
        const std::size_t size = ivf->invlists->list_size(list);
        if (shorts.size() >= size) continue;
        faiss::InvertedLists::ScopedCodes codes(ivf->invlists, list);
        for (std::size_t j = shorts.size(); j < size; ++j) {
            std::uint64_t code;
            std::memcpy(&code, codes.get() + j * kBytes, sizeof code);
            shorts.push_back(code);
        }
    }
}

const std::int64_t* WordProbes::lists(const Vocabulary& vocabulary, const LocalFeatures& query, std::size_t rows, int probe_groups,
                                      int nprobe, int margin) {
    for (const auto& e : entries_)
        if (e.vocabulary == &vocabulary && e.rows >= rows) return e.lists.data();
    Entry e{&vocabulary, rows, std::vector<std::int64_t>(rows * static_cast<std::size_t>(nprobe))};
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, rows, 16), [&](const tbb::blocked_range<std::size_t>& r) {
        for (std::size_t i = r.begin(); i < r.end(); ++i)
            vocabulary.probe(query.descriptors.data() + i * kBytes, probe_groups, nprobe, e.lists.data() + i * nprobe, margin);
    });
    entries_.push_back(std::move(e));
    return entries_.back().lists.data();
}

std::size_t DescriptorIndex::size() const { return static_cast<std::size_t>(index_->ntotal); }

bool DescriptorIndex::search(const LocalFeatures& q, DescriptorNeighbours& into, WordProbes* probes) const {
    if (q.size() == 0 || descriptor_bytes(q.kind) != kBytes) return false;
    // Only the strongest descriptors search: the votes of a copy come from them, and search time is linear
    // in their number.
    const std::size_t n = std::min<std::size_t>(q.size(), options_.query_descriptors);
    if (into.rows == 0) {
        into.k = options_.neighbours;
        into.rows = n;
        into.distances.assign(n * into.k, DescriptorNeighbours::kEmpty);
        into.labels.assign(n * into.k, -1);
    }
    if (index_->ntotal == 0 || into.k <= 0) return true;
    const int k = into.k;
    const int kk = static_cast<int>(std::min<faiss::IndexBinary::idx_t>(k, index_->ntotal));
    const std::size_t rows = std::min(n, into.rows);
    std::vector<std::int32_t> distances(rows * kk);
    std::vector<faiss::IndexBinary::idx_t> labels(rows * kk);
    if (vocabulary_) {
        // The lists of the probed words, each scanned with the POPCNT scan.
        WordProbes own;
        const int nprobe = static_cast<int>(std::clamp<std::size_t>(static_cast<std::size_t>(std::max(1, options_.nprobe)), 1, vocabulary_->size()));
        const std::int64_t* lists = (probes ? *probes : own).lists(*vocabulary_, q, rows, options_.probe_groups, nprobe, options_.probe_margin);
        const auto& ivf = static_cast<const faiss::IndexBinaryIVF&>(*index_);
        const int shortlist = options_.shortlist > 0 ? std::max(options_.shortlist, kk) : 0;
        // FAISS's in-memory lists, read directly (their accessors are virtual calls per entry).
        const auto* array = dynamic_cast<const faiss::ArrayInvertedLists*>(ivf.invlists);
        tbb::parallel_for(tbb::blocked_range<std::size_t>(0, rows, 16), [&](const tbb::blocked_range<std::size_t>& r) {
            std::vector<std::uint8_t> short_distances;
            std::vector<std::size_t> starts(static_cast<std::size_t>(nprobe) + 1);
            for (std::size_t i = r.begin(); i < r.end(); ++i) {
                NearestK nearest(kk, distances.data() + i * kk, labels.data() + i * kk);
                const std::uint8_t* descriptor = q.descriptors.data() + i * kBytes;
                const std::int64_t* row_lists = lists + i * nprobe;
                const int probes = probes_within_budget(ivf, row_lists, nprobe, options_.max_codes);
                if (shortlist > 0 && array) {
                    // Short distances to every entry of the probed lists, and their histogram...
                    std::uint64_t query_short;
                    std::memcpy(&query_short, descriptor, sizeof query_short);
                    for (int p = 0; p < probes; ++p)
                        starts[p + 1] = starts[p] + (row_lists[p] < 0 ? 0 : short_codes_[static_cast<std::size_t>(row_lists[p])].size());
                    short_distances.resize(starts[probes]);
                    int histogram[65] = {};
                    for (int p = 0; p < probes; ++p) {
                        if (starts[p + 1] == starts[p]) continue;
                        const auto& shorts = short_codes_[static_cast<std::size_t>(row_lists[p])];
                        detail::distances_hamming8(query_short, shorts.data(), shorts.size(), short_distances.data() + starts[p], histogram);
                    }
                    // ...the shortlist: every entry under the distance where `shortlist` are reached, and
                    // those at it in list order, each measured on all 256 bits.
                    int cutoff = 0, below = 0;
                    while (cutoff <= 64 && below + histogram[cutoff] < shortlist) below += histogram[cutoff++];
                    int at_cutoff = shortlist - below;
                    for (int p = 0; p < probes; ++p) {
                        if (starts[p + 1] == starts[p]) continue;
                        const auto list = static_cast<std::size_t>(row_lists[p]);
                        const std::uint8_t* codes = array->codes[list].data();
                        const std::int64_t* ids = array->ids[list].data();
                        for (std::size_t j = 0, n = starts[p + 1] - starts[p]; j < n; ++j) {
                            const int d = short_distances[starts[p] + j];
                            if (d > cutoff || (d == cutoff && at_cutoff-- <= 0)) continue;
                            scan_hamming32(descriptor, codes + j * kBytes, ids + j, 1, nearest);
                        }
                    }
                    continue;
                }
                for (int p = 0; p < probes; ++p) {
                    const std::int64_t list = row_lists[p];
                    if (list < 0) continue;
                    const std::size_t size = ivf.invlists->list_size(static_cast<std::size_t>(list));
                    if (size == 0) continue;
                    faiss::InvertedLists::ScopedCodes codes(ivf.invlists, static_cast<std::size_t>(list));
                    faiss::InvertedLists::ScopedIds ids(ivf.invlists, static_cast<std::size_t>(list));
                    scan_hamming32(descriptor, codes.get(), ids.get(), size, nearest);
                }
            }
        });
    } else if (detail::fast_scan_supported(*index_))
        detail::fast_scan(*index_, static_cast<std::int64_t>(rows), q.descriptors.data(), kk, distances.data(), labels.data());
    else
        index_->search(static_cast<faiss::IndexBinary::idx_t>(rows), q.descriptors.data(), kk, distances.data(), labels.data());
    // Merge two sorted lists per row, keeping the k nearest.
    std::vector<std::int32_t> md(k);
    std::vector<std::int64_t> ml(k);
    for (std::size_t i = 0; i < rows; ++i) {
        const std::int32_t* ad = &into.distances[i * k];
        const std::int64_t* al = &into.labels[i * k];
        const std::int32_t* bd = &distances[i * kk];
        const faiss::IndexBinary::idx_t* bl = &labels[i * kk];
        int a = 0, b = 0;
        for (int j = 0; j < k; ++j) {
            const bool b_valid = b < kk && bl[b] >= 0;
            if (b_valid && (a >= k || bd[b] < ad[a])) {
                md[j] = bd[b];
                ml[j] = bl[b++];
            } else if (a < k) {
                md[j] = ad[a];
                ml[j] = al[a++];
            } else {
                md[j] = DescriptorNeighbours::kEmpty;
                ml[j] = -1;
            }
        }
        std::copy(md.begin(), md.end(), into.distances.begin() + static_cast<std::ptrdiff_t>(i * k));
        std::copy(ml.begin(), ml.end(), into.labels.begin() + static_cast<std::ptrdiff_t>(i * k));
    }
    return true;
}

void DescriptorIndex::count_votes(const DescriptorNeighbours& nb, const DescriptorIndexOptions& options,
                                  std::unordered_map<std::int64_t, int>& votes) {
    const int k = nb.k;
    for (std::size_t i = 0; i < nb.rows; ++i) {
        // One vote per query descriptor per reference, however many of its keypoints are near.
        std::int64_t voted[64];
        int nvoted = 0;
        // A neighbour votes only if clearly nearer than the farthest of the k: a generic descriptor (an edge,
        // text) has a crowd of neighbours at similar distances and says nothing about which reference the
        // query copies; a distinctive one stands out from its crowd (Lowe's ratio, taken against the k-th
        // neighbour because near-duplicate references may hold the first two).
        const std::int64_t last_label = nb.labels[i * k + k - 1];
        const double limit = last_label < 0 ? options.max_distance
                                            : std::min<double>(options.max_distance, options.ratio * nb.distances[i * k + k - 1]);
        for (int j = 0; j < k; ++j) {
            const auto label = nb.labels[i * k + j];
            if (label < 0 || nb.distances[i * k + j] > limit) continue;
            const std::int64_t ref = label >> kKeypointBits;
            if (std::find(voted, voted + nvoted, ref) != voted + nvoted) continue;
            if (nvoted < 64) voted[nvoted++] = ref;
            ++votes[ref];
        }
    }
}

std::vector<Vote> DescriptorIndex::rank_votes(const std::unordered_map<std::int64_t, int>& votes, std::size_t limit) {
    std::vector<Vote> out;
    out.reserve(votes.size());
    for (const auto& [id, v] : votes) out.push_back({id, v});
    std::sort(out.begin(), out.end(), [](const Vote& a, const Vote& b) { return a.votes != b.votes ? a.votes > b.votes : a.id < b.id; });
    if (out.size() > limit) out.resize(limit);
    return out;
}

std::vector<Vote> DescriptorIndex::vote(const std::vector<const LocalFeatures*>& queries, std::size_t limit) const {
    std::unordered_map<std::int64_t, int> votes;
    for (const LocalFeatures* q : queries) {
        DescriptorNeighbours nb;
        if (q && search(*q, nb)) count_votes(nb, options_, votes);
    }
    return rank_votes(votes, limit);
}

DescriptorIndex DescriptorIndex::clone() const {
    DescriptorIndex out(options_);
    out.vocabulary_ = vocabulary_;
    if (vocabulary_) {
        // The lists are copied; the quantizer stays the vocabulary's (serialising it would copy every word).
        const auto& ivf = static_cast<const faiss::IndexBinaryIVF&>(*index_);
        auto copy = std::make_unique<faiss::IndexBinaryIVF>(vocabulary_->quantizer(), kBits, ivf.nlist);
        copy->own_fields = false;
        copy->is_trained = true;
        copy->nprobe = ivf.nprobe;
        copy->replace_invlists(new faiss::ArrayInvertedLists(dynamic_cast<const faiss::ArrayInvertedLists&>(*ivf.invlists)), true);
        copy->ntotal = ivf.ntotal;
        out.index_ = std::move(copy);
        out.short_codes_ = short_codes_;
        return out;
    }
    out.index_ = detail::clone_binary_index(*index_);
    if (auto* ivf = dynamic_cast<faiss::IndexBinaryIVF*>(out.index_.get())) ivf->nprobe = dynamic_cast<const faiss::IndexBinaryIVF&>(*index_).nprobe;
    return out;
}

void DescriptorIndex::optimise() {
    if (vocabulary_ || size() < options_.ivf_threshold) return;
    organise(std::make_shared<const Vocabulary>(train_vocabulary()));
}

Vocabulary DescriptorIndex::train_vocabulary() const {
    const auto* map = dynamic_cast<const faiss::IndexBinaryIDMap*>(index_.get());
    const auto* flat = map ? dynamic_cast<const faiss::IndexBinaryFlat*>(map->index) : nullptr;
    if (!flat || flat->ntotal == 0) throw StoreError("descriptor index: a vocabulary is trained on a flat index with descriptors");
    const std::size_t n = static_cast<std::size_t>(flat->ntotal);
    const std::size_t groups = Vocabulary::groups_for(n);
    return Vocabulary::train(flat->xb.data(), n, groups, groups);
}

void DescriptorIndex::organise(std::shared_ptr<const Vocabulary> vocabulary) {
    if (!vocabulary || vocabulary_) return;
    auto* map = dynamic_cast<faiss::IndexBinaryIDMap*>(index_.get());
    const auto* flat = map ? dynamic_cast<const faiss::IndexBinaryFlat*>(map->index) : nullptr;
    if (!flat) return;  // an inverted file of an older format: kept as it is
    const std::size_t n = static_cast<std::size_t>(map->ntotal);
    // The inverted file's quantizer is the vocabulary's words (written with it, so that its file alone
    // gives the vocabulary back; shared in memory).
    auto ivf = std::make_unique<faiss::IndexBinaryIVF>(vocabulary->quantizer(), kBits, vocabulary->size());
    ivf->own_fields = false;
    ivf->is_trained = true;
    ivf->nprobe = std::min<std::size_t>(vocabulary->size(), static_cast<std::size_t>(std::max(1, options_.nprobe)));
    std::vector<faiss::IndexBinary::idx_t> lists(n);
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, 1024), [&](const tbb::blocked_range<std::size_t>& rows) {
        for (std::size_t i = rows.begin(); i < rows.end(); ++i) lists[i] = vocabulary->assign(flat->xb.data() + i * kBytes);
    });
    if (n > 0) ivf->add_core(static_cast<faiss::IndexBinary::idx_t>(n), flat->xb.data(), map->id_map.data(), lists.data());
    index_ = std::move(ivf);
    vocabulary_ = std::move(vocabulary);
    rebuild_short_codes();
}

void DescriptorIndex::attach_vocabulary(std::size_t groups, std::vector<std::shared_ptr<const Vocabulary>>& known) {
    const auto* ivf = dynamic_cast<const faiss::IndexBinaryIVF*>(index_.get());
    const auto* quantizer = ivf ? dynamic_cast<const faiss::IndexBinaryFlat*>(ivf->quantizer) : nullptr;
    if (!quantizer || groups == 0 || quantizer->code_size != static_cast<int>(kBytes) || quantizer->ntotal == 0 ||
        static_cast<std::size_t>(quantizer->ntotal) % groups != 0)
        throw StoreError("descriptor index: not an inverted file over a vocabulary of " + std::to_string(groups) + " groups");
    auto vocabulary = std::make_shared<const Vocabulary>(quantizer->xb, groups);
    for (const auto& k : known)
        if (k->same_words(*vocabulary)) vocabulary = k;
    if (std::find(known.begin(), known.end(), vocabulary) == known.end()) known.push_back(vocabulary);
    // The loaded quantizer gives way to the shared one (same words).
    auto& index = static_cast<faiss::IndexBinaryIVF&>(*index_);
    if (index.own_fields) delete index.quantizer;
    index.quantizer = vocabulary->quantizer();
    index.own_fields = false;
    vocabulary_ = std::move(vocabulary);
    rebuild_short_codes();
}

std::unordered_map<std::int64_t, int> DescriptorIndex::per_reference_counts() const {
    std::unordered_map<std::int64_t, int> out;
    if (const auto* map = dynamic_cast<const faiss::IndexBinaryIDMap*>(index_.get())) {
        for (const auto id : map->id_map) ++out[id >> kKeypointBits];
    } else if (const auto* ivf = dynamic_cast<const faiss::IndexBinaryIVF*>(index_.get())) {
        for (std::size_t list = 0; list < ivf->nlist; ++list) {
            const std::size_t n = ivf->invlists->list_size(list);
            const auto* ids = ivf->invlists->get_ids(list);
            for (std::size_t i = 0; i < n; ++i) ++out[ids[i] >> kKeypointBits];
            ivf->invlists->release_ids(list, ids);
        }
    } else {
        throw StoreError("descriptor index: a kind this build does not list");
    }
    return out;
}

void DescriptorIndex::save(faiss::IOWriter& out) const { faiss::write_index_binary(index_.get(), &out); }

void DescriptorIndex::save(const std::filesystem::path& file) const {
    const auto dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
    write_file_durably(dir, file.filename().string(), [&](faiss::IOWriter& out) { save(out); });
}

DescriptorIndex DescriptorIndex::load(const std::filesystem::path& file, DescriptorIndexOptions options) {
    DescriptorIndex out(options);
    try {
        out.index_.reset(faiss::read_index_binary(file.c_str()));
    } catch (const std::exception& e) {
        throw StoreError("cannot read descriptor index " + file.string() + ": " + e.what());
    }
    if (auto* ivf = dynamic_cast<faiss::IndexBinaryIVF*>(out.index_.get()))
        ivf->nprobe = std::min<std::size_t>(ivf->nlist, static_cast<std::size_t>(options.nprobe));
    return out;
}

}  // namespace neardup::store
