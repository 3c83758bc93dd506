#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "neardup/engine/decode.hpp"
#include "neardup/store/query_cache.hpp"
#include "neardup/store/store.hpp"
#include "support/edits.hpp"
#include "support/sample_photos.hpp"
#include "support/temp_dir.hpp"

using namespace neardup;
using namespace neardup::store;

namespace {

Sha256 sha_of(int i) { return sha256_of(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(&i), sizeof i)); }

// Signatures of about `keypoints` * 2 * 38 bytes.
std::shared_ptr<const QuerySignatures> entry(std::size_t keypoints) {
    QuerySignatures s;
    s.whole.emplace();
    for (LocalFeatures* f : {&s.whole->signature.features, &s.whole->mirrored_features}) {
        f->keypoints.resize(keypoints);
        f->descriptors.resize(keypoints * 32);
    }
    return std::make_shared<const QuerySignatures>(std::move(s));
}

std::vector<std::uint8_t> jpeg(const cv::Mat& img, int quality = 85) {
    std::vector<std::uint8_t> out;
    cv::imencode(".jpg", img, out, {cv::IMWRITE_JPEG_QUALITY, quality});
    return out;
}

void check_same_hits(const std::vector<SearchHit>& got, const std::vector<SearchHit>& want) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].key == want[i].key);
        CHECK(got[i].score == want[i].score);
        CHECK(got[i].query_region == want[i].query_region);
    }
}

}  // namespace

TEST_CASE("the query cache keeps the most recently used entries within its bound", "[store][query_cache]") {
    const std::size_t one = entry(100)->memory_bytes();
    CHECK(one > 2 * 100 * 38);  // keypoints and descriptors of both feature sets are counted
    QueryCache cache(10 * one);
    for (int i = 0; i < 30; ++i) {
        cache.put(sha_of(i), entry(100));
        CHECK(cache.stats().bytes <= 10 * one);
        if (i % 3 == 0) REQUIRE(cache.find(sha_of(0)) != nullptr);  // kept in use, so never the oldest
    }
    const auto stats = cache.stats();
    CHECK(stats.entries >= 6);
    CHECK(stats.entries <= 10);
    CHECK(cache.find(sha_of(0)) != nullptr);
    CHECK(cache.find(sha_of(29)) != nullptr);
    CHECK(cache.find(sha_of(1)) == nullptr);  // the least recently used went first
    CHECK(cache.stats().hits == stats.hits + 2);
    CHECK(cache.stats().misses == stats.misses + 1);
    SECTION("replacing an entry does not count it twice") {
        const std::size_t before = cache.stats().bytes;
        cache.put(sha_of(29), entry(100));
        CHECK(cache.stats().bytes == before);
    }
    SECTION("an entry over a quarter of the bound is not kept, and evicts nothing") {
        const std::size_t before = cache.stats().entries;
        cache.put(sha_of(1000), entry(400));
        CHECK(cache.find(sha_of(1000)) == nullptr);
        CHECK(cache.stats().entries == before);
    }
}

TEST_CASE("the query cache is safe under concurrent use", "[store][query_cache][concurrency]") {
    const std::size_t one = entry(10)->memory_bytes();
    QueryCache cache(50 * one);
    std::vector<std::thread> threads;
    std::atomic<int> wrong{0};  // Catch2's assertions are for the main thread only
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 2000; ++i) {
                const int key = (i * 7 + t) % 120;
                if (auto found = cache.find(sha_of(key))) {
                    if (!found->whole || found->whole->signature.features.size() != 10u) ++wrong;
                } else {
                    cache.put(sha_of(key), entry(10));
                }
            }
        });
    for (auto& t : threads) t.join();
    CHECK(wrong == 0);
    const auto stats = cache.stats();
    CHECK(stats.hits + stats.misses == 8000u);
    CHECK(stats.bytes <= 50 * one);
    CHECK(stats.entries > 0);
}

TEST_CASE("a repeated query reuses its signatures and still searches the current index", "[store][query_cache]") {
    test::TempDir dir;
    Store store(dir.path());
    for (const char* name : {"dome.jpg", "coffee.jpg", "pot-holder.jpg"})
        REQUIRE(store.add(test::sample_photo(name).stem().string(), test::read_bytes(test::sample_photo(name))).ok());
    StoreOptions uncached_options;
    uncached_options.mode = OpenMode::read_only;
    uncached_options.query_cache_bytes = 0;
    const auto photo = [](const char* name) { return decode_image(test::read_bytes(test::sample_photo(name))).value().bgr; };

    SECTION("a copy that matches: the second search neither decodes nor computes a signature") {
        const auto bytes = jpeg(test::crop_center(photo("dome.jpg"), 0.8));
        SearchTrace first, second;
        const auto want = store.search(bytes, {}, &first).value();
        const auto got = store.search(bytes, {}, &second).value();
        CHECK_FALSE(first.cached);
        CHECK(first.decode > 0);
        CHECK(second.cached);
        CHECK(second.decode == 0.0);
        CHECK(second.signature == 0.0);
        REQUIRE(!got.empty());
        CHECK(got.front().key == "dome");
        check_same_hits(got, want);
        CHECK(store.query_cache_stats().hits == 1u);
        CHECK(store.query_cache_stats().entries == 1u);
    }
    SECTION("a collage that matches nothing whole: its regions are cached too, and results equal an uncached store's") {
        cv::Mat c(520, 1000, CV_8UC3, cv::Scalar(235, 235, 235));
        const auto tile = [&](const cv::Mat& img, cv::Rect r) {
            cv::Mat t;
            cv::resize(img, t, r.size(), 0, 0, cv::INTER_AREA);
            t.copyTo(c(r));
        };
        tile(photo("sample2_1280.jpg"), {10, 10, 480, 240});
        tile(photo("slide-3.jpg"), {510, 10, 480, 240});
        tile(photo("slide-6.jpg"), {10, 270, 480, 240});
        tile(photo("pot-holder.jpg"), {510, 270, 480, 240});
        const auto bytes = jpeg(c);
        SearchTrace first, second;
        const auto want = store.search(bytes, {}, &first).value();
        REQUIRE(first.regions_searched > 0);
        const auto got = store.search(bytes, {}, &second).value();
        CHECK(second.cached);
        CHECK(second.decode == 0.0);
        CHECK(second.signature == 0.0);
        CHECK(second.regions_searched == first.regions_searched);
        check_same_hits(got, want);
        const Store uncached(dir.path(), uncached_options);
        check_same_hits(uncached.search(bytes).value(), want);
        CHECK(uncached.query_cache_stats().misses == 0u);  // off: not even looked up
    }
    SECTION("a deleted reference is gone from a cached query's results, and a new one is found") {
        const auto bytes = jpeg(photo("coffee.jpg"), 70);
        REQUIRE(store.search(bytes).value().front().key == "coffee");
        REQUIRE(store.remove("coffee"));
        SearchTrace trace;
        for (const auto& h : store.search(bytes, {}, &trace).value()) CHECK(h.key != "coffee");
        CHECK(trace.cached);
        REQUIRE(store.add("coffee-again", test::read_bytes(test::sample_photo("coffee.jpg"))).ok());
        const auto hits = store.search(bytes, {}, &trace).value();
        REQUIRE(!hits.empty());
        CHECK(hits.front().key == "coffee-again");
        CHECK(trace.cached);
    }
    SECTION("bytes that do not decode are an error every time and are not cached") {
        const std::vector<std::uint8_t> junk = {0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0};
        CHECK(!store.search(junk).ok());
        CHECK(!store.search(junk).ok());
        CHECK(store.query_cache_stats().entries == 0u);
    }
}
