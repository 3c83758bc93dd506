#include <catch2/catch.hpp>

#include <set>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <fstream>
#include <optional>
#include <thread>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "neardup/engine/decode.hpp"
#include "neardup/engine/regions.hpp"
#include "neardup/store/json.hpp"
#include "neardup/store/store.hpp"
#include "support/edits.hpp"
#include "support/sample_photos.hpp"
#include "support/temp_dir.hpp"

using namespace neardup;
using namespace neardup::store;

namespace {

std::vector<std::uint8_t> jpeg(const cv::Mat& img, int quality = 85) {
    std::vector<std::uint8_t> out;
    cv::imencode(".jpg", img, out, {cv::IMWRITE_JPEG_QUALITY, quality});
    return out;
}
cv::Mat photo(const std::string& name) { return decode_image(test::read_bytes(test::sample_photo(name))).value().bgr; }

// The distinct photos of the sample set that are indexed in these tests (the shoe series and the
// backstretch photos); sample2 is kept out of the index as an unrelated photo.
const std::vector<std::string> kIndexed = {"coffee.jpg", "dome.jpg", "pot-holder.jpg", "sample1_1280.jpg",
                                           "1144953-1-2x.jpg", "1144953-3-2x.jpg", "1144953-5-2x.jpg", "1144953-p-2x.jpg"};

// The same references in the same order with the same scores.
void check_same_hits(const std::vector<SearchHit>& got, const std::vector<SearchHit>& want) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].key == want[i].key);
        CHECK(got[i].score == Approx(want[i].score));
    }
}

void index_samples(Store& store) {
    for (const auto& name : kIndexed) {
        const auto r = store.add(test::sample_photo(name).stem().string(), test::read_bytes(test::sample_photo(name)), {{"case", "t1"}});
        REQUIRE(r.ok());
        REQUIRE(r.value() == AddStatus::added);
    }
}

}  // namespace

TEST_CASE("add, search, delete round-trip", "[store]") {
    test::TempDir dir;
    Store store(dir.path());
    index_samples(store);
    CHECK(store.stats().active == 8);
    const auto bytes = test::read_bytes(test::sample_photo("dome.jpg"));
    SECTION("the same bytes again are a no-op; other bytes under the key are a conflict unless replaced") {
        CHECK(store.add("dome", bytes).value() == AddStatus::unchanged);
        const auto other = test::read_bytes(test::sample_photo("coffee.jpg"));
        CHECK(store.add("dome", other).value() == AddStatus::conflict);
        CHECK(store.add("dome", other, {}, true).value() == AddStatus::replaced);
        CHECK(store.stats().active == 8);
        CHECK(store.stats().inactive == 1);
    }
    SECTION("an exact copy is the top match with a high score") {
        const auto hits = store.search(bytes).value();
        REQUIRE(!hits.empty());
        CHECK(hits[0].key == "dome");
        CHECK(hits[0].match);
        CHECK(hits[0].score > 0.99);
        CHECK(hits[0].labels.at("case") == "t1");
        CHECK(hits[0].pdq_distance <= 8);
    }
    SECTION("deletion removes the key from search at once, compaction reclaims it") {
        CHECK(store.remove("dome"));
        CHECK_FALSE(store.remove("dome"));
        CHECK_FALSE(store.get("dome").has_value());
        for (const auto& h : store.search(bytes).value()) CHECK(h.key != "dome");
        CHECK(store.compact() == 1);
        CHECK(store.stats().inactive == 0);
        CHECK(store.stats().pdq_entries == 7u);
        for (const auto& h : store.search(bytes).value()) CHECK(h.key != "dome");
    }
    SECTION("label filters") {
        SearchOptions options;
        options.required_labels = {{"case", "other"}};
        CHECK(store.search(bytes, options).value().empty());
    }
    SECTION("bad query bytes give the decoder's typed error") {
        const std::vector<std::uint8_t> junk = {1, 2, 3, 4, 5};
        CHECK(store.search(junk).error().code == ErrorCode::unsupported_format);
    }
}

