#include "neardup/store/vocabulary.hpp"

#include <algorithm>
#include <bit>
#include <numeric>
#include <random>
#include <stdexcept>

#include <faiss/Clustering.h>
#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexFlat.h>
#include <faiss/utils/utils.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include "neardup/engine/hamming.hpp"

namespace neardup::store {
namespace {

constexpr std::size_t kBytes = kBinaryDescriptorBytes;
constexpr std::size_t kBits = kBytes * 8;

// The bitwise majority of n rows (ties to 0): the binary centre that minimises the summed Hamming distance.
void majority(const std::uint8_t* rows, std::size_t n, std::uint8_t* out) {
    int ones[kBits] = {};
    for (std::size_t r = 0; r < n; ++r)
        for (std::size_t b = 0; b < kBits; ++b) ones[b] += (rows[r * kBytes + b / 8] >> (b % 8)) & 1;
    for (std::size_t i = 0; i < kBytes; ++i) {
        std::uint8_t byte = 0;
        for (int bit = 0; bit < 8; ++bit)
            if (2 * ones[i * 8 + bit] > static_cast<int>(n)) byte |= static_cast<std::uint8_t>(1u << bit);
        out[i] = byte;
    }
}

// k binary centres of the n rows: FAISS k-means on the rows as +-1 vectors, centres thresholded at 0.
std::vector<std::uint8_t> kmeans(const std::uint8_t* rows, std::size_t n, std::size_t k, std::uint64_t seed) {
    std::vector<std::uint8_t> out(k * kBytes);
    if (n <= k) {  // too few to cluster: the rows themselves, the last repeated
        for (std::size_t i = 0; i < k; ++i) std::copy_n(rows + std::min(i, n - 1) * kBytes, kBytes, out.data() + i * kBytes);
        return out;
    }
    // At most 256 points per centre take part (FAISS would subsample to that anyway): chosen here, before
    // the float copy, which would otherwise take 1 KiB per point of the whole sample.
    constexpr std::size_t kMaxPointsPerCentre = 256;
    std::vector<std::size_t> pick(n);
    std::iota(pick.begin(), pick.end(), std::size_t{0});
    if (n > k * kMaxPointsPerCentre) {
        std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);
        std::shuffle(pick.begin(), pick.end(), rng);
        pick.resize(k * kMaxPointsPerCentre);
        std::sort(pick.begin(), pick.end());
        n = pick.size();
    }
    std::vector<float> x(n * kBits);
    for (std::size_t i = 0; i < n; ++i) faiss::binary_to_real(kBits, rows + pick[i] * kBytes, x.data() + i * kBits);
    faiss::ClusteringParameters cp;
    cp.niter = 8;  // binary centres settle in few iterations; training dominates the first bulk build otherwise
    cp.seed = static_cast<int>(seed & 0x7fffffff);
    cp.min_points_per_centroid = 1;  // small groups are expected: no warning on stderr
    cp.max_points_per_centroid = static_cast<int>(kMaxPointsPerCentre);
    faiss::Clustering clustering(static_cast<int>(kBits), static_cast<int>(k), cp);
    faiss::IndexFlatL2 space(static_cast<faiss::Index::idx_t>(kBits));
    clustering.train(static_cast<faiss::Index::idx_t>(n), x.data(), space);
    for (std::size_t i = 0; i < k; ++i) faiss::real_to_binary(kBits, clustering.centroids.data() + i * kBits, out.data() + i * kBytes);
    return out;
}

}  // namespace

Vocabulary::Vocabulary(const std::vector<std::uint8_t>& words, std::size_t groups)
    : words_(std::make_unique<faiss::IndexBinaryFlat>(static_cast<faiss::IndexBinary::idx_t>(kBits))), groups_(groups) {
    if (groups_ == 0 || words.empty() || words.size() % (groups_ * kBytes) != 0)
        throw std::invalid_argument("Vocabulary: the words must be groups x per_group rows of 32 bytes");
    per_group_ = words.size() / (groups_ * kBytes);
    words_->add(static_cast<faiss::IndexBinary::idx_t>(words.size() / kBytes), words.data());
    centres_.resize(groups_ * kBytes);
    for (std::size_t g = 0; g < groups_; ++g) majority(words.data() + g * per_group_ * kBytes, per_group_, centres_.data() + g * kBytes);
}

Vocabulary::~Vocabulary() = default;
Vocabulary::Vocabulary(Vocabulary&&) noexcept = default;
Vocabulary& Vocabulary::operator=(Vocabulary&&) noexcept = default;

const std::uint8_t* Vocabulary::words() const { return words_->xb.data(); }

bool Vocabulary::same_words(const Vocabulary& other) const { return groups_ == other.groups_ && words_->xb == other.words_->xb; }

