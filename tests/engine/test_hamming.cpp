#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <vector>

#include "neardup/engine/hamming.hpp"

using namespace neardup;

namespace {

int naive_distance(const std::uint8_t* a, const std::uint8_t* b) {
    int d = 0;
    for (int i = 0; i < 32; ++i)
        for (int bit = 0; bit < 8; ++bit) d += ((a[i] ^ b[i]) >> bit) & 1;
    return d;
}

// Random codes, some of them near copies of others so that small distances and ties occur.
std::vector<std::uint8_t> codes(std::mt19937& rng, std::size_t n, const std::vector<std::uint8_t>* near = nullptr) {
    std::vector<std::uint8_t> out(n * 32);
    for (auto& b : out) b = static_cast<std::uint8_t>(rng());
    if (near)
        for (std::size_t i = 0; i < n; i += 3) {
            const std::size_t src = rng() % (near->size() / 32);
            std::copy_n(near->data() + src * 32, 32, out.data() + i * 32);
            out[i * 32 + rng() % 32] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        }
    return out;
}

}  // namespace

TEST_CASE("two nearest Hamming neighbours equal a naive scan", "[engine][hamming][oracle]") {
    std::mt19937 rng(11);
    auto reference = codes(rng, 300);
    std::copy_n(reference.data() + 32 * 5, 32 * 4, reference.data() + 32 * 200);  // duplicates: ties to the lower row
    const auto query = codes(rng, 200, &reference);
    INFO("wide path " << (detail::wide_popcount_supported() ? "in use" : "not supported here"));
    for (const bool portable : {false, true})
        for (const std::size_t nr : {300, 299, 205, 7, 2, 1}) {
            INFO("portable " << portable << " nr " << nr);
            std::vector<TwoNearest> got(200);
            if (portable) detail::two_nearest_hamming32_portable(query.data(), 200, reference.data(), nr, got.data());
            else two_nearest_hamming32(query.data(), 200, reference.data(), nr, got.data());
            for (std::size_t i = 0; i < 200; ++i) {
                std::vector<std::pair<int, int>> all;
                for (std::size_t j = 0; j < nr; ++j) all.emplace_back(naive_distance(&query[i * 32], &reference[j * 32]), static_cast<int>(j));
                std::sort(all.begin(), all.end());  // distance, then the lower row
                INFO(i);
                REQUIRE(got[i].index == all[0].second);
                REQUIRE(got[i].distance == all[0].first);
                REQUIRE(got[i].second == (nr > 1 ? all[1].first : 1 << 30));
            }
        }
    for (const bool portable : {false, true}) {
        std::vector<TwoNearest> none(1);
        if (portable) detail::two_nearest_hamming32_portable(query.data(), 1, reference.data(), 0, none.data());
        else two_nearest_hamming32(query.data(), 1, reference.data(), 0, none.data());
        CHECK(none[0].index == -1);
    }
}

TEST_CASE("the k-nearest scan keeps the k smallest, ties to the smaller id", "[engine][hamming][oracle]") {
    std::mt19937 rng(12);
    const auto base = codes(rng, 50);
    auto many = codes(rng, 1000, &base);
    std::copy_n(many.data(), 32 * 10, many.data() + 32 * 500);  // exact duplicates: equal distances
    std::vector<std::int64_t> ids(1000);
    for (int j = 0; j < 1000; ++j) ids[j] = 5000 - j;  // ids not in row order
    // Both paths (eight rows per step where the CPU has AVX-512 VPOPCNTQ, one at a time), with and without
    // ids, over row counts that leave every tail length after the steps of eight.
    INFO("wide path " << (detail::wide_popcount_supported() ? "in use" : "not supported here"));
    for (const bool portable : {false, true})
        for (const bool with_ids : {true, false})
            for (std::size_t n : {1000, 999, 997, 993, 7, 1})
                for (int k : {1, 8, 20}) {
                    const std::uint8_t* q = many.data() + 32 * 3;
                    std::vector<std::int32_t> d(k);
                    std::vector<std::int64_t> id(k);
                    NearestK nearest(k, d.data(), id.data());
                    const std::int64_t* row_ids = with_ids ? ids.data() : nullptr;
                    if (portable) detail::scan_hamming32_portable(q, many.data(), row_ids, n, nearest, 0);
                    else scan_hamming32(q, many.data(), row_ids, n, nearest);
                    std::vector<std::pair<int, std::int64_t>> all;
                    for (std::size_t j = 0; j < n; ++j) all.emplace_back(naive_distance(q, &many[j * 32]), with_ids ? ids[j] : static_cast<std::int64_t>(j));
                    std::sort(all.begin(), all.end());
                    INFO("portable " << portable << " ids " << with_ids << " n " << n << " k " << k);
                    for (int i = 0; i < k; ++i) {
                        CHECK(d[i] == (i < static_cast<int>(n) ? all[i].first : INT32_MAX));
                        CHECK(id[i] == (i < static_cast<int>(n) ? all[i].second : -1));
                    }
                }
    // Fewer rows than k: the rest stays empty.
    std::vector<std::int32_t> d(4);
    std::vector<std::int64_t> id(4);
    NearestK nearest(4, d.data(), id.data());
    scan_hamming32(many.data(), many.data(), nullptr, 2, nearest);
    CHECK(d[0] == 0);
    CHECK(id[0] == 0);
    CHECK(id[2] == -1);
    CHECK(d[3] == INT32_MAX);
}

TEST_CASE("the distance of one descriptor pair equals a naive count", "[engine][hamming][oracle]") {
    std::mt19937 rng(21);
    const auto a = codes(rng, 64);
    const auto b = codes(rng, 64, &a);  // every third row a near copy of a row of `a`
    for (std::size_t i = 0; i < 64; ++i)
        for (std::size_t j = 0; j < 64; ++j) {
            INFO(i << ", " << j);
            REQUIRE(hamming_distance32(a.data() + i * 32, b.data() + j * 32) == naive_distance(a.data() + i * 32, b.data() + j * 32));
        }
    CHECK(hamming_distance32(a.data(), a.data()) == 0);
}

TEST_CASE("the distances of many rows equal a naive count, in row order, on both paths", "[engine][hamming][oracle]") {
    std::mt19937 rng(33);
    const auto base = codes(rng, 40);
    auto many = codes(rng, 300, &base);
    // A row equal to the query and one its complement: the extremes 0 and 256.
    std::copy_n(many.data(), 32, many.data() + 32 * 7);
    for (int b = 0; b < 32; ++b) many[32 * 8 + b] = static_cast<std::uint8_t>(~many[b]);
    INFO("wide path " << (detail::wide_popcount_supported() ? "in use" : "not supported here"));
    for (const bool portable : {false, true})
        for (std::size_t n : {300, 299, 297, 293, 9, 7, 1, 0}) {
            INFO("portable " << portable << " n " << n);
            std::vector<std::uint16_t> got(n + 1, 0xBEEF);  // one past the end: must stay untouched
            if (portable) detail::hamming_distances32_portable(many.data(), many.data(), n, got.data(), 0);
            else hamming_distances32(many.data(), many.data(), n, got.data());
            for (std::size_t j = 0; j < n; ++j) {
                INFO("row " << j);
                REQUIRE(got[j] == naive_distance(many.data(), many.data() + j * 32));
            }
            CHECK(got[n] == 0xBEEF);
            if (n > 8) {
                CHECK(got[7] == 0);
                CHECK(got[8] == 256);
            }
        }
}