TEST_CASE("edited copies are found and unrelated photos are not matched", "[store][matcher]") {
    test::TempDir dir;
    Store store(dir.path());
    index_samples(store);
    const cv::Mat dome = photo("dome.jpg"), coffee = photo("coffee.jpg"), pot = photo("pot-holder.jpg");
    const cv::Mat background = photo("sample2_1280.jpg");
    const std::vector<std::tuple<std::string, cv::Mat, std::string>> copies = {
        // 70% of each side = 49% of the area, inside the crop family of the benchmark (40-90% of the area).
        {"crop 70%", test::crop_center(dome, 0.7), "dome"},
        {"mirror", test::mirror(coffee), "coffee"},
        {"price overlay", test::price_overlay(pot), "pot-holder"},
        {"new background", test::on_new_background(dome, background, 0.6), "dome"},
        {"rotate 90", test::rotate_90(coffee), "coffee"},
        {"mirror + crop", test::crop_center(test::mirror(pot), 0.7), "pot-holder"},
        {"collage", [&] {
             // dome beside two photos that are not indexed, on a light backdrop with gaps.
             cv::Mat c(700, 1000, CV_8UC3, cv::Scalar(230, 230, 230));
             auto tile = [&](const cv::Mat& img, cv::Rect r) { cv::Mat t; cv::resize(img, t, r.size(), 0, 0, cv::INTER_AREA); t.copyTo(c(r)); };
             tile(dome, cv::Rect(10, 10, 480, 680));
             tile(background, cv::Rect(505, 10, 485, 330));
             tile(photo("slide-3.jpg"), cv::Rect(505, 355, 485, 335));
             return c;
         }(), "dome"},
    };
    for (const auto& [what, image, key] : copies) {
        const auto hits = store.search(jpeg(image, 60)).value();
        INFO(what << ": score " << (hits.empty() ? 0.0 : hits[0].score) << ", inliers " << (hits.empty() ? 0 : hits[0].inliers));
        REQUIRE(!hits.empty());
        CHECK(hits[0].key == key);
        CHECK(hits[0].match);
    }
    SECTION("a mirrored copy is explained as mirrored") {
        const auto hits = store.search(jpeg(test::mirror(test::crop_center(dome, 0.8)))).value();
        REQUIRE(!hits.empty());
        CHECK(hits[0].key == "dome");
        CHECK(hits[0].mirrored);
        CHECK(hits[0].region.area() > 0);
    }
    SECTION("unrelated photos match nothing") {
        for (const char* name : {"sample2_1280.jpg", "slide-3.jpg", "slide-6.jpg"}) {
            INFO(name);
            for (const auto& h : store.search(test::read_bytes(test::sample_photo(name))).value()) CHECK_FALSE(h.match);
        }
    }
}

TEST_CASE("the indexes agree with the catalog after reopening, with or without a snapshot", "[store][durability]") {
    test::TempDir dir;
    const auto query = test::read_bytes(test::sample_photo("pot-holder.jpg"));
    std::vector<SearchHit> before;
    {
        Store store(dir.path());
        index_samples(store);
        store.remove("coffee");
        before = store.search(query).value();
        // No snapshot saved: as after a crash, the next open must rebuild everything from the catalog.
    }
    {
        Store store(dir.path());
        const auto s = store.stats();
        CHECK_FALSE(s.loaded_from_snapshot);
        CHECK(s.caught_up == 8);
        CHECK(s.active == 7);
        CHECK(s.pdq_entries == 7u);  // a rebuild leaves out the deleted row
        const auto after = store.search(query).value();
        check_same_hits(after, before);
        store.save_snapshot();
        // Rows committed after the snapshot are caught up from the catalog on the next open.
        REQUIRE(store.add("slide-3", test::read_bytes(test::sample_photo("slide-3.jpg"))).ok());
    }
    {
        Store store(dir.path());
        const auto s = store.stats();
        CHECK(s.loaded_from_snapshot);
        CHECK(s.caught_up == 1);
        CHECK(s.active == 8);
        CHECK(s.pdq_entries == 8u);
        const auto hits = store.search(test::read_bytes(test::sample_photo("slide-3.jpg"))).value();
        REQUIRE(!hits.empty());
        CHECK(hits[0].key == "slide-3");
        for (const auto& h : store.search(test::read_bytes(test::sample_photo("coffee.jpg"))).value()) CHECK(h.key != "coffee");
    }
}

TEST_CASE("damaged segment files are rebuilt from the catalog, a broken manifest is ignored", "[store][durability][bad_input]") {
    test::TempDir dir;
    {
        Store store(dir.path());
        index_samples(store);
        store.save_snapshot();
    }
    const auto coffee = test::read_bytes(test::sample_photo("coffee.jpg"));
    std::vector<SearchHit> before;
    {
        Store store(dir.path());
        CHECK(store.stats().loaded_from_snapshot);
        CHECK(store.stats().segments_rebuilt == 0);
        CHECK(store.stats().snapshot_problem.empty());
        before = store.search(coffee).value();
    }
    SECTION("cut segment files") {
        for (const auto& f : std::filesystem::directory_iterator(dir.path()))
            if (f.path().extension() == ".faiss") std::filesystem::resize_file(f.path(), 10);
    }
    SECTION("one flipped byte in the middle of a segment file") {
        // Same length and a FAISS header that still parses: only the checksum tells.
        for (const auto& f : std::filesystem::directory_iterator(dir.path()))
            if (f.path().string().ends_with(".desc.faiss")) {
                std::fstream io(f.path(), std::ios::in | std::ios::out | std::ios::binary);
                const auto middle = static_cast<std::streamoff>(std::filesystem::file_size(f.path()) / 2);
                io.seekg(middle);
                const char c = static_cast<char>(io.get() ^ 0x5a);
                io.seekp(middle);
                io.put(c);
            }
    }
    Store store(dir.path());
    const auto s = store.stats();
    CHECK(s.loaded_from_snapshot);       // the manifest was used...
    CHECK(s.segments_rebuilt == 1);      // ...and its one damaged segment rebuilt
    CHECK(s.snapshot_problem.find("rebuilt") != std::string::npos);
    CHECK(s.pdq_entries == 8u);
    const auto after = store.search(coffee).value();
    check_same_hits(after, before);
    // The next snapshot rewrites the damaged files; then they load as they are.
    store.save_snapshot();
    CHECK(store.check().healthy());
}

