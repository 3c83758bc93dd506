#include <catch2/catch.hpp>

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
