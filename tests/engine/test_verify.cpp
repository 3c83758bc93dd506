// Geometric verification: the orientation gate in front of RANSAC, and the thin-band rule after it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <numeric>
#include <random>

#include <opencv2/imgproc.hpp>

#include "neardup/engine/decode.hpp"
#include "neardup/engine/verify.hpp"
#include "support/edits.hpp"
#include "support/sample_photos.hpp"

using namespace neardup;

namespace {

cv::Mat photo(const std::string& name) { return decode_image(test::read_bytes(test::sample_photo(name))).value().bgr; }

VerifyOptions gate(bool on) {
    VerifyOptions o;
    if (!on) o.orientation_bins = 0;
    return o;
}

// Reference features, and a query holding the same descriptors at positions moved by a similarity
// (rotation `turn` in 1/256 turn, scale, shift), angles turned by `turn` plus `angle_noise`, or, when
// `angle_noise` is negative, turned by amounts spread evenly over the whole circle.
std::pair<LocalFeatures, LocalFeatures> moved_copy(int n, int turn, int angle_noise, std::mt19937& rng) {
    LocalFeatures ref, query;
    ref.kind = query.kind = FeatureKind::orb;
    ref.frame_width = query.frame_width = 512;
    ref.frame_height = query.frame_height = 512;
    const double a = turn * 2 * CV_PI / 256;
    for (int i = 0; i < n; ++i) {
        const float x = 20 + rng() % 470, y = 20 + rng() % 470;
        ref.keypoints.push_back({static_cast<std::uint16_t>(x * 16), static_cast<std::uint16_t>(y * 16), static_cast<std::uint8_t>(rng()), 20});
        // The query is the reference turned about the centre by -turn and scaled by 0.8.
        const double dx = x - 256, dy = y - 256;
        const double qx = 256 + 0.8 * (std::cos(-a) * dx - std::sin(-a) * dy), qy = 256 + 0.8 * (std::sin(-a) * dx + std::cos(-a) * dy);
        const int noise = angle_noise < 0 ? i * 256 / n : static_cast<int>(rng() % (2 * angle_noise + 1)) - angle_noise;
        const auto angle = static_cast<std::uint8_t>(ref.keypoints.back().angle - turn + noise);
        query.keypoints.push_back({static_cast<std::uint16_t>(std::clamp(qx, 0.0, 511.0) * 16), static_cast<std::uint16_t>(std::clamp(qy, 0.0, 511.0) * 16),
                                   angle, 16});
        // Distinct descriptors, identical in both: every keypoint passes the ratio test with its twin.
        for (int b = 0; b < 32; ++b) ref.descriptors.push_back(static_cast<std::uint8_t>(rng()));
        query.descriptors.insert(query.descriptors.end(), ref.descriptors.end() - 32, ref.descriptors.end());
    }
    return {query, ref};
}

}  // namespace

TEST_CASE("the orientation gate passes copies turned by any angle, with ORB's orientation noise", "[verify][orientation_gate]") {
    std::mt19937 rng(3);
    for (const int turn : {0, 10, 64, 100, 128, 200, 250}) {
        INFO("turn " << turn);
        const auto [query, ref] = moved_copy(40, turn, 8, rng);
        const auto on = verify_geometry(query, ref, cv::Size(512, 512), gate(true));
        const auto off = verify_geometry(query, ref, cv::Size(512, 512), gate(false));
        CHECK(on.correspondences == 40);
        CHECK(on.inliers >= 36);
        CHECK(on.inliers == off.inliers);  // RANSAC saw the same correspondences
    }
}

TEST_CASE("the orientation gate stops correspondences whose orientations disagree before RANSAC", "[verify][orientation_gate]") {
    std::mt19937 rng(4);
    // Enough ratio-test survivors for RANSAC, but orientation differences all over the circle (40 of them
    // evenly: 5 in any 45-degree window, under the gate's 6): what a candidate that merely shares generic
    // corners with the query gives.
    const auto [query, ref] = moved_copy(40, 40, -1, rng);
    const auto on = verify_geometry(query, ref, cv::Size(512, 512), gate(true));
    CHECK(on.correspondences == 40);
    CHECK(on.inliers == 0);
    // Without the gate the same positions do verify: the gate decided, not the geometry.
    CHECK(verify_geometry(query, ref, cv::Size(512, 512), gate(false)).inliers >= 35);
}