TEST_CASE("a snapshot.json that does not parse is ignored with its reason", "[store][durability][bad_input]") {
    test::TempDir dir;
    {
        Store store(dir.path());
        index_samples(store);
        store.save_snapshot();
    }
    { std::ofstream(dir / "snapshot.json", std::ios::trunc) << R"({"format": 3, "generation": 1, "max_id": 8, "segments": [{"first_id": 1}]})"; }
    Store store(dir.path());
    CHECK_FALSE(store.stats().loaded_from_snapshot);
    CHECK(store.stats().snapshot_problem == "snapshot manifest: missing field 'last_id'");
    CHECK(store.stats().pdq_entries == 8u);
    CHECK(store.search(test::read_bytes(test::sample_photo("coffee.jpg"))).value().at(0).key == "coffee");
}

TEST_CASE("searches run concurrently with adds and see every add afterwards", "[store][concurrency]") {
    test::TempDir dir;
    Store store(dir.path());
    index_samples(store);
    const auto query = test::read_bytes(test::sample_photo("dome.jpg"));
    std::atomic<bool> stop{false};
    std::atomic<int> searches{0}, wrong{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 3; ++t)
        readers.emplace_back([&] {
            while (!stop) {
                const auto hits = store.search(query).value();
                if (hits.empty() || hits[0].key != "dome") ++wrong;
                ++searches;
            }
        });
    const auto slides = test::sample_photos();
    int added = 0;
    for (const auto& p : slides)
        if (p.string().find("Linking") != std::string::npos && store.add("new-" + p.stem().string(), test::read_bytes(p)).value() == AddStatus::added) ++added;
    stop = true;
    for (auto& t : readers) t.join();
    CHECK(wrong == 0);
    CHECK(searches > 0);
    CHECK(added >= 7);
    for (const auto& p : slides)
        if (p.string().find("Linking") != std::string::npos) CHECK(store.get("new-" + p.stem().string()).has_value());
}

TEST_CASE("small segments merge in the background and search as one index", "[store][segments][concurrency]") {
    test::TempDir dir;
    StoreOptions options;
    options.tail_rows = 1;  // every add closes its segment: 8 adds, merged 2 at a time
    options.merge_fanout = 2;
    std::vector<SearchHit> merged;
    const auto query = test::read_bytes(test::sample_photo("pot-holder.jpg"));
    {
        Store store(dir.path(), options);
        index_samples(store);
        // 8 one-row segments merge to one of 8 rows (2 -> 1 per level: 4 + 2 + 1 merges).
        REQUIRE(store.wait_until_merged(std::chrono::seconds(60)));
        const auto s = store.stats();
        CHECK(s.segments == 1u);
        CHECK(s.merges == 7);
        CHECK(s.pdq_entries == 8u);
        merged = store.search(query).value();
        store.save_snapshot();
        REQUIRE(store.remove("pot-holder"));
        CHECK(store.search(query).value().front().key != "pot-holder");
    }
    // One segment built in one go (no merges) gives the same results.
    StoreOptions bulk = options;
    bulk.background_merges = false;
    test::TempDir other;
    Store store(other.path(), bulk);
    index_samples(store);
    CHECK(store.stats().segments == 8u);
    const auto segmented = store.search(query).value();
    store.optimise();
    CHECK(store.stats().segments == 1u);
    const auto one = store.search(query).value();
    for (const auto* hits : {&segmented, &one}) {
        REQUIRE(hits->size() == merged.size());
        for (std::size_t i = 0; i < merged.size(); ++i) {
            CHECK((*hits)[i].key == merged[i].key);
            CHECK((*hits)[i].score == Approx(merged[i].score));
        }
    }
    // The merged snapshot reloads as its one segment, with the later delete applied.
    Store reopened(dir.path(), options);
    CHECK(reopened.stats().loaded_from_snapshot);
    CHECK(reopened.stats().segments == 1u);
    CHECK(reopened.search(query).value().front().key != "pot-holder");
}

