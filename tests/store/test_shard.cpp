#include <catch2/catch.hpp>

#include "neardup/store/shard.hpp"

using namespace neardup::store;

TEST_CASE("shard: the first 32 bits of SHA-256(key), big-endian, modulo the count", "[store][shard]") {
    // SHA-256("") = e3b0c442..., SHA-256("abc") = ba7816bf... (FIPS 180-2 test vectors).
    CHECK(key_hash32("") == 0xe3b0c442u);
    CHECK(key_hash32("abc") == 0xba7816bfu);
    CHECK(Shard{0xba7816bfu % 7, 7}.owns("abc"));
    CHECK_FALSE(Shard{(0xba7816bfu + 1) % 7, 7}.owns("abc"));
    CHECK(Shard{}.owns("anything"));
    // Every key has exactly one owner among N shards.
    for (const char* key : {"shoe", "bag/1", "caf\xc3\xa9", ""}) {
        int owners = 0;
        for (int k = 0; k < 5; ++k) owners += Shard{k, 5}.owns(key) ? 1 : 0;
        CHECK(owners == 1);
    }
}

TEST_CASE("shard: k/N parses for 0 <= k < N <= 4096, and nothing else", "[store][shard][bad_input]") {
    CHECK(parse_shard("0/1") == Shard{0, 1});
    CHECK(parse_shard("3/4") == Shard{3, 4});
    CHECK(parse_shard("4095/4096") == Shard{4095, 4096});
    for (const char* bad : {"", "1", "4/4", "-1/4", "1/0", "0/4097", "a/2", "1/2x", "1//2", " 1/2", "1/ 2"}) CHECK_FALSE(parse_shard(bad));
    CHECK(Shard{2, 8}.text() == "2/8");
}

TEST_CASE("shard: a --shard argument is k/N, or job/N with k from the Indexed Job's completion index", "[store][shard][bad_input]") {
    CHECK(parse_shard_argument("2/3", nullptr) == Shard{2, 3});
    CHECK(parse_shard_argument("job/3", "2") == Shard{2, 3});
    CHECK(parse_shard_argument("job/3", "0") == Shard{0, 3});
    CHECK_FALSE(parse_shard_argument("job/3", nullptr));  // not in an Indexed Job
    CHECK_FALSE(parse_shard_argument("job/3", ""));
    CHECK_FALSE(parse_shard_argument("job/3", "3"));  // more pods than shards
    CHECK_FALSE(parse_shard_argument("job/3", "-1"));
    CHECK_FALSE(parse_shard_argument("job/", "1"));
}
