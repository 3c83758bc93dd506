#include <catch2/catch.hpp>

#include <opencv2/core.hpp>

#include "generated_photos.hpp"
#include "neardup/datasets/public_sets.hpp"

using namespace neardup::datasets;
using neardup::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Tiny images: the loaders read names and layout, never pixels.
void image(const fs::path& p, int seed = 1) { neardup::test::write_image(p, neardup::test::photo_like(40, 32, seed)); }

std::vector<std::string> ids(const std::vector<DatasetImage>& images) {
    std::vector<std::string> out;
    for (const auto& i : images) out.push_back(i.id);
    return out;
}

std::vector<std::pair<std::string, std::string>> pairs(const LoadedDataset& d) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& p : d.ground_truth) out.emplace_back(p.query_id, p.reference_id);
    return out;
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

}  // namespace

TEST_CASE("copydays: originals, attack folders, and blocks") {
    TempDir dir("copydays");
    const auto r = dir.path();
    image(r / "original" / "200000.jpg");
    image(r / "original" / "200100.jpg");
    image(r / "jpegqual" / "30" / "200000.jpg");
    image(r / "crops" / "50" / "200100.jpg");
    image(r / "strong" / "200103.jpg");
    const LoadedDataset d = load_copydays(r);
    CHECK(d.name == "copydays");
    CHECK(ids(d.references) == std::vector<std::string>{"200000", "200100"});
    CHECK(ids(d.queries) == std::vector<std::string>{"crops_50_200100", "jpegqual_30_200000", "strong_200103"});
    CHECK(pairs(d) == Pairs{{"crops_50_200100", "200100"}, {"jpegqual_30_200000", "200000"}, {"strong_200103", "200100"}});

    image(r / "strong" / "200299.jpg");
    CHECK_THROWS_WITH(load_copydays(r), "copydays: " + (r / "strong" / "200299.jpg").string() + ": no original 200200 for this image");
    fs::remove(r / "strong" / "200299.jpg");
    image(r / "strong" / "snow.jpg");
    CHECK_THROWS_WITH(load_copydays(r),
                      "copydays: " + (r / "strong" / "snow.jpg").string() + ": file name is not a number as the set names its images");
    fs::remove(r / "strong" / "snow.jpg");
    image(r / "original" / "200101.jpg");
    CHECK_THROWS_WITH(load_copydays(r), "copydays: " + (r / "original" / "200101.jpg").string() + ": an original's number ends in 00");

    TempDir empty("copydays-empty");
    CHECK_THROWS_WITH(load_copydays(empty.path()), "copydays: " + (empty.path() / "original").string() + ": no such folder");
    fs::create_directories(empty.path() / "original");
    CHECK_THROWS_WITH(load_copydays(empty.path()), "copydays: " + (empty.path() / "original").string() + ": no original images");
    image(empty.path() / "original" / "200000.jpg");
    CHECK_THROWS_WITH(load_copydays(empty.path()), "copydays: " + empty.path().string() + ": no attacked images next to original/");
    CHECK_THROWS_WITH(load_copydays(empty.path() / "nope"), "copydays: " + (empty.path() / "nope").string() + ": no such folder");
}

TEST_CASE("holidays: the first image of each group is the query") {
    TempDir dir("holidays");
    const auto j = dir.path() / "jpg";
    for (const char* n : {"100000", "100001", "100002", "100100", "100101"}) image(j / (std::string(n) + ".jpg"));
    const LoadedDataset d = load_holidays(dir.path());
    CHECK(ids(d.queries) == std::vector<std::string>{"100000", "100100"});
    CHECK(ids(d.references) == std::vector<std::string>{"100001", "100002", "100101"});
    CHECK(pairs(d) == Pairs{{"100000", "100001"}, {"100000", "100002"}, {"100100", "100101"}});
    // Images directly in the root work too.
    TempDir flat("holidays-flat");
    image(flat.path() / "100000.jpg");
    image(flat.path() / "100001.jpg");
    CHECK(load_holidays(flat.path()).queries.size() == 1);

    image(j / "100200.jpg");
    CHECK_THROWS_WITH(load_holidays(dir.path()),
                      "holidays: " + (j / "100200.jpg").string() + ": group 1002 has a query and no other image");
    fs::remove(j / "100200.jpg");
    image(j / "IMG_1.jpg");
    CHECK_THROWS_WITH(load_holidays(dir.path()),
                      "holidays: " + (j / "IMG_1.jpg").string() + ": file name is not a number as the set names its images");
    TempDir none("holidays-none");
    CHECK_THROWS_WITH(load_holidays(none.path()), "holidays: " + none.path().string() + ": no images");
}

