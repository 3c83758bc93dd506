#include <catch2/catch.hpp>

#include <filesystem>
#include <limits>

#include "neardup/engine/signature_codec.hpp"
#include "support/image_bytes.hpp"
#include "support/sample_photos.hpp"

using namespace neardup;

namespace {
Signature photo_signature(bool dihedral, FeatureKind kind = FeatureKind::orb) {
    SignatureOptions options;
    options.dihedral = dihedral;
    options.features.kind = kind;
    options.features.max_keypoints = 64;
    return SignatureExtractor(options).compute(test::read_bytes(test::sample_photo("dome.jpg"))).value();
}
}  // namespace

TEST_CASE("serialization round-trips every signature shape", "[signature_codec]") {
    for (bool dihedral : {false, true})
        for (FeatureKind kind : {FeatureKind::orb, FeatureKind::akaze, FeatureKind::sift}) {
            INFO("dihedral " << dihedral << " kind " << to_string(kind));
            const Signature s = photo_signature(dihedral, kind);
            const auto bytes = serialize(s);
            // Layout: 6-byte preamble (magic, version, flags), 96-byte fixed part, dihedral hashes, 6 + descriptor bytes per keypoint.
            CHECK(bytes.size() == 6 + 96 + (dihedral ? 256 : 0) + s.features.size() * (6 + descriptor_bytes(kind)));
            const auto back = deserialize_signature(bytes);
            REQUIRE(back.ok());
            CHECK(back.value() == s);
        }
    Signature empty;  // no keypoints at all (a flat image) is a valid signature too
    CHECK(deserialize_signature(serialize(empty)).value() == empty);
}

TEST_CASE("an embedding round-trips after the descriptors, and a bad one is refused", "[signature_codec][embedding]") {
    Signature s = photo_signature(false);
    s.embedding = {0.6f, -0.8f, 0.0f, 1e-7f};
    const auto bytes = serialize(s);
    const std::size_t without = serialize(photo_signature(false)).size();
    CHECK(bytes.size() == without + 2 + 4 * 4);
    CHECK(bytes[5] == 2);  // the flags byte: embedding only
    CHECK(deserialize_signature(bytes).value() == s);
    SECTION("every truncation") {
        for (std::size_t n = without; n < bytes.size(); ++n)
            CHECK(deserialize_signature(std::span(bytes.data(), n)).error().code == ErrorCode::corrupt_signature);
    }
    SECTION("a zero dimension") {
        auto bad = bytes;
        bad.resize(without + 2);
        bad[without] = bad[without + 1] = 0;
        CHECK(deserialize_signature(bad).error().message == "corrupt signature: an embedding of 0 values");
    }
    SECTION("a value that is not finite") {
        auto bad = bytes;
        const std::uint32_t nan = 0x7fc00000u;
        for (int i = 0; i < 4; ++i) bad[without + 2 + i] = static_cast<std::uint8_t>(nan >> (8 * i));
        CHECK(deserialize_signature(bad).error().message == "corrupt signature: an embedding value is not finite");
    }
}

TEST_CASE("corrupt signatures are refused with the exact error", "[signature_codec][bad_input]") {
    const auto bytes = serialize(photo_signature(true));
    SECTION("every truncation") {
        for (std::size_t n = 0; n < bytes.size(); ++n) {
            const auto r = deserialize_signature(std::span(bytes.data(), n));
            REQUIRE_FALSE(r.ok());
            REQUIRE(r.error().code == ErrorCode::corrupt_signature);
        }
    }
    SECTION("trailing bytes") {
        auto longer = bytes;
        longer.push_back(0);
        const auto r = deserialize_signature(longer);
        CHECK(r.error().code == ErrorCode::corrupt_signature);
        CHECK(r.error().message.find("found") != std::string::npos);
    }
    SECTION("bad magic") {
        auto bad = bytes;
        bad[0] = 'X';
        CHECK(deserialize_signature(bad).error().message == "corrupt signature: bad magic (not a neardup signature)");
    }
    SECTION("newer version") {
        auto newer = bytes;
        newer[4] = 2;
        const auto r = deserialize_signature(newer);
        CHECK(r.error().code == ErrorCode::unsupported_version);
        CHECK(r.error().message == "signature format version 2 is not supported (this build reads version 1)");
    }
    SECTION("unknown feature kind") {
        auto bad = bytes;
        bad[6 + 89] = 9;  // kind byte: after flags, sizes, pdq, quality, phash, ahash, block mean
        CHECK(deserialize_signature(bad).error().message == "corrupt signature: unknown feature kind 9");
    }
}

TEST_CASE("a committed version-1 signature blob keeps loading with its values", "[signature_codec][format]") {
    // tests/fixtures/signature-v1-coffee.bin: the catalog blob of coffee.jpg as version 1 wrote it
    // (2026-12-02). Catalogs hold such blobs for years; a reader that stops reading them loses the archive.
    const auto bytes = test::read_bytes(std::filesystem::path(NEARDUP_FIXTURES_DIR) / "signature-v1-coffee.bin");
    REQUIRE(bytes.size() == 9830u);
    const auto s = deserialize_signature(bytes);
    REQUIRE(s.ok());
    const Signature& sig = s.value();
    CHECK(sig.width == 1024u);
    CHECK(sig.height == 983u);
    CHECK(sig.pdq.hash.to_hex() == "19668c99c93db6c9f3363d4e4db61619e39bf24fa5a448718632a1da12871eb5");
    CHECK(sig.pdq.quality == 100);
    CHECK(sig.phash.bits == 0x9ecb696db41e4af4ull);
    CHECK(sig.average_hash.bits == 0xfbd5a0a0f4340000ull);
    CHECK(sig.block_mean.to_hex() == "fc1ffb8ff577e03be013e012e000e070e870ec706e7403f00000000000000003");
    CHECK(sig.features.kind == FeatureKind::orb);
    CHECK(sig.features.size() == 256u);
    CHECK(sig.pdq_dihedral.empty());
    CHECK(serialize(sig) == bytes);  // and writes back byte for byte
}

TEST_CASE("an embedding that cannot be written is a broken contract", "[signature_codec][embedding]") {
    Signature s;
    s.embedding = {0.5f, std::numeric_limits<float>::infinity()};
    CHECK_THROWS_AS(serialize(s), std::invalid_argument);
    s.embedding.assign(kMaxEmbeddingValues + 1, 0.0f);
    CHECK_THROWS_AS(serialize(s), std::invalid_argument);
    s.embedding.assign(kMaxEmbeddingValues, 0.0f);
    CHECK(deserialize_signature(serialize(s)).value().embedding.size() == kMaxEmbeddingValues);
}