TEST_CASE("a search holds its view: each sees all of a write or none of it, and never throws", "[store][segments][concurrency]") {
    test::TempDir dir;
    Store store(dir.path());
    index_samples(store);
    // Each write commits two copies of one photo under two keys in one transaction (pair p: keys a and b);
    // a second write then deletes the previous pair's a-key. Whatever a racing search sees must be a state
    // the writes passed through: a without b never (they came together); b without a only once the next
    // pair is there; and the number of pairs seen never goes down on one thread. (Three pairs: at most 7
    // copies, active or deleted, stay within the 8 PDQ and descriptor neighbours each query looks up.)
    const auto photo_bytes = test::read_bytes(test::sample_photo("sample2_1280.jpg"));
    const Sha256 sha = sha256_of(photo_bytes);
    constexpr int kPairs = 3;
    std::atomic<bool> done{false};
    std::atomic<int> searches{0}, torn{0}, backwards{0}, threw{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 2; ++t)
        readers.emplace_back([&] {
            int last_pairs = 0;
            SearchOptions all;
            all.top = 0;
            while (!done) {
                try {
                    const auto hits = store.search(photo_bytes, all).value();
                    const auto has = [&](int p, const char* suffix) {
                        const std::string key = "pair" + std::to_string(p) + suffix;
                        return std::any_of(hits.begin(), hits.end(), [&](const SearchHit& h) { return h.key == key && h.match; });
                    };
                    int pairs = 0;
                    for (int p = 0; p < kPairs; ++p) {
                        const bool a = has(p, "-a"), b = has(p, "-b");
                        if (b) ++pairs;
                        if (a && !b) ++torn;
                        if (b && !a && !(p + 1 < kPairs && has(p + 1, "-b"))) ++torn;
                    }
                    if (pairs < last_pairs) ++backwards;
                    last_pairs = pairs;
                    ++searches;
                } catch (...) {
                    ++threw;
                }
            }
        });
    for (int p = 0; p < kPairs; ++p) {
        std::vector<PreparedAdd> batch;
        for (const char* suffix : {"-a", "-b"}) {
            const std::string key = "pair" + std::to_string(p) + suffix;
            batch.push_back(store.prepare(key, photo_bytes, sha, {}, false).value());
        }
        REQUIRE(store.commit(std::move(batch)).size() == 2u);
        if (p > 0) REQUIRE(store.remove("pair" + std::to_string(p - 1) + "-a"));
    }
    done = true;
    for (auto& t : readers) t.join();
    CHECK(searches > 0);
    CHECK(torn == 0);
    CHECK(backwards == 0);
    CHECK(threw == 0);
    // Afterwards every pair's b-key and the last a-key are found.
    SearchOptions all;
    all.top = 0;
    const auto hits = store.search(photo_bytes, all).value();
    for (int p = 0; p < kPairs; ++p)
        CHECK(std::any_of(hits.begin(), hits.end(), [&](const SearchHit& h) { return h.key == "pair" + std::to_string(p) + "-b"; }));
}

TEST_CASE("segments filed under a trained vocabulary find the copies and reload with it from a snapshot", "[store][vocabulary][durability]") {
    test::TempDir dir;
    StoreOptions options;
    options.descriptors.ivf_threshold = 256;  // the sample photos' ~1000 descriptors train a vocabulary
    options.tail_rows = 2;
    options.merge_fanout = 2;
    const cv::Mat dome = photo("dome.jpg"), coffee = photo("coffee.jpg"), pot = photo("pot-holder.jpg");
    const std::vector<std::pair<std::vector<std::uint8_t>, std::string>> queries = {
        {jpeg(test::crop_center(dome, 0.7), 60), "dome"},
        {jpeg(test::mirror(coffee), 60), "coffee"},
        {jpeg(test::price_overlay(pot), 60), "pot-holder"},
        {jpeg(test::rotate_90(coffee), 60), "coffee"},
    };
    std::vector<std::vector<SearchHit>> before;
    std::size_t words = 0;
    {
        Store store(dir.path(), options);
        index_samples(store);
        REQUIRE(store.wait_until_merged(std::chrono::seconds(60)));
        store.optimise();
        words = store.stats().vocabulary_words;
        CHECK(words == 256u);  // 16 groups of 16: Vocabulary::groups_for of ~1000 descriptors
        CHECK(to_json(store.stats())["vocabulary_words"] == 256);
        // Adds after the vocabulary are filed under it too (a new open tail).
        REQUIRE(store.add("slide-3", test::read_bytes(test::sample_photo("slide-3.jpg"))).ok());
        for (const auto& [bytes, key] : queries) {
            before.push_back(store.search(bytes).value());
            INFO(key);
            REQUIRE(!before.back().empty());
            CHECK(before.back().front().key == key);
            CHECK(before.back().front().match);
        }
        store.save_snapshot();
    }
    std::ifstream manifest(dir.path() / "snapshot.json");
    const std::string text((std::istreambuf_iterator<char>(manifest)), std::istreambuf_iterator<char>());
    CHECK(text.find("\"vocabulary_groups\": 16") != std::string::npos);
    StoreOptions read = options;
    read.mode = OpenMode::read_only;
    Store reopened(dir.path(), read);
    CHECK(reopened.stats().loaded_from_snapshot);
    CHECK(reopened.stats().snapshot_problem.empty());
    CHECK(reopened.stats().vocabulary_words == words);
    for (std::size_t i = 0; i < queries.size(); ++i) check_same_hits(reopened.search(queries[i].first).value(), before[i]);
    CHECK(reopened.check().healthy());
}

