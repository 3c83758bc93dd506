#include <catch2/catch.hpp>

#include <set>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "generated_photos.hpp"
#include "neardup/datasets/edits.hpp"
#include "neardup/engine/pdq.hpp"

using namespace neardup::datasets;

namespace {

std::vector<cv::Mat> tile_photos() {
    return {neardup::test::photo_like(300, 200, 101), neardup::test::photo_like(240, 320, 102)};
}

}  // namespace

TEST_CASE("edit family names round-trip and match the queries.csv contract") {
    const std::vector<std::string> expected = {"crop", "rescale", "aspect", "jpeg", "colour", "greyscale", "blur_noise",
                                               "text_overlay", "watermark", "mirror", "rotate_small", "rotate_90",
                                               "perspective", "frame", "new_background", "collage", "screenshot",
                                               "crop_heavy", "collage_dense", "text_dense"};
    REQUIRE(kEditFamilies.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        CHECK(to_string(kEditFamilies[i]) == expected[i]);
        CHECK(edit_family_from_string(expected[i]) == kEditFamilies[i]);
    }
    CHECK(to_string(EditFamily::hard_negative) == "hard_negative");
    CHECK_FALSE(edit_family_from_string("sepia").has_value());
}

TEST_CASE("every edit family gives a valid BGR image and a comma-free label, deterministically") {
    const cv::Mat original = neardup::test::photo_like(400, 300, 1);
    const auto tiles = tile_photos();
    const EditInputs inputs{cv::Mat(), tiles};
    for (const EditFamily f : kEditFamilies) {
        for (std::uint64_t seed = 0; seed < 8; ++seed) {
            Rng a(seed), b(seed);
            const EditStep x = apply_edit(f, original, a, inputs);
            const EditStep y = apply_edit(f, original, b, inputs);
            INFO(to_string(f) << " seed " << seed << " label " << x.label);
            REQUIRE(x.image.type() == CV_8UC3);
            CHECK(std::min(x.image.cols, x.image.rows) >= 32);
            CHECK(x.label.rfind(std::string(to_string(f)), 0) == 0);
            CHECK(x.label.find(',') == std::string::npos);
            CHECK(x.label == y.label);
            CHECK(cv::norm(x.image, y.image, cv::NORM_INF) == 0);
        }
    }
}

TEST_CASE("geometric edits do what their names say") {
    const cv::Mat original = neardup::test::photo_like(400, 300, 2);
    const EditInputs inputs{};
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        Rng rng(seed);
        const EditStep crop = apply_edit(EditFamily::crop, original, rng, inputs);
        const double kept = static_cast<double>(crop.image.size().area()) / original.size().area();
        CHECK(kept >= 0.39);
        CHECK(kept <= 0.91);

        const EditStep heavy = apply_edit(EditFamily::crop_heavy, original, rng, inputs);
        const double heavy_kept = static_cast<double>(heavy.image.size().area()) / original.size().area();
        CHECK(heavy_kept >= 0.24);
        CHECK(heavy_kept <= 0.51);
        CHECK(heavy.label == "crop_heavy:" + cv::format("%.2f", heavy_kept));

        const EditStep r90 = apply_edit(EditFamily::rotate_90, original, rng, inputs);
        if (r90.label == "rotate_90:180") CHECK(r90.image.size() == original.size());
        else CHECK(r90.image.size() == cv::Size(original.rows, original.cols));

        const EditStep mirror = apply_edit(EditFamily::mirror, original, rng, inputs);
        cv::Mat flipped;
        cv::flip(original, flipped, mirror.label == "mirror:x" ? 1 : 0);
        CHECK(cv::norm(mirror.image, flipped, cv::NORM_INF) == 0);

        const EditStep grey = apply_edit(EditFamily::greyscale, original, rng, inputs);
        if (grey.label == "greyscale") {
            std::vector<cv::Mat> ch;
            cv::split(grey.image, ch);
            CHECK(cv::norm(ch[0], ch[2], cv::NORM_INF) == 0);
        }
    }
}

TEST_CASE("a collage, sparse or dense, keeps the original recognisable as one of its tiles") {
    const cv::Mat original = neardup::test::photo_like(400, 300, 3);
    const auto tiles = tile_photos();
    const EditInputs inputs{cv::Mat(), tiles};
    for (std::uint64_t seed = 0; seed < 12; ++seed) {
        Rng rng(seed);
        const EditFamily family = seed < 6 ? EditFamily::collage : EditFamily::collage_dense;
        EditStep c = apply_edit(family, original, rng, inputs);
        if (family == EditFamily::collage_dense) {
            // "collage_dense:<columns>x<rows>t<tile>": 4 to 9 tiles.
            const int columns = c.label[14] - '0', rows = c.label[16] - '0';
            CHECK(columns * rows >= 4);
            CHECK(columns * rows <= 9);
        }
        INFO(c.label);
        CHECK(c.image.cols >= 256);
        // The original's tile holds the photo whole (letterboxed) or lightly cropped: its centre, shrunk to the
        // tile's scale, is found in the collage almost exactly.
        // (Searched at half size, which keeps the test fast.)
        cv::resize(c.image, c.image, cv::Size(), 0.5, 0.5, cv::INTER_AREA);
        double best = 0;
        for (double s = 0.1; s <= 0.6; s += 0.01) {
            const cv::Mat centre = original(cv::Rect(150, 110, 100, 80));
            cv::Mat small;
            cv::resize(centre, small, cv::Size(), s, s, cv::INTER_AREA);
            if (small.cols < 8 || small.rows < 8 || small.cols > c.image.cols || small.rows > c.image.rows) continue;
            cv::Mat score;
            cv::matchTemplate(c.image, small, score, cv::TM_CCOEFF_NORMED);
            double max_value = 0;
            cv::minMaxLoc(score, nullptr, &max_value);
            best = std::max(best, max_value);
        }
        CHECK(best > 0.9);
    }
}

