#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "generated_photos.hpp"
#include "neardup/datasets/offline_benchmark.hpp"
#include "neardup/datasets/public_sets.hpp"

using namespace neardup::datasets;
using neardup::test::TempDir;

namespace {

// 24 generated photos (two of them one object), written once per test into `dir`.
std::vector<SourceEntry> generated_sources(const std::filesystem::path& dir) {
    std::vector<SourceEntry> out;
    for (int i = 0; i < 24; ++i) {
        const auto p = dir / ("photo" + std::to_string(i) + ".jpg");
        neardup::test::write_image(p, neardup::test::photo_like(320 + 8 * i, 240, 100 + i));
        out.push_back({"generated", "1", "gen", SourceRole::photo, i < 2 ? "pair" : "", p});
    }
    for (int i = 0; i < 4; ++i) {
        const auto p = dir / ("sky" + std::to_string(i) + ".png");
        neardup::test::write_image(p, neardup::test::photo_like(200, 200, 500 + i));
        out.push_back({"generated-sky", "2", "sky", SourceRole::distractor, "", p});
    }
    return out;
}

BenchmarkConfig small_config() {
    BenchmarkConfig c;
    c.target_queries = 44;
    c.hard_negative_variants = 2;
    c.tile_pool = 3;
    c.command = "test";
    return c;
}

std::vector<std::vector<std::string>> read_csv(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::vector<std::vector<std::string>> rows;
    std::string line;
    while (std::getline(in, line)) {
        std::vector<std::string> f;
        std::string field;
        std::istringstream s(line);
        while (std::getline(s, field, ',')) f.push_back(field);
        if (!line.empty() && line.back() == ',') f.emplace_back();
        rows.push_back(f);
    }
    return rows;
}

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("the offline benchmark writes the agreed layout, consistent with itself") {
    TempDir dir("offline");
    const auto sources = generated_sources(dir.path() / "src");
    const auto out = dir.path() / "out";
    const BuildSummary s = build_offline_benchmark(sources, small_config(), out);
    CHECK_FALSE(s.up_to_date);
    CHECK(s.queries == 44);
    CHECK(s.hard_negatives == 2);  // one hard-negative photo (the pair's second) x 2 variants

    const auto gt = read_csv(out / "ground_truth.csv");
    const auto qs = read_csv(out / "queries.csv");
    const auto hn = read_csv(out / "hard_negatives.csv");
    REQUIRE(gt.at(0) == std::vector<std::string>{"query_id", "reference_id"});
    REQUIRE(qs.at(0) == std::vector<std::string>{"query_id", "source_id", "in_index", "family", "edits", "split"});
    REQUIRE(hn.at(0) == std::vector<std::string>{"query_id", "related_reference_id"});
    REQUIRE(gt.size() == 45);
    REQUIRE(qs.size() == 45);
    REQUIRE(hn.size() == 3);

    std::set<std::string> references;
    for (const auto& e : std::filesystem::directory_iterator(out / "references")) references.insert(e.path().stem().string());
    CHECK(references.size() == s.references);
    std::map<std::string, int> families;
    std::map<std::string, std::string> split_of_source;  // every query of one source in one split
    std::map<std::string, int> per_split;
    std::set<std::string> hard;
    for (const auto& row : hn) if (row[0] != "query_id") hard.insert(row[0]);
    for (std::size_t i = 1; i < qs.size(); ++i) {
        const auto& q = qs[i];
        REQUIRE(q.size() == 6);
        const std::string& id = q[0];
        INFO(id << " " << q[3] << " " << q[4]);
        CHECK(gt[i][0] == id);
        CHECK(std::filesystem::exists(out / "queries" / (id + ".jpg")));
        CHECK(id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") == std::string::npos);
        const bool in_index = q[2] == "1";
        // in_index <=> the ground truth names the source, and the source is an indexed reference.
        CHECK(in_index == !gt[i][1].empty());
        if (in_index) {
            CHECK(gt[i][1] == q[1]);
            CHECK(references.count(q[1]) == 1);
        } else {
            CHECK(references.count(q[1]) == 0);  // an unindexed original never sits in the index
        }
        CHECK(edit_family_from_string(q[3]).has_value());
        CHECK(hard.count(id) == (q[3] == "hard_negative" ? 1u : 0u));
        if (q[3] == "hard_negative") CHECK(q[4].rfind("hard_negative+", 0) == 0);
        else CHECK(q[4].find(q[3]) != std::string::npos);
        ++families[q[3]];
        CHECK((q[5] == "train" || q[5] == "test"));
        CHECK(split_of_source.emplace(q[1], q[5]).first->second == q[5]);
        ++per_split[q[5]];
    }
    CHECK(per_split["train"] > 0);
    CHECK(per_split["test"] > 0);
    CHECK(s.per_split == per_split);
    for (const auto& row : hn)
        if (row[0] != "query_id") {
            CHECK(references.count(row[1]) == 1);
            // A hard negative is judged in the split of the reference it resembles (its group's), so no
            // threshold tuned on train has seen the pair it is tested on.
            const auto query_row = std::find_if(qs.begin(), qs.end(), [&](const auto& q) { return q[0] == row[0]; });
            REQUIRE(query_row != qs.end());
            if (split_of_source.count(row[1])) CHECK(split_of_source.at(row[1]) == (*query_row)[5]);
        }
    for (const EditFamily f : kEditFamilies) CHECK(families[std::string(to_string(f))] >= 2);

    const auto manifest = nlohmann::json::parse(slurp(out / "manifest.json"));
    CHECK(manifest["seed"] == small_config().seed);
    // Thumbnail references: listed in the manifest, 150-400 px on the long side; every other reference is
    // its source at full size (generated at 320-504 x 240, the skies 200 x 200).
    const auto thumbnails = manifest["thumbnail_references"].get<std::set<std::string>>();
    CHECK(thumbnails.size() == s.thumbnail_references);
    CHECK(manifest["counts"]["thumbnail_references"] == s.thumbnail_references);
    for (const auto& e : std::filesystem::directory_iterator(out / "references")) {
        const cv::Mat img = cv::imread(e.path().string());
        REQUIRE(!img.empty());
        INFO(e.path().filename().string());
        if (thumbnails.count(e.path().stem().string())) {
            CHECK(std::max(img.cols, img.rows) >= 150);
            CHECK(std::max(img.cols, img.rows) <= 400);
        } else {
            CHECK(img.rows == (e.path().stem().string().rfind("sky", 0) == 0 ? 200 : 240));
        }
    }
    CHECK(manifest["counts"]["queries"] == 44);
    CHECK(manifest["source_packages"]["generated"]["version"] == "1");
    CHECK(std::filesystem::file_size(out / "contact_sheet.png") > 1000);

    // The loader for the layout reads it back.
    const LoadedDataset d = load_offline_benchmark(out);
    CHECK(d.queries.size() == 44);
    CHECK(d.references.size() == s.references);
    CHECK(d.ground_truth.size() == static_cast<std::size_t>(s.in_index));

    SECTION("a second run with the same sources and config writes nothing") {
        const auto before = std::filesystem::last_write_time(out / "manifest.json");
        const BuildSummary again = build_offline_benchmark(sources, small_config(), out);
        CHECK(again.up_to_date);
        CHECK(again.queries == 44);
        CHECK(std::filesystem::last_write_time(out / "manifest.json") == before);
    }
    SECTION("another seed is another benchmark, and rebuilds") {
        BenchmarkConfig c = small_config();
        c.seed = 7;
        CHECK_FALSE(build_offline_benchmark(sources, c, out).up_to_date);
        CHECK(nlohmann::json::parse(slurp(out / "manifest.json"))["seed"] == 7);
    }
}

TEST_CASE("the same seed gives byte-identical benchmarks") {
    TempDir dir("offline-repro");
    const auto sources = generated_sources(dir.path() / "src");
    build_offline_benchmark(sources, small_config(), dir.path() / "one");
    build_offline_benchmark(sources, small_config(), dir.path() / "two");
    CHECK(slurp(dir.path() / "one" / "queries.csv") == slurp(dir.path() / "two" / "queries.csv"));
    CHECK(slurp(dir.path() / "one" / "ground_truth.csv") == slurp(dir.path() / "two" / "ground_truth.csv"));
    for (const auto& e : std::filesystem::directory_iterator(dir.path() / "one" / "queries"))
        CHECK(slurp(e.path()) == slurp(dir.path() / "two" / "queries" / e.path().filename()));
}

TEST_CASE("distractor copies edit only distractors, are reproducible, and are part of the cached build") {
    TempDir dir("offline-distractors");
    const auto sources = generated_sources(dir.path() / "src");
    BenchmarkConfig c = small_config();
    c.distractor_copies = 3;
    const auto out = dir.path() / "out";
    const BuildSummary s = build_offline_benchmark(sources, c, out);
    const auto qs = read_csv(out / "queries.csv");
    std::set<std::string> queried;  // every photo a query shows
    for (std::size_t i = 1; i < qs.size(); ++i) queried.insert(qs[i][1]);
    std::set<std::string> distractor_refs;
    for (const auto& e : std::filesystem::directory_iterator(out / "references"))
        if (!queried.count(e.path().stem().string())) distractor_refs.insert(e.path().stem().string());
    REQUIRE_FALSE(distractor_refs.empty());
    CHECK(s.distractor_copies == distractor_refs.size() * 3);
    std::map<std::string, int> per_reference;
    for (const auto& e : std::filesystem::directory_iterator(out / "distractors")) {
        const std::string stem = e.path().stem().string();  // <reference id>_c<nn>
        const auto cut = stem.rfind("_c");
        REQUIRE(cut != std::string::npos);
        CHECK(distractor_refs.count(stem.substr(0, cut)) == 1);
        CHECK(cv::imread(e.path().string()).empty() == false);
        ++per_reference[stem.substr(0, cut)];
    }
    CHECK(per_reference.size() == distractor_refs.size());
    for (const auto& [ref, n] : per_reference) CHECK(n == 3);
    CHECK(nlohmann::json::parse(slurp(out / "manifest.json"))["counts"]["distractor_copies"] == s.distractor_copies);

    // The same config again: up to date. A second folder: byte-identical copies.
    CHECK(build_offline_benchmark(sources, c, out).up_to_date);
    build_offline_benchmark(sources, c, dir.path() / "two");
    for (const auto& e : std::filesystem::directory_iterator(out / "distractors"))
        CHECK(slurp(e.path()) == slurp(dir.path() / "two" / "distractors" / e.path().filename()));
    // A copy lost from the folder: the build is redone.
    std::filesystem::remove(std::filesystem::directory_iterator(out / "distractors")->path());
    CHECK_FALSE(build_offline_benchmark(sources, c, out).up_to_date);
    // Back to none: the folder goes with the rest of the old build.
    c.distractor_copies = 0;
    CHECK(build_offline_benchmark(sources, c, out).distractor_copies == 0);
    CHECK_FALSE(std::filesystem::exists(out / "distractors"));
}

TEST_CASE("the split is a fixed function of the key and the seed, about half each") {
    int test = 0;
    for (int i = 0; i < 2000; ++i) {
        const std::string key = "src_" + std::to_string(i);
        const Split a = split_of(key, 20261125);
        CHECK(split_of(key, 20261125) == a);
        test += a == Split::test ? 1 : 0;
    }
    CHECK(test > 900);
    CHECK(test < 1100);
    int moved = 0;  // another seed is another split
    for (int i = 0; i < 200; ++i) moved += split_of("src_" + std::to_string(i), 1) != split_of("src_" + std::to_string(i), 2) ? 1 : 0;
    CHECK(moved > 60);
    CHECK(to_string(Split::train) == "train");
    CHECK(to_string(Split::test) == "test");
}

TEST_CASE("one in six references with queries is planned as a thumbnail, never a group's or a distractor") {
    std::vector<SourceEntry> sources;
    for (int i = 0; i < 300; ++i)
        sources.push_back({"p", "1", "p", i < 250 ? SourceRole::photo : SourceRole::distractor, i < 4 ? "shoe" : "", "/x" + std::to_string(i)});
    BenchmarkConfig c;
    c.target_queries = 400;
    const BenchmarkPlan a = plan_benchmark(sources, c), b = plan_benchmark(sources, c);
    std::size_t with_queries = 0, thumbnails = 0;
    for (std::size_t i = 0; i < a.references.size(); ++i) {
        const PlannedReference& r = a.references[i];
        CHECK(r.thumbnail == b.references[i].thumbnail);  // the same plan every time
        with_queries += r.has_queries ? 1 : 0;
        if (!r.thumbnail) continue;
        ++thumbnails;
        CHECK(r.has_queries);
        CHECK(sources[r.source].group.empty());
    }
    REQUIRE(with_queries > 100);
    CHECK(thumbnails * 12 > with_queries);
    CHECK(thumbnails * 3 < with_queries);
}

TEST_CASE("planning refuses too few photos") {
    std::vector<SourceEntry> few;
    for (int i = 0; i < 5; ++i) few.push_back({"p", "1", "p", SourceRole::photo, "", "/x" + std::to_string(i)});
    CHECK_THROWS_WITH(plan_benchmark(few, BenchmarkConfig{}), "plan_benchmark: 5 usable photos after screening; at least 6 are needed");
}

TEST_CASE("the small CI benchmark builds from the installed jquery photos") {
    const auto sources = jquery_example_sources({"/usr/share/doc/libjs-jquery-backstretch/examples",
                                                 "/usr/share/doc/libjs-jquery-slides/examples"});
    if (sources.empty()) {
        WARN("jquery example photos not installed (scripts/install-deps.sh installs them); skipped");
        return;
    }
    TempDir dir("offline-small");
    BenchmarkConfig c;  // what neardup-make-benchmark --small uses
    c.target_queries = 60;
    c.hard_negative_variants = 1;
    c.tile_pool = 3;
    const BuildSummary s = build_offline_benchmark(sources, c, dir.path());
    CHECK(s.queries == 60);
    CHECK(s.screening.dropped_duplicate == 7);  // 3 extra sizes of each backstretch sample, one repeated slide
    CHECK(s.hard_negatives == 6);               // six other shots of the indexed shoe
    for (const EditFamily f : kEditFamilies) CHECK(s.per_family.at(std::string(to_string(f))) >= 2);
    const LoadedDataset d = load_offline_benchmark(dir.path());
    CHECK(d.queries.size() == 60);
}