TEST_CASE("the early exit for near-exact copies returns the full search's best hit", "[store][matcher][early_exit]") {
    test::TempDir dir;
    Store store(dir.path());
    index_samples(store);
    StoreOptions full_options;
    full_options.mode = OpenMode::read_only;
    full_options.early_exit_pdq_distance = -1;
    const Store full(dir.path(), full_options);
    // Exact copies, re-encodes and small rescales of every indexed photo (the early exit's cases), and
    // edits it must leave to the full search.
    int early = 0;
    for (const auto& name : kIndexed) {
        const cv::Mat img = photo(name);
        cv::Mat half;
        cv::resize(img, half, {}, 0.5, 0.5, cv::INTER_AREA);
        for (const auto& bytes : {test::read_bytes(test::sample_photo(name)), jpeg(img, 50), jpeg(half, 80), jpeg(test::crop_center(img, 0.7)),
                                  jpeg(test::mirror(img))}) {
            SearchTrace trace, full_trace;
            const auto got = store.search(bytes, {}, &trace).value();
            const auto want = full.search(bytes, {}, &full_trace).value();
            INFO(name << " early exit " << trace.early_exit);
            CHECK_FALSE(full_trace.early_exit);
            REQUIRE(!want.empty());
            REQUIRE(!got.empty());
            CHECK(got.front().key == want.front().key);
            CHECK(got.front().score == Approx(want.front().score));
            CHECK(got.front().match == want.front().match);
            if (trace.early_exit) {
                ++early;
                CHECK(trace.votes == 0.0);  // the descriptor search did not run
                CHECK(trace.regions_searched == 0);
            }
        }
    }
    CHECK(early >= static_cast<int>(kIndexed.size()));  // at least every exact copy ended early
}

TEST_CASE("the parallel region pass returns what searching each region alone and merging would", "[store][matcher][regions]") {
    test::TempDir dir;
    {
        Store writer(dir.path());
        index_samples(writer);
    }
    // Every vote budget equal, so that the public one-signature search is exactly a region's search.
    StoreOptions options;
    options.mode = OpenMode::read_only;
    options.mirror_vote_descriptors = options.region_vote_descriptors = options.descriptors.query_descriptors;
    const Store store(dir.path(), options);
    const cv::Mat background = photo("sample2_1280.jpg"), slide = photo("slide-3.jpg");
    // Collages whose tiles are small copies of indexed photos beside photos that are not indexed.
    auto collage = [](const std::vector<cv::Mat>& tiles, int columns) {
        const int rows = static_cast<int>((tiles.size() + columns - 1) / columns);
        cv::Mat c(rows * 250 + 10, columns * 330 + 10, CV_8UC3, cv::Scalar(235, 235, 235));
        for (std::size_t i = 0; i < tiles.size(); ++i) {
            const cv::Rect r(10 + static_cast<int>(i % columns) * 330, 10 + static_cast<int>(i / columns) * 250, 320, 240);
            cv::Mat t;
            cv::resize(tiles[i], t, r.size(), 0, 0, cv::INTER_AREA);
            t.copyTo(c(r));
        }
        return c;
    };
    const std::vector<cv::Mat> queries = {
        collage({photo("dome.jpg"), background, slide, test::mirror(photo("coffee.jpg"))}, 2),
        collage({background, photo("pot-holder.jpg"), slide}, 3),
        collage({slide, background, photo("slide-6.jpg"), background}, 2),  // nothing indexed
    };
    SearchOptions all;
    all.top = 0;
    int regions_searched = 0;
    for (std::size_t q = 0; q < queries.size(); ++q) {
        INFO("query " << q);
        const DecodedImage image = decode_image(jpeg(queries[q], 80), store.extractor().options().decode).value();
        SearchTrace trace;
        const auto got = store.search_image(image, all, &trace);
        regions_searched += trace.regions_searched;
        // The oracle: the whole image, then (when it matched nothing) every region one after another, each
        // reference keeping its best score.
        auto want = store.search(store.extractor().compute_query(image.bgr, image.width, image.height), all);
        if (want.empty() || !want.front().match) {
            const auto proposals = propose_regions(image.bgr);
            CHECK(trace.regions_searched == static_cast<int>(proposals.size()));
            const double scale = static_cast<double>(image.width) / image.bgr.cols;
            for (const cv::Rect& r : proposals) {
                const auto region = store.extractor().compute_query(image.bgr(r).clone(), static_cast<std::uint32_t>(r.width * scale),
                                                                    static_cast<std::uint32_t>(r.height * scale));
                for (auto& h : store.search(region, all)) {
                    auto it = std::find_if(want.begin(), want.end(), [&](const SearchHit& x) { return x.id == h.id; });
                    if (it == want.end()) want.push_back(h);
                    else if (h.score > it->score) *it = h;
                }
            }
            std::sort(want.begin(), want.end(), [](const SearchHit& a, const SearchHit& b) {
                return a.score != b.score ? a.score > b.score : a.key < b.key;
            });
        } else {
            CHECK(trace.regions_searched == 0);
        }
        check_same_hits(got, want);
    }
    CHECK(regions_searched >= 2);
}