TEST_CASE("dense text covers 20-40 % of the photo with boxes, as its label says") {
    const cv::Mat original = neardup::test::photo_like(480, 360, 5);
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
        Rng rng(seed);
        const EditStep t = apply_edit(EditFamily::text_dense, original, rng, {});
        INFO(t.label);
        REQUIRE(t.image.size() == original.size());
        const double said = std::stod(t.label.substr(t.label.find(':') + 1));
        CHECK(said >= 0.2);
        CHECK(said <= 0.6);  // the last box may overshoot the drawn share
        // Pixels the boxes changed: at most the covered share, and most of it (a box may repeat a colour).
        cv::Mat diff, changed;
        cv::absdiff(t.image, original, diff);
        cv::cvtColor(diff, diff, cv::COLOR_BGR2GRAY);
        cv::threshold(diff, changed, 8, 255, cv::THRESH_BINARY);
        const double share = cv::countNonZero(changed) / static_cast<double>(original.size().area());
        CHECK(share <= said + 0.01);
        CHECK(share >= said * 0.5);
    }
}

TEST_CASE("new_background pastes a cut-out through its alpha mask") {
    cv::Mat product(200, 200, CV_8UC3, cv::Scalar(240, 240, 240));
    cv::Mat alpha = cv::Mat::zeros(200, 200, CV_8UC1);
    cv::circle(product, {100, 100}, 60, cv::Scalar(0, 0, 255), cv::FILLED);
    cv::circle(alpha, {100, 100}, 60, 255, cv::FILLED);
    const EditInputs inputs{alpha, {}};
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
        Rng rng(seed);
        const EditStep s = apply_edit(EditFamily::new_background, product, rng, inputs);
        INFO(s.label);
        CHECK(s.label.find("cutout") != std::string::npos);
        // The studio grey of the original must not come along: the cut-out's corners are background.
        cv::Mat red_mask;
        cv::inRange(s.image, cv::Scalar(0, 0, 200), cv::Scalar(60, 60, 255), red_mask);
        CHECK(cv::countNonZero(red_mask) > 0);
    }
}

TEST_CASE("make_query builds 1 to 3 edits with the primary first in name, and ends with a JPEG") {
    const cv::Mat original = neardup::test::photo_like(320, 240, 4);
    const auto tiles = tile_photos();
    const EditInputs inputs{cv::Mat(), tiles};
    std::set<std::size_t> lengths;
    for (const EditFamily f : kEditFamilies) {
        for (std::uint64_t seed = 0; seed < 6; ++seed) {
            Rng rng(seed * 31 + static_cast<std::uint64_t>(f));
            const EditedQuery q = make_query(original, f, rng, inputs);
            INFO(q.chain_text());
            REQUIRE(!q.jpeg.empty());
            CHECK(q.jpeg[0] == 0xFF);
            CHECK(q.jpeg[1] == 0xD8);
            const cv::Mat decoded = cv::imdecode(q.jpeg, cv::IMREAD_COLOR);
            CHECK(decoded.size() == q.image.size());
            const bool ends_encoded = q.chain.back().rfind("encode:q", 0) == 0 || q.chain.back().rfind("jpeg:q", 0) == 0;
            CHECK(ends_encoded);
            const std::size_t edits = q.chain.size() - (q.chain.back().rfind("encode:q", 0) == 0 ? 1 : 0);
            CHECK(edits >= 1);
            CHECK(edits <= 3);
            lengths.insert(edits);
            bool has_primary = false;
            for (const auto& step : q.chain) has_primary |= step.rfind(std::string(to_string(f)), 0) == 0;
            CHECK(has_primary);
        }
    }
    CHECK(lengths == std::set<std::size_t>{1, 2, 3});
    Rng rng(1);
    CHECK(make_query(original, EditFamily::crop, rng, inputs, 1).chain.size() == 2);  // crop + encode
}

TEST_CASE("apply_edit refuses what is not an edit") {
    const cv::Mat original = neardup::test::photo_like(64, 64, 5);
    Rng rng(0);
    CHECK_THROWS_WITH(apply_edit(EditFamily::hard_negative, original, rng, {}), "apply_edit: hard_negative is not an edit");
    CHECK_THROWS_WITH(apply_edit(EditFamily::crop, cv::Mat(), rng, {}), "apply_edit: image must be non-empty 8-bit BGR");
    CHECK_THROWS_WITH(make_query(original, EditFamily::hard_negative, rng, {}), "make_query: hard_negative is not an edit");
}

TEST_CASE("light edits leave the PDQ hash close to the original's") {
    // A sanity check that the edits are edits, not replacements: rescale, jpeg and colour keep PDQ within the
    // 40-bit "same photo" distance on a structured picture.
    const cv::Mat original = neardup::test::photo_like(480, 360, 6);
    const auto h0 = neardup::pdq_hash(original).hash;
    for (const EditFamily f : {EditFamily::rescale, EditFamily::jpeg}) {
        for (std::uint64_t seed = 0; seed < 5; ++seed) {
            Rng rng(seed);
            const EditStep s = apply_edit(f, original, rng, {});
            INFO(s.label);
            CHECK(neardup::hamming_distance(h0, neardup::pdq_hash(s.image).hash) <= 40);
        }
    }
}
