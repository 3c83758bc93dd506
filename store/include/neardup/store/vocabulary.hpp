// A two-level vocabulary of binary visual words: `groups` coarse centres, each with `per_group` words
// under it, trained with FAISS k-means. A descriptor's word is the nearest word of its nearest group, so
// assigning one costs groups + per_group Hamming distances instead of one per word, and stays fast at the
// 2^16-2^18 words that keep inverted lists short at millions of references.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace faiss {
struct IndexBinaryFlat;
}

namespace neardup::store {

class Vocabulary {
public:
    // `words` holds groups x per_group rows of 32 bytes, grouped: word w belongs to group w / per_group.
    // Each group's centre is the bitwise majority of its words (so the vocabulary is fully given by its
    // words, as an inverted file's quantizer stores them). Throws std::invalid_argument on a size mismatch.
    Vocabulary(const std::vector<std::uint8_t>& words, std::size_t groups);
    ~Vocabulary();
    Vocabulary(Vocabulary&&) noexcept;
    Vocabulary& operator=(Vocabulary&&) noexcept;

    // k-means on (a sample of at most per_group x groups x 24 of) the n descriptors: the groups first,
    // then the words of each group on the descriptors nearest to it. Deterministic for a seed. A group
    // with fewer descriptors than words repeats its centre (the repeats stay empty).
    static Vocabulary train(const std::uint8_t* descriptors, std::size_t n, std::size_t groups, std::size_t per_group,
                            std::uint64_t seed = 20261202);
    // Groups (= words per group) for an index of n descriptors: the largest power of two g with
    // g * g <= n / 64 (about 64 descriptors per list), from 16 up to 512 (2^18 words).
    static std::size_t groups_for(std::size_t descriptors);

    std::size_t size() const { return groups_ * per_group_; }
    std::size_t groups() const { return groups_; }
    std::size_t per_group() const { return per_group_; }
    const std::uint8_t* words() const;
    // The words as a FAISS flat index: the quantizer every inverted file over this vocabulary points to
    // (shared, not owned by them).
    faiss::IndexBinaryFlat* quantizer() const { return words_.get(); }
    // The word a descriptor is filed under: the nearest word of its nearest group.
    std::int64_t assign(const std::uint8_t* descriptor) const;
    // The `nprobe` nearest words among the words of the `probe_groups` nearest groups, nearest first
    // (ties to the lower word); `out` holds nprobe entries, -1 where fewer exist. With margin >= 0, only
    // the words at most `margin` bits farther from the descriptor than its nearest word (the others -1).
    void probe(const std::uint8_t* descriptor, int probe_groups, int nprobe, std::int64_t* out, int margin = -1) const;
    bool same_words(const Vocabulary& other) const;

private:
    std::unique_ptr<faiss::IndexBinaryFlat> words_;
    std::vector<std::uint8_t> centres_;  // groups x 32 bytes
    std::size_t groups_ = 0;
    std::size_t per_group_ = 0;
};

}  // namespace neardup::store