TEST_CASE("a vote fraction verifies only the references near the best-voted one, and keeps its best hit", "[store][matcher]") {
    test::TempDir dir;
    {
        Store writer(dir.path());
        index_samples(writer);
    }
    const auto opened = [&](double fraction) {
        StoreOptions options;
        options.mode = OpenMode::read_only;
        options.min_votes = 1;  // every voted reference a candidate, so that the fraction alone decides
        options.pdq_max_distance = -1;  // candidates from the votes only
        options.search_regions = false;
        options.vote_fraction = fraction;
        return std::make_unique<Store>(dir.path(), options);
    };
    const auto all = opened(0), half = opened(0.5), best = opened(1.0);
    SearchOptions every;
    every.top = 0;
    const cv::Mat shoe = photo("1144953-3-2x.jpg");
    int fewer = 0;
    for (const cv::Mat& query : {photo("dome.jpg"), shoe(cv::Rect(0, 0, shoe.cols / 2, shoe.rows)), photo("sample1_1280.jpg")}) {
        const auto bytes = jpeg(query, 80);
        SearchTrace a, h, b;
        const auto from_all = all->search(bytes, every, &a).value();
        const auto from_half = half->search(bytes, every, &h).value();
        const auto from_best = best->search(bytes, every, &b).value();
        CHECK(a.from_pdq == 0);
        CHECK(a.from_votes >= h.from_votes);
        CHECK(h.from_votes >= b.from_votes);
        CHECK(b.from_votes >= 1);
        fewer += a.from_votes > b.from_votes;
        // The copy is the best-voted reference: every fraction finds it first, with nearly the same score (the
        // shared-inlier discount sees the other verified candidates, so its score may move a little).
        REQUIRE_FALSE(from_best.empty());
        CHECK(from_best.front().key == from_all.front().key);
        CHECK(from_best.front().score == Approx(from_all.front().score).margin(0.01));
        CHECK(from_half.front().key == from_all.front().key);
    }
    CHECK(fewer >= 2);  // the fraction left candidates out
}

TEST_CASE("far PDQ neighbours are verified nearest first, up to their limit", "[store][matcher]") {
    test::TempDir dir;
    {
        Store writer(dir.path());
        index_samples(writer);
    }
    const auto opened = [&](int far_candidates) {
        StoreOptions options;
        options.mode = OpenMode::read_only;
        options.pdq_max_distance = 256;  // every reference a PDQ neighbour
        options.pdq_far_distance = -1;   // and every one a far one
        options.pdq_far_candidates = far_candidates;
        options.vote_candidates = 0;     // candidates from PDQ only
        options.early_exit_pdq_distance = -1;
        options.search_regions = false;
        return std::make_unique<Store>(dir.path(), options);
    };
    const auto all = opened(-1), two = opened(2);
    SearchOptions every;
    every.top = 0;
    SearchTrace a, b;
    const auto bytes = jpeg(photo("dome.jpg"), 70);
    const auto from_all = all->search(bytes, every, &a).value();
    const auto from_two = two->search(bytes, every, &b).value();
    CHECK(a.from_pdq == static_cast<int>(kIndexed.size()));
    CHECK(b.from_pdq == 2);
    REQUIRE(from_two.size() == 2u);
    // The two nearest by PDQ distance among all the neighbours are the ones kept.
    auto by_distance = from_all;
    std::sort(by_distance.begin(), by_distance.end(), [](const SearchHit& x, const SearchHit& y) {
        return x.pdq_distance != y.pdq_distance ? x.pdq_distance < y.pdq_distance : x.id < y.id;
    });
    std::set<std::string> kept = {from_two[0].key, from_two[1].key}, nearest = {by_distance[0].key, by_distance[1].key};
    CHECK(kept == nearest);
    CHECK(from_two.front().key == "dome");
}

