#include <catch2/catch.hpp>

#include <random>

#include "neardup/engine/hash256.hpp"

using namespace neardup;

TEST_CASE("hex form round-trips and follows the PDQ word order", "[hash256]") {
    Hash256 h;
    h.set_bit(0);    // DCT (0,0): least significant bit of the last hex digit
    h.set_bit(255);  // DCT (15,15): most significant bit of the first hex digit
    const std::string hex = h.to_hex();
    CHECK(hex == "8000000000000000000000000000000000000000000000000000000000000001");
    CHECK(Hash256::from_hex(hex).value() == h);
    CHECK(Hash256::from_hex("8000000000000000000000000000000000000000000000000000000000000001X") == std::nullopt);
    CHECK(Hash256::from_hex("g000000000000000000000000000000000000000000000000000000000000001") == std::nullopt);
    CHECK(Hash256::from_hex("") == std::nullopt);
}

TEST_CASE("fast Hamming distance equals a bit-by-bit count", "[hash256][oracle]") {
    std::mt19937_64 rng(11);
    for (int trial = 0; trial < 500; ++trial) {
        Hash256 a, b;
        for (auto& w : a.words) w = rng();
        for (auto& w : b.words) w = rng() & rng();
        int naive = 0;
        for (int k = 0; k < 256; ++k) naive += a.bit(k) != b.bit(k);
        REQUIRE(hamming_distance(a, b) == naive);
        const Hash64 x{rng()}, y{rng()};
        int naive64 = 0;
        for (int k = 0; k < 64; ++k) naive64 += ((x.bits >> k) & 1) != ((y.bits >> k) & 1);
        REQUIRE(hamming_distance(x, y) == naive64);
    }
}