TEST_CASE("with the gate, real copies verify as without it, and other photos still do not", "[verify][orientation_gate]") {
    const cv::Mat dome = photo("dome.jpg");
    const LocalFeatures original = extract_local_features(dome);
    cv::Mat turned;
    cv::rotate(test::crop_center(dome, 0.7), turned, cv::ROTATE_90_CLOCKWISE);
    int which = 0;
    for (const cv::Mat& copy : {test::crop_center(dome, 0.8), turned, test::price_overlay(dome)}) {
        INFO("copy " << which++);
        const LocalFeatures q = extract_local_features(copy);
        const auto on = verify_geometry(q, original, dome.size(), gate(true));
        const auto off = verify_geometry(q, original, dome.size(), gate(false));
        CHECK(on.inliers >= 15);
        CHECK(on.inliers == off.inliers);
    }
    const LocalFeatures other = extract_local_features(photo("coffee.jpg"));
    CHECK(verify_geometry(other, original, dome.size(), gate(true)).inliers < 10);
}

namespace {

// One 32-byte descriptor appended to `f` at (x, y) in the 512 px frame, angle 0.
void add_keypoint(LocalFeatures& f, float x, float y, const std::uint8_t* descriptor) {
    f.keypoints.push_back({static_cast<std::uint16_t>(x * 16), static_cast<std::uint16_t>(y * 16), 0, 20});
    f.descriptors.insert(f.descriptors.end(), descriptor, descriptor + 32);
}

std::array<std::uint8_t, 32> random_descriptor(std::mt19937& rng) {
    std::array<std::uint8_t, 32> d{};
    for (auto& b : d) b = static_cast<std::uint8_t>(rng());
    return d;
}

// The same descriptor with `bits` distinct bits flipped.
std::array<std::uint8_t, 32> flipped(std::array<std::uint8_t, 32> d, int bits, std::mt19937& rng) {
    std::vector<int> order(256);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    for (int i = 0; i < bits; ++i) d[order[i] / 8] ^= static_cast<std::uint8_t>(1 << (order[i] % 8));
    return d;
}

// A line of text over two pictures, as features: 40 identical keypoints along a band 8 px high (the
// inliers: the query is the reference shifted by (7, 5)), and 40 more keypoints of the picture along the
// same band that the ratio test leaves out (each descriptor is in the reference twice, the twin outside
// the band). The query's picture keypoints are the reference's with `picture_bits` bits flipped (a copy),
// or random (another picture under the same text).
std::pair<LocalFeatures, LocalFeatures> text_line(int picture_bits, std::mt19937& rng) {
    LocalFeatures query, ref;
    query.kind = ref.kind = FeatureKind::orb;
    query.frame_width = ref.frame_width = query.frame_height = ref.frame_height = 512;
    for (int i = 0; i < 40; ++i) {
        const float x = 40 + 10.0f * i, y = 250 + static_cast<float>(rng() % 8);
        const auto d = random_descriptor(rng);
        add_keypoint(ref, x, y, d.data());
        add_keypoint(query, x + 7, y + 5, d.data());
    }
    for (int i = 0; i < 40; ++i) {
        const float x = 45 + 10.0f * i, y = 250 + static_cast<float>(rng() % 8);
        const auto d = random_descriptor(rng);
        add_keypoint(ref, x, y, d.data());
        add_keypoint(ref, x, 450, d.data());  // the twin: no unique nearest, so no correspondence
        const auto q = picture_bits < 0 ? random_descriptor(rng) : flipped(d, picture_bits, rng);
        add_keypoint(query, x + 7, y + 5, q.data());
    }
    return {query, ref};
}

// The thin-band rule at the values measured on the benchmark (README "Quality"), or off.
VerifyOptions thin_rule(bool on) {
    VerifyOptions o;
    o.min_inlier_thickness = on ? 0.015 : 0;
    o.thin_agreement = 0.6;
    return o;
}

}  // namespace

