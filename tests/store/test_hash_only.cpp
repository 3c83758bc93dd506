// References known by a PDQ hash alone (imported hash lists), and search by hash.
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <random>

#include "neardup/engine/decode.hpp"
#include "neardup/engine/pdq_exchange.hpp"
#include "neardup/store/json.hpp"
#include "neardup/store/store.hpp"
#include "support/sample_photos.hpp"
#include "support/temp_dir.hpp"

using namespace neardup;
using namespace neardup::store;

namespace {

void add_hash(Store& store, const std::string& key, const PdqHash& pdq, const Labels& labels = {}) {
    auto prepared = store.prepare_hash(key, pdq, labels, false);
    REQUIRE(prepared.ok());
    std::vector<PreparedAdd> one;
    one.push_back(std::move(prepared).value());
    store.commit(std::move(one));
}

Hash256 random_hash(std::mt19937_64& rng) {
    Hash256 h;
    for (auto& w : h.words) w = rng();
    return h;
}

Hash256 flipped(Hash256 h, int bits, std::mt19937_64& rng) {
    std::vector<int> order(256);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    for (int i = 0; i < bits; ++i) h.words[order[i] >> 6] ^= std::uint64_t{1} << (order[i] & 63);
    return h;
}

}  // namespace

TEST_CASE("a hash-only reference is found by hash and by image, and leaves on delete", "[store][hash_only]") {
    test::TempDir dir;
    const auto coffee = test::read_bytes(test::sample_photo("coffee.jpg"));
    const auto dome = test::read_bytes(test::sample_photo("dome.jpg"));
    const PdqHash partner = exchange_pdq(coffee, PdqConvention::threatexchange).value();
    {
        Store store(dir.path());
        REQUIRE(store.add("dome", dome).ok());
        add_hash(store, "partner-coffee", partner, {{"source", "partner"}});

        const auto entry = store.get("partner-coffee");
        REQUIRE(entry);
        CHECK(entry->hash_only());
        CHECK(to_json(*entry)["hash_only"] == true);
        CHECK_FALSE(store.get("dome")->hash_only());
        CHECK_FALSE(to_json(*store.get("dome")).contains("hash_only"));
        CHECK(store.plan("partner-coffee", Store::hash_identity(partner), false) == AddStatus::unchanged);
        PdqHash other = partner;
        other.hash.words[0] ^= 1;
        CHECK(store.plan("partner-coffee", Store::hash_identity(other), false) == AddStatus::conflict);
        CHECK(store.prepare_hash("", partner, {}, false).error().code == ErrorCode::invalid_key);

        const auto by_hash = store.search_pdq(partner.hash);
        REQUIRE(by_hash.size() == 1);  // dome is far
        CHECK(by_hash[0].key == "partner-coffee");
        CHECK(by_hash[0].distance == 0);
        CHECK(by_hash[0].quality == partner.quality);
        CHECK(by_hash[0].hash_only);
        CHECK(by_hash[0].labels == Labels{{"source", "partner"}});
        CHECK(to_json(by_hash[0]).dump() ==
              R"({"key":"partner-coffee","distance":0,"quality":100,"labels":{"source":"partner"},"hash_only":true})");

        // An upload of the photo matches it on PDQ alone: no features to verify, no region.
        const auto hits = store.search(coffee).value();
        REQUIRE_FALSE(hits.empty());
        CHECK(hits[0].key == "partner-coffee");
        CHECK(hits[0].match);
        CHECK(hits[0].hash_only);
        CHECK(hits[0].inliers == 0);
        CHECK(hits[0].pdq_distance <= 12);
        CHECK(to_json(hits[0])["hash_only"] == true);
        const auto dome_hits = store.search(dome).value();
        REQUIRE_FALSE(dome_hits.empty());
        CHECK(dome_hits[0].key == "dome");
        CHECK_FALSE(dome_hits[0].hash_only);
        CHECK_FALSE(to_json(dome_hits[0]).contains("hash_only"));
        for (const auto& h : dome_hits) CHECK_FALSE((h.key == "partner-coffee" && h.match));
        store.save_snapshot();
    }
    Store reopened(dir.path());
    REQUIRE(reopened.search_pdq(partner.hash).size() == 1);
    CHECK(reopened.check().healthy());
    REQUIRE(reopened.remove("partner-coffee"));
    CHECK(reopened.search_pdq(partner.hash).empty());
    const auto hits = reopened.search(coffee).value();
    CHECK(std::none_of(hits.begin(), hits.end(), [](const SearchHit& h) { return h.key == "partner-coffee"; }));
}