std::size_t Vocabulary::groups_for(std::size_t descriptors) {
    std::size_t g = 16;
    while (g < 512 && (2 * g) * (2 * g) * 64 <= descriptors) g *= 2;
    return g;
}

Vocabulary Vocabulary::train(const std::uint8_t* descriptors, std::size_t n, std::size_t groups, std::size_t per_group,
                             std::uint64_t seed) {
    if (n == 0 || groups == 0 || per_group == 0) throw std::invalid_argument("Vocabulary::train: nothing to train on");
    // A sample: k-means cost is points x centres, and ~24 points per word place it well enough.
    std::vector<std::size_t> pick(n);
    std::iota(pick.begin(), pick.end(), std::size_t{0});
    const std::size_t sample_n = std::min(n, groups * per_group * 24);
    std::mt19937_64 rng(seed);
    if (sample_n < n) {
        std::shuffle(pick.begin(), pick.end(), rng);
        pick.resize(sample_n);
        std::sort(pick.begin(), pick.end());
    }
    std::vector<std::uint8_t> sample(sample_n * kBytes);
    for (std::size_t i = 0; i < sample_n; ++i) std::copy_n(descriptors + pick[i] * kBytes, kBytes, sample.data() + i * kBytes);

    const auto top = kmeans(sample.data(), sample_n, groups, seed);
    // Each sample to its nearest group centre, then the words of each group on its own members.
    std::vector<std::int64_t> group_of(sample_n);
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, sample_n, 4096), [&](const tbb::blocked_range<std::size_t>& r) {
        for (std::size_t i = r.begin(); i < r.end(); ++i) {
            std::int32_t d;
            NearestK nearest(1, &d, &group_of[i]);
            scan_hamming32(sample.data() + i * kBytes, top.data(), nullptr, groups, nearest);
        }
    });
    std::vector<std::vector<std::uint8_t>> members(groups);
    for (std::size_t i = 0; i < sample_n; ++i) {
        auto& m = members[static_cast<std::size_t>(group_of[i])];
        m.insert(m.end(), sample.begin() + static_cast<std::ptrdiff_t>(i * kBytes), sample.begin() + static_cast<std::ptrdiff_t>((i + 1) * kBytes));
    }
    std::vector<std::uint8_t> words(groups * per_group * kBytes);
    for (std::size_t g = 0; g < groups; ++g) {
        const std::size_t count = members[g].size() / kBytes;
        std::vector<std::uint8_t> w;
        if (count == 0) w.assign(top.begin() + static_cast<std::ptrdiff_t>(g * kBytes), top.begin() + static_cast<std::ptrdiff_t>((g + 1) * kBytes));
        const auto centres = count == 0 ? kmeans(w.data(), 1, per_group, seed + g) : kmeans(members[g].data(), count, per_group, seed + g);
        std::copy(centres.begin(), centres.end(), words.begin() + static_cast<std::ptrdiff_t>(g * per_group * kBytes));
    }
    return Vocabulary(words, groups);
}

std::int64_t Vocabulary::assign(const std::uint8_t* descriptor) const {
    std::int32_t d;
    std::int64_t group;
    NearestK nearest_group(1, &d, &group);
    scan_hamming32(descriptor, centres_.data(), nullptr, groups_, nearest_group);
    std::int64_t word;
    NearestK nearest_word(1, &d, &word);
    const std::size_t first = static_cast<std::size_t>(group) * per_group_;
    scan_hamming32(descriptor, words() + first * kBytes, nullptr, per_group_, nearest_word);
    return static_cast<std::int64_t>(first) + word;
}

void Vocabulary::probe(const std::uint8_t* descriptor, int probe_groups, int nprobe, std::int64_t* out, int margin) const {
    const int pg = std::clamp(probe_groups, 1, static_cast<int>(groups_));
    std::vector<std::int32_t> gd(pg), wd(nprobe);
    std::vector<std::int64_t> near_groups(pg);
    NearestK groups(pg, gd.data(), near_groups.data());
    scan_hamming32(descriptor, centres_.data(), nullptr, groups_, groups);
    NearestK words(nprobe, wd.data(), out);
    std::vector<std::int64_t> ids(per_group_);
    for (int i = 0; i < pg; ++i) {
        if (near_groups[i] < 0) continue;
        const std::size_t first = static_cast<std::size_t>(near_groups[i]) * per_group_;
        std::iota(ids.begin(), ids.end(), static_cast<std::int64_t>(first));
        scan_hamming32(descriptor, this->words() + first * kBytes, ids.data(), per_group_, words);
    }
    if (margin >= 0 && out[0] >= 0)
        for (int i = 1; i < nprobe; ++i)
            if (wd[i] > wd[0] + margin) out[i] = -1;
}

}  // namespace neardup::store