TEST_CASE("parallel verification returns what verifying the candidates one after another does", "[store][matcher]") {
    test::TempDir dir;
    {
        Store writer(dir.path());
        index_samples(writer);
    }
    StoreOptions options;
    options.mode = OpenMode::read_only;
    options.parallel_verification = false;
    const Store one_by_one(dir.path(), options);
    options.parallel_verification = true;
    const Store parallel(dir.path(), options);
    SearchOptions all;
    all.top = 0;
    // Copies (one mirrored, one cropped), a photo of the same shoe series, and an unrelated photo: each
    // with several candidates to verify.
    const cv::Mat shoe = photo("1144953-3-2x.jpg");
    const std::vector<cv::Mat> queries = {photo("dome.jpg"), test::mirror(photo("coffee.jpg")), shoe(cv::Rect(0, 0, shoe.cols / 2, shoe.rows)),
                                          photo("sample2_1280.jpg"), photo("1144953-2-2x.jpg")};
    int several = 0;
    for (std::size_t q = 0; q < queries.size(); ++q) {
        INFO("query " << q);
        const auto bytes = jpeg(queries[q], 80);
        SearchTrace a, b;
        const auto want = one_by_one.search(bytes, all, &a).value();
        const auto got = parallel.search(bytes, all, &b).value();
        CHECK(a.verified == b.verified);
        several += b.verified > 1;
        check_same_hits(got, want);
        for (std::size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
            CHECK(got[i].inliers == want[i].inliers);
            CHECK(got[i].match == want[i].match);
        }
    }
    CHECK(several >= 3);  // the parallel path ran
}

namespace {

// A shop-app screenshot: the same detailed chrome (status bar, title bar, price, title, stars, buttons) around
// whatever photo it shows.
cv::Mat app_screenshot(const cv::Mat& photo) {
    const int w = 720, top = 150, photo_h = 540, bottom = 520;
    cv::Mat s(top + photo_h + bottom, w, CV_8UC3, cv::Scalar(255, 255, 255));
    const cv::Scalar ink(30, 30, 30), accent(0, 90, 255), grey(140, 140, 140);
    const int font = cv::FONT_HERSHEY_SIMPLEX;
    cv::putText(s, "9:41", {24, 36}, font, 0.9, ink, 2, cv::LINE_AA);
    for (int i = 0; i < 4; ++i) cv::rectangle(s, cv::Rect(560 + i * 12, 34 - (i + 1) * 6, 8, (i + 1) * 6), ink, cv::FILLED);
    cv::rectangle(s, cv::Rect(630, 14, 60, 24), ink, 2);
    cv::line(s, {30, 105}, {52, 85}, ink, 4, cv::LINE_AA);
    cv::line(s, {30, 105}, {52, 125}, ink, 4, cv::LINE_AA);
    cv::putText(s, "Product details", {90, 118}, font, 1.1, ink, 2, cv::LINE_AA);
    cv::rectangle(s, cv::Rect(640, 88, 44, 30), ink, 3);
    cv::Mat fitted;
    cv::resize(photo, fitted, {w, photo_h}, 0, 0, cv::INTER_AREA);
    fitted.copyTo(s(cv::Rect(0, top, w, photo_h)));
    int y = top + photo_h + 80;
    cv::putText(s, "$19.99", {24, y}, cv::FONT_HERSHEY_DUPLEX, 2.0, accent, 3, cv::LINE_AA);
    cv::putText(s, "$39.90", {290, y}, font, 0.9, grey, 1, cv::LINE_AA);
    cv::line(s, {290, y - 10}, {400, y - 10}, grey, 2);
    y += 60;
    cv::putText(s, "Original leather handbag for women", {24, y}, font, 0.9, ink, 2, cv::LINE_AA);
    y += 46;
    cv::putText(s, "Free shipping - 7k sold", {24, y}, font, 0.75, grey, 1, cv::LINE_AA);
    y += 56;
    for (int i = 0; i < 5; ++i) {
        const cv::Point c(40 + i * 38, y - 8);
        const std::array<cv::Point, 4> star = {c + cv::Point(0, -14), c + cv::Point(14, 0), c + cv::Point(0, 14), c + cv::Point(-14, 0)};
        cv::fillConvexPoly(s, star.data(), 4, i < 4 ? cv::Scalar(0, 190, 255) : grey, cv::LINE_AA);
    }
    cv::putText(s, "4.8 (2316)", {240, y}, font, 0.75, grey, 1, cv::LINE_AA);
    const int by = s.rows - 120;
    cv::rectangle(s, cv::Rect(24, by, 324, 88), cv::Scalar(0, 165, 255), cv::FILLED);
    cv::rectangle(s, cv::Rect(372, by, 324, 88), accent, cv::FILLED);
    cv::putText(s, "Add to cart", {70, by + 56}, font, 1.0, cv::Scalar(255, 255, 255), 2, cv::LINE_AA);
    cv::putText(s, "Buy now", {450, by + 56}, font, 1.0, cv::Scalar(255, 255, 255), 2, cv::LINE_AA);
    return s;
}

std::optional<SearchHit> hit_of(const std::vector<SearchHit>& hits, const std::string& key) {
    const auto it = std::find_if(hits.begin(), hits.end(), [&](const SearchHit& h) { return h.key == key; });
    return it == hits.end() ? std::nullopt : std::optional<SearchHit>(*it);
}

}  // namespace