TEST_CASE("inliers along one thin band verify only where the picture around them agrees", "[verify][thin_band]") {
    std::mt19937 rng(11);
    SECTION("another picture under the same line of text") {
        const auto [query, ref] = text_line(-1, rng);
        const auto on = verify_geometry(query, ref, cv::Size(512, 512), thin_rule(true));
        CHECK(on.inliers == 0);
        CHECK(on.query_inliers.empty());
        CHECK(on.thickness < 0.01);
        // Every picture keypoint inside the band was compared, and none agreed.
        CHECK(on.agreement == 0.0);
        // The rule decided, not the geometry: without it the band verifies.
        const auto off = verify_geometry(query, ref, cv::Size(512, 512), thin_rule(false));
        CHECK(off.inliers >= 38);
        CHECK(off.agreement == -1);  // not measured with the rule off
    }
    SECTION("a copy whose detail lies along a band (a skyline, a horizon)") {
        const auto [query, ref] = text_line(20, rng);
        const auto on = verify_geometry(query, ref, cv::Size(512, 512), thin_rule(true));
        CHECK(on.inliers >= 38);
        CHECK(on.agreement == 1.0);
        CHECK(on.inliers == verify_geometry(query, ref, cv::Size(512, 512), thin_rule(false)).inliers);
    }
    SECTION("too few neighbours compared to show agreement: the band alone does not verify") {
        auto [query, ref] = text_line(20, rng);
        VerifyOptions o = thin_rule(true);
        o.agreement_min_checked = 41;  // more than the 40 picture keypoints the band holds
        const auto r = verify_geometry(query, ref, cv::Size(512, 512), o);
        CHECK(r.agreement == -1);
        CHECK(r.inliers == 0);
    }
}

TEST_CASE("the thin-band rule leaves copies of real photos alone", "[verify][thin_band]") {
    const cv::Mat dome = photo("dome.jpg");
    const LocalFeatures original = extract_local_features(dome);
    for (const cv::Mat& copy : {test::crop_center(dome, 0.7), test::price_overlay(dome)}) {
        const LocalFeatures q = extract_local_features(copy);
        const auto on = verify_geometry(q, original, dome.size(), thin_rule(true));
        CHECK(on.inliers >= 15);
        CHECK(on.inliers == verify_geometry(q, original, dome.size(), thin_rule(false)).inliers);
        CHECK(on.thickness > thin_rule(true).min_inlier_thickness);
    }
}

TEST_CASE("two different photos under the same line of text do not verify", "[verify][thin_band]") {
    // One sticker line in one font, as sellers stamp it on every listing.
    const auto stamped = [](const std::string& name) {
        cv::Mat img;
        cv::resize(photo(name), img, cv::Size(960, 640), 0, 0, cv::INTER_AREA);
        cv::rectangle(img, cv::Rect(60, 290, 840, 80), cv::Scalar(255, 255, 255), cv::FILLED);
        cv::putText(img, "100% ORIGINAL LIMITED", cv::Point(80, 350), cv::FONT_HERSHEY_DUPLEX, 2.0, cv::Scalar(20, 20, 20), 3, cv::LINE_AA);
        return img;
    };
    const cv::Mat dome = stamped("dome.jpg"), coffee = stamped("coffee.jpg");
    const LocalFeatures q = extract_local_features(coffee), r = extract_local_features(dome);
    const auto off = verify_geometry(q, r, dome.size(), thin_rule(false));
    CHECK(off.inliers >= 15);  // the text alone verifies without the rule
    const auto on = verify_geometry(q, r, dome.size(), thin_rule(true));
    CHECK(on.inliers == 0);
    CHECK(on.thickness < thin_rule(true).min_inlier_thickness);
    CHECK(on.agreement < thin_rule(true).thin_agreement);
}

TEST_CASE("the score adds embedding evidence as a third noisy-OR part, only when both carry an embedding", "[verify][embedding]") {
    const ScoreModel model;
    MatchEvidence e;  // no hash (distance 256) and no geometry: nothing but what is set below
    CHECK(match_score(e, model) == 0.0);
    e.embedding_similarity = static_cast<float>(model.embedding_center);
    CHECK(match_score(e, model) == Approx(0.5).margin(1e-6));
    e.embedding_similarity = static_cast<float>(model.embedding_center + 2 * model.embedding_width);
    const double strong = 1.0 / (1.0 + std::exp(-2.0));
    CHECK(match_score(e, model) == Approx(strong).margin(1e-6));
    // Combined with geometric evidence p: 1 - (1 - p)(1 - strong).
    e.geometry.inliers = 12;
    e.geometry.correspondences = 20;
    const double p = geometry_score(e.geometry, model);
    REQUIRE(p > 0.05);
    REQUIRE(p < 0.95);
    CHECK(match_score(e, model) == Approx(1.0 - (1.0 - p) * (1.0 - strong)).margin(1e-6));

    // compare() measures it only where both signatures carry one of one dimension.
    QuerySignature query;
    Signature reference;
    query.signature.embedding = {0.6f, 0.8f};
    CHECK_FALSE(compare(query, reference).embedding_similarity);
    reference.embedding = {0.8f, 0.6f};
    REQUIRE(compare(query, reference).embedding_similarity);
    CHECK(*compare(query, reference).embedding_similarity == Approx(0.96f));
    reference.embedding = {1.0f, 0.0f, 0.0f};
    CHECK_FALSE(compare(query, reference).embedding_similarity);
}

