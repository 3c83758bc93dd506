#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "generated_photos.hpp"
#include "neardup/datasets/source_images.hpp"

using namespace neardup::datasets;
using neardup::test::TempDir;

namespace {

SourceEntry entry(const std::filesystem::path& p, SourceRole role = SourceRole::photo, std::string group = "") {
    return {"pkg", "1.0", "p", role, std::move(group), p};
}

std::vector<SourceStats> measure_all(const std::vector<SourceEntry>& entries) {
    std::vector<SourceStats> out;
    for (const auto& e : entries) out.push_back(measure_source(e, load_source(e, 1)));
    return out;
}

}  // namespace

TEST_CASE("sources list round-trips and names the line of a malformed entry") {
    TempDir dir("sources-list");
    const std::vector<SourceEntry> entries = {{"tuxpaint-stamps-default", "2022.06.04-1", "tux", SourceRole::cutout, "", "/a/b c.png"},
                                              {"opencv-doc", "4.6.0", "ocv", SourceRole::photo, "graf", "/x/graf1.png"},
                                              {"stellarium-data", "0.22.2-1", "neb", SourceRole::distractor, "", "/n/m31.png"}};
    const auto list = dir.path() / "sources.tsv";
    write_sources_list(list, entries);
    const auto back = read_sources_list(list);
    REQUIRE(back.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(back[i].package == entries[i].package);
        CHECK(back[i].version == entries[i].version);
        CHECK(back[i].prefix == entries[i].prefix);
        CHECK(back[i].role == entries[i].role);
        CHECK(back[i].group == entries[i].group);
        CHECK(back[i].path == entries[i].path);
    }

    neardup::test::write_text(dir.path() / "short.tsv", "# comment\n\npkg\t1\tp\tphoto\t/x.jpg\n");
    CHECK_THROWS_WITH(read_sources_list(dir.path() / "short.tsv"),
                      "sources list " + (dir.path() / "short.tsv").string() + " line 3: expected 6 tab-separated fields, found 5");
    neardup::test::write_text(dir.path() / "role.tsv", "pkg\t1\tp\tdrawing\t\t/x.jpg\n");
    CHECK_THROWS_WITH(read_sources_list(dir.path() / "role.tsv"),
                      "sources list " + (dir.path() / "role.tsv").string() + " line 1: unknown role 'drawing' (photo, cutout or distractor)");
    CHECK_THROWS_WITH(read_sources_list(dir.path() / "missing.tsv"),
                      "sources list " + (dir.path() / "missing.tsv").string() + ": cannot be opened");
}

TEST_CASE("load_source caps the size and flattens a cut-out onto a light studio background") {
    TempDir dir("load-source");
    neardup::test::write_image(dir.path() / "big.jpg", neardup::test::photo_like(2000, 1000, 1));
    const LoadedSource big = load_source(entry(dir.path() / "big.jpg"), 1);
    CHECK(big.bgr.cols == kSourceMaxSide);
    CHECK(big.bgr.rows == kSourceMaxSide / 2);
    CHECK(big.alpha.empty());

    cv::Mat stamp(300, 200, CV_8UC4, cv::Scalar(0, 0, 0, 0));
    cv::ellipse(stamp, {100, 150}, {60, 100}, 0, 0, 360, cv::Scalar(30, 90, 200, 255), cv::FILLED);
    neardup::test::write_image(dir.path() / "stamp.png", stamp);
    const SourceEntry e = entry(dir.path() / "stamp.png", SourceRole::cutout);
    const LoadedSource a = load_source(e, 7), b = load_source(e, 7);
    REQUIRE(a.alpha.size() == a.bgr.size());
    CHECK(cv::norm(a.bgr, b.bgr, cv::NORM_INF) == 0);  // the background is chosen from the seed alone
    // Cropped to the object plus a margin: the ellipse's 121x201 box grows by 6-14 % of 201 on each side.
    CHECK(a.bgr.rows > 201);
    CHECK(a.bgr.rows < 201 + 2 * 30);
    const cv::Vec3b corner = a.bgr.at<cv::Vec3b>(0, 0);
    CHECK(corner[1] >= 197);  // light grey (215-255 less the fall-off of at most 18)
    CHECK(a.alpha.at<uchar>(a.alpha.rows / 2, a.alpha.cols / 2) == 255);
    CHECK(a.alpha.at<uchar>(0, 0) == 0);

    CHECK_THROWS_WITH(load_source(entry(dir.path() / "none.jpg"), 1),
                      "source " + (dir.path() / "none.jpg").string() + ": cannot be read as an image");
}

