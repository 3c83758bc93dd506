// snapshot.json: round-trip, the older formats, and every refusal with its message.
#include <catch2/catch.hpp>

#include "neardup/store/snapshot_manifest.hpp"

using namespace neardup::store;

namespace {

const std::string kSha(64, 'a');

SnapshotManifest two_segments() {
    SnapshotManifest m;
    m.generation = 3;
    m.max_id = 300;
    m.segments.push_back({1, 256, "seg-3-1-256-256-32768.pdq.faiss", "seg-3-1-256-256-32768.desc.faiss", kSha, std::string(64, 'b')});
    m.segments.push_back({257, 300, "seg-3-257-300-44-5632.pdq.faiss", "seg-3-257-300-44-5632.desc.faiss", std::string(64, 'c'), std::string(64, '0')});
    return m;
}

std::string refusal(const std::string& text) {
    const auto r = parse_snapshot_manifest(text);
    return r.ok() ? std::string("(parsed)") : r.error().message;
}

}  // namespace

TEST_CASE("a manifest round-trips through its text", "[store][snapshot]") {
    const auto m = two_segments();
    const auto parsed = parse_snapshot_manifest(format_snapshot_manifest(m));
    REQUIRE(parsed.ok());
    const auto& p = parsed.value();
    CHECK(p.format == kSnapshotFormat);
    CHECK(p.generation == 3);
    CHECK(p.max_id == 300);
    REQUIRE(p.segments.size() == 2u);
    for (std::size_t i = 0; i < 2; ++i) {
        CHECK(p.segments[i].first_id == m.segments[i].first_id);
        CHECK(p.segments[i].last_id == m.segments[i].last_id);
        CHECK(p.segments[i].pdq == m.segments[i].pdq);
        CHECK(p.segments[i].descriptors == m.segments[i].descriptors);
        CHECK(p.segments[i].pdq_sha256 == m.segments[i].pdq_sha256);
        CHECK(p.segments[i].descriptors_sha256 == m.segments[i].descriptors_sha256);
    }
    CHECK(format_snapshot_manifest(p) == format_snapshot_manifest(m));
}

TEST_CASE("formats 1 and 2 still parse, without checksums", "[store][snapshot]") {
    const auto one = parse_snapshot_manifest(R"({"format": 1, "generation": 1, "max_id": 26, "pdq": "pdq.faiss", "descriptors": "desc.faiss"})");
    REQUIRE(one.ok());
    REQUIRE(one.value().segments.size() == 1u);
    CHECK(one.value().segments[0].first_id == 1);
    CHECK(one.value().segments[0].last_id == 26);
    CHECK(one.value().segments[0].pdq_sha256.empty());
    const auto two = parse_snapshot_manifest(
        R"({"format": 2, "generation": 1, "max_id": 9, "segments": [{"first_id": 1, "last_id": 9, "pdq": "a.faiss", "descriptors": "b.faiss"}]})");
    REQUIRE(two.ok());
    CHECK(two.value().segments.at(0).descriptors == "b.faiss");
    CHECK(two.value().segments.at(0).descriptors_sha256.empty());
}

TEST_CASE("every malformed manifest is refused with what is wrong", "[store][snapshot][bad_input]") {
    CHECK(refusal("") == "snapshot manifest: not valid JSON");
    CHECK(refusal("{\"format\": 3,") == "snapshot manifest: not valid JSON");
    CHECK(refusal("[]") == "snapshot manifest: expected an object holding 'format'");
    CHECK(refusal(R"({"format": 5, "generation": 1, "max_id": 1, "segments": []})") ==
          "snapshot manifest: format 5 is not one this build reads (1 to 4)");
    CHECK(refusal(R"({"format": "3"})") == "snapshot manifest: field 'format' is not an integer");
    CHECK(refusal(R"({"format": 3, "generation": -1, "max_id": 1, "segments": []})") == "snapshot manifest: field 'generation' is negative");
    CHECK(refusal(R"({"format": 3, "generation": 1, "max_id": 1.5, "segments": []})") == "snapshot manifest: field 'max_id' is not an integer");
    CHECK(refusal(R"({"format": 3, "generation": 1, "max_id": 1, "segments": {}})") == "snapshot manifest: field 'segments' is not an array");
    const auto segment = [](const std::string& fields) {
        return R"({"format": 3, "generation": 1, "max_id": 10, "segments": [)" + fields + "]}";
    };
    const std::string sha = "\"" + kSha + "\"";
    const auto files = [&](const std::string& pdq, const std::string& desc) {
        return R"("pdq": ")" + pdq + R"(", "descriptors": ")" + desc + R"(", "pdq_sha256": )" + sha + R"(, "descriptors_sha256": )" + sha;
    };
    CHECK(refusal(segment(R"({"first_id": 1, "last_id": 10, )" + files("a.faiss", "b.faiss") + "}")) == "(parsed)");
    CHECK(refusal(segment(R"({"first_id": 1, "last_id": 10, )" + files("../a.faiss", "b.faiss") + "}")) ==
          "snapshot manifest: field 'pdq' holds a character not allowed in a segment file name");
    CHECK(refusal(segment(R"({"first_id": 1, "last_id": 10, )" + files("a.faiss", "..") + "}")) ==
          "snapshot manifest: field 'descriptors' is not a file name");
    CHECK(refusal(segment(R"({"first_id": 1, "last_id": 10, "pdq": "a", "descriptors": "b", "pdq_sha256": "AB", "descriptors_sha256": "ab"})")) ==
          "snapshot manifest: field 'pdq_sha256' is not 64 hex digits");
    CHECK(refusal(segment(R"({"first_id": 1, "last_id": 11, )" + files("a", "b") + "}")) == "snapshot manifest: a segment ends past max_id");
    CHECK(refusal(segment(R"({"first_id": 5, "last_id": 3, )" + files("a", "b") + "}")) == "snapshot manifest: a segment has an invalid id range");
    CHECK(refusal(segment(R"({"first_id": 0, "last_id": 3, )" + files("a", "b") + "}")) == "snapshot manifest: a segment has an invalid id range");
    CHECK(refusal(segment(R"({"first_id": 1, "last_id": 5, )" + files("a", "b") + R"(}, {"first_id": 5, "last_id": 9, )" + files("c", "d") + "}")) ==
          "snapshot manifest: segments overlap or are out of order");
    CHECK(refusal(segment(R"({"first_id": 1, "last_id": 5})")) == "snapshot manifest: missing field 'pdq'");
}

TEST_CASE("a shard's manifest names its shard, without the field it is every row, and a bad one is refused", "[store][snapshot][shard]") {
    auto m = two_segments();
    const std::string whole = format_snapshot_manifest(m);
    CHECK(whole.find("shard") == std::string::npos);  // unchanged for unsharded stores: older builds read it as before
    CHECK(parse_snapshot_manifest(whole).value().shard == "0/1");
    m.shard = "1/4";
    const std::string text = format_snapshot_manifest(m);
    CHECK(parse_snapshot_manifest(text).value().shard == "1/4");
    for (const char* bad : {"\"4/4\"", "3", "\"x\""}) {
        std::string broken = text;
        broken.replace(broken.find("\"1/4\""), 5, bad);
        CHECK(refusal(broken) == "snapshot manifest: field 'shard' is not k/N");
    }
}