TEST_CASE("the geometric score is the fitted logistic regression of log inliers, inlier ratio and log stretch", "[verify][score]") {
    ScoreModel model;
    model.geometry_bias = -7;
    model.geometry_log_inliers = 3;
    model.geometry_inlier_ratio = 2;
    model.geometry_log_anisotropy = -1.5;
    GeometricMatch g;
    CHECK(geometry_score(g, model) == 0.0);  // no inliers, no evidence
    g.inliers = 20;
    g.correspondences = 40;
    g.anisotropy = 1.5;
    // By hand: z = -7 + 3 ln 20 + 2 * 0.5 - 1.5 ln 1.5.
    const double z = -7 + 3 * std::log(20.0) + 1.0 - 1.5 * std::log(1.5);
    CHECK(geometry_score(g, model) == Approx(1.0 / (1.0 + std::exp(-z))).margin(1e-12));
    // The ratio is capped at 1 (no correspondences recorded reads as all inliers), a stretch below 1 as 1.
    g.correspondences = 0;
    g.anisotropy = 0.5;
    const double z1 = -7 + 3 * std::log(20.0) + 2.0;
    CHECK(geometry_score(g, model) == Approx(1.0 / (1.0 + std::exp(-z1))).margin(1e-12));
    // Monotone as the defaults are fitted: more inliers and a higher ratio raise it, a steeper stretch lowers it.
    const ScoreModel fitted;
    GeometricMatch a;
    a.inliers = 15;
    a.correspondences = 30;
    a.anisotropy = 1.1;
    GeometricMatch more = a, purer = a, steeper = a;
    more.inliers = 25;
    more.correspondences = 40;
    purer.correspondences = 18;
    steeper.anisotropy = 1.8;
    CHECK(geometry_score(more, fitted) > geometry_score(a, fitted));
    CHECK(geometry_score(purer, fitted) > geometry_score(a, fitted));
    CHECK(geometry_score(steeper, fitted) < geometry_score(a, fitted));
    // A strong copy (40 of 50 survivors, no stretch) is a match at the default threshold on its own.
    GeometricMatch strong;
    strong.inliers = 40;
    strong.correspondences = 50;
    CHECK(geometry_score(strong, fitted) > 0.95);
}

TEST_CASE("verification measures the residual, the stretch and the coverage of a transformed copy", "[verify][score]") {
    const cv::Mat dome = photo("dome.jpg");
    // The same photo stretched 1.25 times horizontally: a stretch of about 1.25.
    cv::Mat stretched;
    cv::resize(dome, stretched, cv::Size(), 1.25, 1.0, cv::INTER_AREA);
    const auto r = extract_local_features(dome);
    const auto q = extract_local_features(stretched);
    const auto g = verify_geometry(q, r, dome.size(), {}, stretched.size());
    REQUIRE(g.inliers >= 20);
    CHECK(g.anisotropy == Approx(1.25).margin(0.06));
    CHECK(g.residual >= 0.0);
    CHECK(g.residual < 2.0);  // pixels of the feature frame: one exact transform
    CHECK(g.reference_coverage > 0.3);
    CHECK(g.reference_coverage <= 1.0);
    CHECK(g.query_coverage > 0.3);
    CHECK(g.query_coverage <= 1.0);
    // The copy as is: no stretch.
    const auto same = verify_geometry(r, r, dome.size(), {}, dome.size());
    REQUIRE(same.inliers >= 20);
    CHECK(same.anisotropy == Approx(1.0).margin(0.02));
    CHECK(same.residual < 0.5);
}