TEST_CASE("search by hash agrees with a brute-force oracle", "[store][hash_only][oracle]") {
    test::TempDir dir;
    StoreOptions options;
    options.tail_rows = 64;  // several segments
    Store store(dir.path(), options);
    std::mt19937_64 rng(11);
    std::vector<Hash256> bases;
    for (int i = 0; i < 6; ++i) bases.push_back(random_hash(rng));
    struct Row {
        std::string key;
        Hash256 hash;
        Labels labels;
        bool deleted = false;
    };
    std::vector<Row> rows;
    for (int i = 0; i < 400; ++i) {
        Row r{"h" + std::to_string(i), flipped(bases[i % bases.size()], static_cast<int>(rng() % 70), rng), {}};
        if (i % 3 == 0) r.labels["brand"] = "acme";
        add_hash(store, r.key, {r.hash, 80}, r.labels);
        rows.push_back(r);
    }
    for (int i = 0; i < 400; i += 7) {
        REQUIRE(store.remove(rows[i].key));
        rows[i].deleted = true;
    }
    REQUIRE(store.wait_until_merged(std::chrono::seconds(60)));
    for (int q = 0; q < 12; ++q) {
        const Hash256 query = flipped(bases[q % bases.size()], q * 3, rng);
        for (const int max_distance : {0, 20, 31, 45}) {
            for (const bool acme : {false, true}) {
                PdqSearchOptions o;
                o.max_distance = max_distance;
                o.top = 25;
                if (acme) o.required_labels = {{"brand", "acme"}};
                std::vector<std::pair<int, std::string>> want;
                for (const auto& r : rows) {
                    const int d = hamming_distance(r.hash, query);
                    if (!r.deleted && d <= max_distance && (!acme || r.labels.contains("brand"))) want.emplace_back(d, r.key);
                }
                std::sort(want.begin(), want.end());
                if (want.size() > 25) want.resize(25);
                std::vector<std::pair<int, std::string>> got;
                for (const auto& m : store.search_pdq(query, o)) got.emplace_back(m.distance, m.key);
                INFO("query " << q << " max_distance " << max_distance << " acme " << acme);
                CHECK(got == want);
            }
        }
    }
}

TEST_CASE("thumbnails: made on add, none for hash-only rows or older catalogs, dropped by compaction", "[store][thumbnails]") {
    test::TempDir dir;
    const auto coffee = test::read_bytes(test::sample_photo("coffee.jpg"));
    {
        Store store(dir / "db");
        REQUIRE(store.add("coffee", coffee).ok());
        add_hash(store, "partner", exchange_pdq(coffee, PdqConvention::neardup).value());
        const auto jpeg = store.thumbnail("coffee");
        REQUIRE(jpeg);
        const auto decoded = decode_image(*jpeg);
        REQUIRE(decoded.ok());
        CHECK(std::max(decoded.value().width, decoded.value().height) == static_cast<std::uint32_t>(Store::kThumbnailLongSide));
        // The same aspect as the photo (1024x983).
        CHECK(decoded.value().height == 246u);
        CHECK_FALSE(store.thumbnail("partner"));
        CHECK_FALSE(store.thumbnail("nothing"));
        // Replaced: the new image's thumbnail; the old row's goes with compaction.
        REQUIRE(store.add("coffee", test::read_bytes(test::sample_photo("dome.jpg")), {}, true).value() == AddStatus::replaced);
        CHECK(decode_image(*store.thumbnail("coffee")).value().width == 256u);
        CHECK(decode_image(*store.thumbnail("coffee")).value().height == 191u);  // dome is 1296x968
        CHECK(store.compact() == 1);
        REQUIRE(store.thumbnail("coffee"));
    }
    // A catalog of schema 1 written before thumbnails, opened read-only (so the table is never added).
    std::filesystem::copy(std::filesystem::path(NEARDUP_FIXTURES_DIR) / "snapshot-format1", dir / "old");
    StoreOptions read_only;
    read_only.mode = OpenMode::read_only;
    const Store old(dir / "old", read_only);
    REQUIRE(old.get("coffee"));
    CHECK_FALSE(old.thumbnail("coffee"));
    std::string next;
    const auto listed = old.list("", "", {{"brand", "acme"}}, 10, &next);
    CHECK(listed.size() == 2);
    CHECK(next.empty());
}
