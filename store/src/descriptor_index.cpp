#include "neardup/store/descriptor_index.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexBinaryIVF.h>
#include <faiss/MetaIndexes.h>
#include <faiss/index_io.h>

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
    index_->add_with_ids(static_cast<faiss::IndexBinary::idx_t>(n), features.descriptors.data(), ids.data());
}

std::size_t DescriptorIndex::size() const { return static_cast<std::size_t>(index_->ntotal); }

bool DescriptorIndex::search(const LocalFeatures& q, DescriptorNeighbours& into) const {
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
    if (detail::fast_scan_supported(*index_))
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
    out.index_ = detail::clone_binary_index(*index_);
    if (auto* ivf = dynamic_cast<faiss::IndexBinaryIVF*>(out.index_.get())) ivf->nprobe = dynamic_cast<const faiss::IndexBinaryIVF&>(*index_).nprobe;
    return out;
}

void DescriptorIndex::optimise() {
    auto* map = dynamic_cast<faiss::IndexBinaryIDMap*>(index_.get());
    if (!map || static_cast<std::size_t>(map->ntotal) < options_.ivf_threshold) return;
    const auto* flat = dynamic_cast<const faiss::IndexBinaryFlat*>(map->index);
    if (!flat) return;
    const std::size_t n = static_cast<std::size_t>(map->ntotal);
    // About 3 sqrt(n) lists: with 8 probes, the centroids compared and the codes scanned per query
    // descriptor are then about equal (sqrt(n * nprobe)), which minimises their sum.
    // (An HNSW quantizer over the centroids was measured too: slower at 10k references than this exact
    // scan once the scan uses POPCNT, see hamming_scan.hpp.)
    const std::size_t nlist = std::clamp<std::size_t>(static_cast<std::size_t>(3 * std::sqrt(double(n))), 256, 65536);
    auto* quantizer = new faiss::IndexBinaryFlat(kBits);
    auto ivf = std::make_unique<faiss::IndexBinaryIVF>(quantizer, kBits, nlist);
    ivf->own_fields = true;
    ivf->nprobe = std::min<std::size_t>(nlist, static_cast<std::size_t>(options_.nprobe));
    ivf->cp.niter = 10;  // binary k-means converges in few iterations; training time dominates bulk builds
    // At most 64k training points: k-means cost is points x lists, and beyond this the lists barely move.
    const std::size_t train_n = std::min<std::size_t>({n, nlist * 40, std::size_t{65536}});
    std::vector<std::uint8_t> sample(train_n * kBytes);
    std::mt19937_64 rng(42);
    for (std::size_t i = 0; i < train_n; ++i) {
        const std::size_t pick = rng() % n;
        std::copy_n(flat->xb.data() + pick * kBytes, kBytes, sample.data() + i * kBytes);
    }
    ivf->train(static_cast<faiss::IndexBinary::idx_t>(train_n), sample.data());
    // Each descriptor's list is its nearest centroid, found by the POPCNT scan (FAISS's own assignment
    // pays a libgcc call per popcount: it made up nearly all of a 100k-reference build).
    std::vector<faiss::IndexBinary::idx_t> lists(n);
    const auto* centroids = static_cast<const faiss::IndexBinaryFlat*>(ivf->quantizer);
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, 1024), [&](const tbb::blocked_range<std::size_t>& rows) {
        for (std::size_t i = rows.begin(); i < rows.end(); ++i) {
            std::int32_t distance;
            std::int64_t list;
            NearestK nearest(1, &distance, &list);
            scan_hamming32(flat->xb.data() + i * kBytes, centroids->xb.data(), nullptr, static_cast<std::size_t>(centroids->ntotal), nearest);
            lists[i] = list;
        }
    });
    ivf->add_core(static_cast<faiss::IndexBinary::idx_t>(n), flat->xb.data(), map->id_map.data(), lists.data());
    index_ = std::move(ivf);
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
