// Geometric verification: the orientation gate in front of RANSAC.
#include <catch2/catch.hpp>

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
// (rotation `turn` in 1/256 turn, scale, shift), angles turned by `turn` plus `angle_noise`, or at random
// angles when `angle_noise` is negative.
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
        const int noise = angle_noise < 0 ? static_cast<int>(rng()) : static_cast<int>(rng() % (2 * angle_noise + 1)) - angle_noise;
        const auto angle = angle_noise < 0 ? static_cast<std::uint8_t>(noise) : static_cast<std::uint8_t>(ref.keypoints.back().angle - turn + noise);
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
    // Enough ratio-test survivors for RANSAC, but every angle difference at random: what a candidate that
    // merely shares generic corners with the query gives.
    const auto [query, ref] = moved_copy(30, 40, -1, rng);
    const auto on = verify_geometry(query, ref, cv::Size(512, 512), gate(true));
    CHECK(on.correspondences == 30);
    CHECK(on.inliers == 0);
    // Without the gate the same positions do verify: the gate decided, not the geometry.
    CHECK(verify_geometry(query, ref, cv::Size(512, 512), gate(false)).inliers >= 25);
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