TEST_CASE("screening drops small, flat and repeated sources, and keeps groups apart") {
    TempDir dir("screening");
    const auto d = dir.path();
    neardup::test::write_image(d / "a.jpg", neardup::test::photo_like(400, 300, 1));
    neardup::test::write_image(d / "b.jpg", neardup::test::photo_like(400, 300, 2));
    cv::Mat resized;
    cv::resize(neardup::test::photo_like(400, 300, 1), resized, {200, 150}, 0, 0, cv::INTER_AREA);
    neardup::test::write_image(d / "a_small_copy.jpg", resized);  // a repeat of a.jpg at half size
    cv::Mat mirrored;
    cv::flip(neardup::test::photo_like(400, 300, 2), mirrored, 1);
    neardup::test::write_image(d / "b_mirror.jpg", mirrored);  // a repeat of b.jpg, mirrored
    neardup::test::write_image(d / "tiny.jpg", neardup::test::photo_like(90, 60, 3));
    cv::Mat drawing(300, 300, CV_8UC3, cv::Scalar(40, 180, 240));  // a flat-coloured drawing
    cv::circle(drawing, {150, 150}, 80, cv::Scalar(200, 60, 20), cv::FILLED);
    cv::rectangle(drawing, cv::Rect(20, 20, 80, 60), cv::Scalar(20, 120, 20), cv::FILLED);
    neardup::test::write_image(d / "drawing.png", drawing);
    // Two members of one group that happen to be near-identical: labelled, so both stay.
    neardup::test::write_image(d / "g1.jpg", neardup::test::photo_like(400, 300, 4));
    neardup::test::write_image(d / "g2.jpg", neardup::test::photo_like(400, 300, 4));

    const std::vector<SourceEntry> entries = {
        entry(d / "a.jpg"),       entry(d / "b.jpg"),         entry(d / "a_small_copy.jpg"), entry(d / "b_mirror.jpg"),
        entry(d / "tiny.jpg"),    entry(d / "drawing.png"),   entry(d / "g1.jpg", SourceRole::photo, "obj"),
        entry(d / "g2.jpg", SourceRole::photo, "obj"),
    };
    const auto stats = measure_all(entries);
    CHECK(stats[0].flat_fraction < 0.05);
    CHECK(stats[5].flat_fraction > 0.9);
    const ScreeningResult r = screen_sources(entries, stats);
    CHECK(r.kept == std::vector<std::size_t>{0, 1, 6, 7});
    CHECK(r.dropped_duplicate == 2);
    CHECK(r.dropped_small == 1);
    CHECK(r.dropped_flat == 1);
    CHECK_THROWS_AS(screen_sources(entries, {}), std::invalid_argument);
}

TEST_CASE("the jquery CI photos form one shoe group") {
    const auto entries = jquery_example_sources({"/usr/share/doc/libjs-jquery-backstretch/examples",
                                                 "/usr/share/doc/libjs-jquery-slides/examples"});
    if (entries.empty()) {
        WARN("jquery example photos not installed (scripts/install-deps.sh installs them); skipped");
        return;
    }
    int shoes = 0;
    for (const auto& e : entries) {
        CHECK(e.prefix == "jq");
        CHECK(e.role == SourceRole::photo);
        if (e.group == "shoe") {
            ++shoes;
            CHECK(e.path.filename().string().rfind("1144953-", 0) == 0);
        }
    }
    CHECK(shoes == 7);
    CHECK(entries.size() == 26);
}