TEST_CASE("inliers that many references share do not make a match: the photo inside the chrome does", "[store][matcher][regions]") {
    test::TempDir dir;
    // The archive: screenshots of three photos the query does not show, all in one app's chrome, and the
    // photo the query shows.
    const std::vector<std::string> others = {"sample2_1280.jpg", "slide-3.jpg", "slide-6.jpg"};
    {
        Store writer(dir.path());
        for (const auto& name : others) REQUIRE(writer.add("shot-" + name, jpeg(app_screenshot(photo(name)), 90)).ok());
        REQUIRE(writer.add("dome", test::read_bytes(test::sample_photo("dome.jpg"))).ok());
    }
    SearchOptions all;
    all.top = 0;
    const auto query = jpeg(app_screenshot(photo("dome.jpg")), 80);
    StoreOptions options;
    options.mode = OpenMode::read_only;
    REQUIRE(options.shared_inlier_references == 2);

    // Without the discount the chrome alone matches the screenshots: what this test guards against.
    options.shared_inlier_references = 0;
    {
        const Store store(dir.path(), options);
        const auto hits = store.search(query, all).value();
        int chrome_matches = 0;
        for (const auto& name : others) chrome_matches += hit_of(hits, "shot-" + name).value_or(SearchHit{}).match ? 1 : 0;
        REQUIRE(chrome_matches >= 2);
    }
    options.shared_inlier_references = 2;
    const Store store(dir.path(), options);
    const auto hits = store.search(query, all).value();
    for (const auto& name : others) {
        INFO(name);
        CHECK_FALSE(hit_of(hits, "shot-" + name).value_or(SearchHit{}).match);
    }
    // The photo inside is what matches (as a whole or through its region).
    REQUIRE_FALSE(hits.empty());
    CHECK(hits.front().key == "dome");
    CHECK(hits.front().match);

    // A true copy of one archived screenshot still matches it: its photo's inliers are its own.
    const auto copy = store.search(jpeg(app_screenshot(photo("slide-3.jpg")), 70), all).value();
    REQUIRE_FALSE(copy.empty());
    CHECK(copy.front().key == "shot-slide-3.jpg");
    CHECK(copy.front().match);
}

TEST_CASE("an archive holding several edited copies of one photo still matches a new copy of it", "[store][matcher]") {
    // Repeat takedowns: four crops of one photo, far apart in PDQ, so the shared-inlier discount counts
    // them as four references; the query's inliers are shared between them.
    test::TempDir dir;
    const cv::Mat dome = photo("dome.jpg");
    {
        Store writer(dir.path());
        int i = 0;
        for (const double keep : {0.95, 0.85, 0.75, 0.65}) {
            const int w = static_cast<int>(dome.cols * keep), h = static_cast<int>(dome.rows * keep);
            const cv::Rect r(i % 2 ? (dome.cols - w) / 5 : (dome.cols - w) * 7 / 10, i % 2 ? (dome.rows - h) * 3 / 5 : (dome.rows - h) * 3 / 10, w, h);
            REQUIRE(writer.add("crop" + std::to_string(i++), jpeg(dome(r).clone(), 90)).ok());
        }
    }
    cv::Mat query;
    cv::resize(test::price_overlay(dome), query, cv::Size(), 0.6, 0.6, cv::INTER_AREA);
    SearchOptions all;
    all.top = 0;
    StoreOptions options;
    options.mode = OpenMode::read_only;
    const Store store(dir.path(), options);
    const auto hits = store.search(jpeg(query, 85), all).value();
    int matches = 0;
    for (const auto& h : hits) matches += h.match ? 1 : 0;
    // Discounted or not, the copies keep enough inliers of their own: every one of them still matches.
    CHECK(matches == 4);
    REQUIRE_FALSE(hits.empty());
    CHECK(hits.front().match);
}

TEST_CASE("an unusable index directory is a StoreError", "[store][bad_input]") {
    test::TempDir dir;
    std::filesystem::create_directories(dir / "db");
    { std::ofstream(dir / "db" / "catalog.sqlite") << "this is not a database"; }
    CHECK_THROWS_AS(Store(dir / "db"), StoreError);
}