TEST_CASE("ukbench: groups of four, every image a query") {
    TempDir dir("ukbench");
    const auto f = dir.path() / "full";
    for (int i = 0; i < 8; ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "ukbench%05d.jpg", i);
        image(f / name);
    }
    const LoadedDataset d = load_ukbench(dir.path());
    CHECK(d.queries.size() == 8);
    CHECK(d.references.size() == 8);
    CHECK(d.ground_truth.size() == 32);
    CHECK(d.ground_truth.front().query_id == "ukbench00000");
    CHECK(d.ground_truth.front().reference_id == "ukbench00000");
    CHECK(d.ground_truth.back().query_id == "ukbench00007");
    CHECK(d.ground_truth.back().reference_id == "ukbench00007");

    fs::remove(f / "ukbench00005.jpg");
    CHECK_THROWS_WITH(load_ukbench(dir.path()), "ukbench: " + f.string() + ": object 1 has 3 images, expected 4");
    image(f / "ukbench00005.jpg");
    image(f / "photo.jpg");
    CHECK_THROWS_WITH(load_ukbench(dir.path()), "ukbench: " + (f / "photo.jpg").string() + ": file name does not start with ukbench");
    fs::remove(f / "photo.jpg");
    image(f / "ukbenchX.jpg");
    CHECK_THROWS_WITH(load_ukbench(dir.path()),
                      "ukbench: " + (f / "ukbenchX.jpg").string() + ": file name is not a number as the set names its images");
}

TEST_CASE("california-nd: a thresholded annotator matrix") {
    TempDir dir("cnd");
    const auto r = dir.path();
    for (int i = 1; i <= 3; ++i) image(r / "Photos" / ("IMG_000" + std::to_string(i) + ".jpg"));
    neardup::test::write_text(r / "similarity.csv", "1,0.8,0.1\n0.8, 1, 0.5\n0.1 0.5 1\n");
    const LoadedDataset d = load_california_nd(r);
    CHECK(d.queries.size() == 3);
    CHECK(pairs(d) == Pairs{{"IMG_0001", "IMG_0002"}, {"IMG_0002", "IMG_0001"}, {"IMG_0002", "IMG_0003"}, {"IMG_0003", "IMG_0002"}});
    CHECK(load_california_nd(r, 0.9).ground_truth.empty());

    neardup::test::write_text(r / "similarity.csv", "1,0.8,0.1\n0.8,1,0.5\n");
    CHECK_THROWS_WITH(load_california_nd(r), "california-nd: " + (r / "similarity.csv").string() + ": 2 rows for 3 photos");
    neardup::test::write_text(r / "similarity.csv", "1,0.8,0.1\n0.8,1\n0.1,0.5,1\n");
    CHECK_THROWS_WITH(load_california_nd(r), "california-nd: " + (r / "similarity.csv").string() + " row 2: 2 values for 3 photos");
    neardup::test::write_text(r / "similarity.csv", "1,0.8,0.1\n0.8,1,x\n0.1,0.5,1\n");
    CHECK_THROWS_WITH(load_california_nd(r), "california-nd: " + (r / "similarity.csv").string() + " row 2: 'x' is not a number");
    fs::remove(r / "similarity.csv");
    CHECK_THROWS_WITH(load_california_nd(r), "california-nd: " + (r / "similarity.csv").string() + ": missing similarity matrix");
    fs::remove_all(r / "Photos");
    CHECK_THROWS_WITH(load_california_nd(r), "california-nd: " + (r / "Photos").string() + ": no such folder");
}

