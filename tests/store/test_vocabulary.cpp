#include <catch2/catch.hpp>

#include <array>
#include <random>
#include <vector>

#include "neardup/store/vocabulary.hpp"

using namespace neardup::store;

namespace {

using Row = std::array<std::uint8_t, 32>;

int hamming(const std::uint8_t* a, const std::uint8_t* b) {
    int d = 0;
    for (int i = 0; i < 32; ++i) d += __builtin_popcount(static_cast<unsigned>(a[i] ^ b[i]));
    return d;
}

// n descriptors clustered as ORB's are: noisy copies (0-24 bits off) of `patterns` random patterns.
std::vector<std::uint8_t> clustered(std::mt19937_64& rng, std::size_t n, std::size_t patterns) {
    std::vector<Row> centres(patterns);
    for (auto& c : centres)
        for (auto& b : c) b = static_cast<std::uint8_t>(rng());
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i < n; ++i) {
        Row d = centres[rng() % patterns];
        for (int f = static_cast<int>(rng() % 25); f > 0; --f) d[rng() % 32] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        out.insert(out.end(), d.begin(), d.end());
    }
    return out;
}

// The nearest of rows [first, first + n) of `rows` to d, ties to the lower row.
std::size_t nearest(const std::uint8_t* d, const std::uint8_t* rows, std::size_t first, std::size_t n) {
    std::size_t best = first;
    for (std::size_t i = first; i < first + n; ++i)
        if (hamming(d, rows + i * 32) < hamming(d, rows + best * 32)) best = i;
    return best;
}

}  // namespace

TEST_CASE("groups_for sizes a vocabulary at about 64 descriptors per word, 16 to 512 groups", "[store][vocabulary]") {
    CHECK(Vocabulary::groups_for(0) == 16u);
    CHECK(Vocabulary::groups_for(32 * 32 * 64 - 1) == 16u);
    CHECK(Vocabulary::groups_for(32 * 32 * 64) == 32u);
    CHECK(Vocabulary::groups_for(12'800'000) == 256u);   // 100k references of 128 descriptors
    CHECK(Vocabulary::groups_for(128'000'000) == 512u);  // 1M: 2^18 words
    CHECK(Vocabulary::groups_for(std::size_t{1} << 40) == 512u);
}

TEST_CASE("a vocabulary assigns each descriptor to the nearest word of its nearest group (brute-force oracle)", "[store][vocabulary][oracle]") {
    std::mt19937_64 rng(3);
    const auto data = clustered(rng, 20'000, 400);
    const Vocabulary v = Vocabulary::train(data.data(), 20'000, 16, 16);
    REQUIRE(v.size() == 256u);
    REQUIRE(v.groups() == 16u);
    // Group centres are the bitwise majority of each group's words.
    std::vector<std::uint8_t> centres(16 * 32, 0);
    for (std::size_t g = 0; g < 16; ++g)
        for (int bit = 0; bit < 256; ++bit) {
            int ones = 0;
            for (std::size_t w = 0; w < 16; ++w) ones += (v.words()[(g * 16 + w) * 32 + bit / 8] >> (bit % 8)) & 1;
            if (2 * ones > 16) centres[g * 32 + bit / 8] |= static_cast<std::uint8_t>(1u << (bit % 8));
        }
    const auto queries = clustered(rng, 300, 400);
    for (std::size_t q = 0; q < 300; ++q) {
        const std::uint8_t* d = queries.data() + q * 32;
        const std::size_t group = nearest(d, centres.data(), 0, 16);
        CHECK(v.assign(d) == static_cast<std::int64_t>(nearest(d, v.words(), group * 16, 16)));
        // Probing every group gives the nearest words over the whole vocabulary, nearest first.
        std::int64_t probes[3];
        v.probe(d, 16, 3, probes);
        CHECK(probes[0] == static_cast<std::int64_t>(nearest(d, v.words(), 0, 256)));
        CHECK(hamming(d, v.words() + probes[0] * 32) <= hamming(d, v.words() + probes[1] * 32));
        CHECK(hamming(d, v.words() + probes[1] * 32) <= hamming(d, v.words() + probes[2] * 32));
        // One group probed for one word is the assignment itself.
        v.probe(d, 1, 1, probes);
        CHECK(probes[0] == v.assign(d));
        // A margin keeps the nearest words within it of the nearest one's distance, in the same order.
        std::int64_t all[8], near[8];
        v.probe(d, 16, 8, all);
        for (int margin : {0, 3, 10}) {
            v.probe(d, 16, 8, near, margin);
            const int best = hamming(d, v.words() + all[0] * 32);
            for (int i = 0; i < 8; ++i) CHECK(near[i] == (hamming(d, v.words() + all[i] * 32) <= best + margin ? all[i] : -1));
        }
        v.probe(d, 16, 8, near, 256);
        CHECK(std::equal(near, near + 8, all));
    }
}

TEST_CASE("vocabulary training is deterministic and its words describe the data", "[store][vocabulary]") {
    std::mt19937_64 rng(4);
    const auto data = clustered(rng, 10'000, 100);
    const Vocabulary a = Vocabulary::train(data.data(), 10'000, 16, 8);
    const Vocabulary b = Vocabulary::train(data.data(), 10'000, 16, 8);
    CHECK(a.same_words(b));
    // Rebuilt from its words alone (as from an inverted file's quantizer), it is the same vocabulary.
    const Vocabulary c(std::vector<std::uint8_t>(a.words(), a.words() + a.size() * 32), 16);
    CHECK(c.same_words(a));
    // Trained words sit near the data: mean distance to the assigned word well under that of random words
    // (about 128 bits) and near the noise of the clusters.
    double sum = 0;
    for (std::size_t i = 0; i < 10'000; ++i) sum += hamming(data.data() + i * 32, a.words() + a.assign(data.data() + i * 32) * 32);
    CHECK(sum / 10'000 < 30.0);
    // Fewer descriptors than words: the words repeat them, nothing throws.
    const Vocabulary tiny = Vocabulary::train(data.data(), 5, 2, 4);
    CHECK(tiny.size() == 8u);
    CHECK(hamming(data.data(), tiny.words() + tiny.assign(data.data()) * 32) == 0);
    CHECK_THROWS_AS(Vocabulary(std::vector<std::uint8_t>(33), 1), std::invalid_argument);
    CHECK_THROWS_AS(Vocabulary::train(data.data(), 0, 2, 2), std::invalid_argument);
}