TEST_CASE("disc21 dev: nested image folders and the DISC ground truth") {
    TempDir dir("disc21");
    const auto r = dir.path();
    image(r / "dev_queries" / "images" / "Q00000.jpg");
    image(r / "dev_queries" / "images" / "Q00001.jpg");
    image(r / "references" / "references_0" / "R000000.jpg");
    image(r / "references" / "references_1" / "R000001.jpg");
    image(r / "references" / "notes.jpg");  // not named like a reference: ignored
    neardup::test::write_text(r / "dev_ground_truth.csv", "query_id,reference_id\nQ00000,R000001\nQ00001,\n");
    const LoadedDataset d = load_disc21_dev(r);
    CHECK(ids(d.queries) == std::vector<std::string>{"Q00000", "Q00001"});
    CHECK(ids(d.references) == std::vector<std::string>{"R000000", "R000001"});
    CHECK(pairs(d) == Pairs{{"Q00000", "R000001"}});

    const auto csv = r / "dev_ground_truth.csv";
    neardup::test::write_text(csv, "query,reference\n");
    CHECK_THROWS_WITH(load_disc21_dev(r), "disc21: " + csv.string() + ": header is 'query,reference', expected query_id,reference_id");
    neardup::test::write_text(csv, "query_id,reference_id\nQ00000\n");
    CHECK_THROWS_WITH(load_disc21_dev(r), "disc21: " + csv.string() + " line 2: expected query_id,reference_id, found 'Q00000'");
    neardup::test::write_text(csv, "query_id,reference_id\nQ00009,R000000\n");
    CHECK_THROWS_WITH(load_disc21_dev(r), "disc21: " + csv.string() + ": query Q00009 has no image");
    neardup::test::write_text(csv, "query_id,reference_id\nQ00000,R000123\n");
    CHECK_THROWS_WITH(load_disc21_dev(r), "disc21: " + csv.string() + ": reference R000123 (for query Q00000) has no image");
    neardup::test::write_text(csv, "");
    CHECK_THROWS_WITH(load_disc21_dev(r), "disc21: " + csv.string() + ": empty file, expected header query_id,reference_id");
    fs::remove(csv);
    CHECK_THROWS_WITH(load_disc21_dev(r), "disc21: " + csv.string() + ": missing ground truth file");
    fs::remove_all(r / "dev_queries");
    fs::create_directories(r / "dev_queries");
    CHECK_THROWS_WITH(load_disc21_dev(r), "disc21: " + (r / "dev_queries").string() + ": no query images named QNNNNN.jpg");
    fs::remove_all(r / "references");
    CHECK_THROWS_WITH(load_disc21_dev(r), "disc21: " + (r / "references").string() + ": no such folder");
}

TEST_CASE("offline benchmark loader checks its folders") {
    TempDir dir("offline-loader");
    CHECK_THROWS_WITH(load_offline_benchmark(dir.path()), "offline-benchmark: " + (dir.path() / "references").string() + ": no such folder");
    image(dir.path() / "references" / "tux_0001.jpg");
    image(dir.path() / "queries" / "q00001.jpg");
    CHECK_THROWS_WITH(load_offline_benchmark(dir.path()),
                      "offline-benchmark: " + (dir.path() / "ground_truth.csv").string() + ": missing ground truth file");
    neardup::test::write_text(dir.path() / "ground_truth.csv", "query_id,reference_id\nq00001,tux_0001\n");
    const LoadedDataset d = load_offline_benchmark(dir.path());
    CHECK(pairs(d) == Pairs{{"q00001", "tux_0001"}});
}
