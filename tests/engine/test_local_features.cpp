#include <catch2/catch.hpp>

#include <opencv2/calib3d.hpp>
#include <opencv2/features2d.hpp>
#include <opencv2/imgproc.hpp>

#include "neardup/engine/decode.hpp"
#include "neardup/engine/local_features.hpp"
#include "support/sample_photos.hpp"

using namespace neardup;

namespace {
cv::Mat photo(const std::string& name) { return decode_image(test::read_bytes(test::sample_photo(name))).value().bgr; }

// RANSAC homography inliers between two feature sets: the check a matcher will make.
int verified_inliers(const LocalFeatures& a, const LocalFeatures& b) {
    if (a.size() < 4 || b.size() < 4) return 0;
    const int norm = a.kind == FeatureKind::sift ? cv::NORM_L2 : cv::NORM_HAMMING;
    cv::BFMatcher matcher(norm, true);
    std::vector<cv::DMatch> matches;
    cv::Mat da = a.descriptor_view(), db = b.descriptor_view();
    if (a.kind == FeatureKind::sift) { da.convertTo(da, CV_32F); db.convertTo(db, CV_32F); }
    matcher.match(da, db, matches);
    if (matches.size() < 4) return 0;
    std::vector<cv::Point2f> pa, pb;
    for (const auto& m : matches) { pa.push_back(a.position(m.queryIdx)); pb.push_back(b.position(m.trainIdx)); }
    std::vector<unsigned char> mask;
    const cv::Mat h = cv::findHomography(pa, pb, cv::RANSAC, 5.0, mask);
    return h.empty() ? 0 : cv::countNonZero(mask);
}
}  // namespace

TEST_CASE("features are capped, inside their frame and laid out compactly", "[local_features]") {
    const cv::Mat img = photo("sample1_1920.jpg");
    for (FeatureKind kind : {FeatureKind::orb, FeatureKind::akaze, FeatureKind::sift}) {
        INFO(to_string(kind));
        FeatureOptions options;
        options.kind = kind;
        options.max_keypoints = 100;
        options.frame_long_side = 400;
        const LocalFeatures f = extract_local_features(img, options);
        CHECK(f.size() > 50);
        CHECK(f.size() <= 100u);
        CHECK(std::max(f.frame_width, f.frame_height) == 400);
        CHECK(f.descriptors.size() == f.size() * descriptor_bytes(kind));
        for (std::size_t i = 0; i < f.size(); ++i) {
            const cv::Point2f p = f.position(i);
            REQUIRE(p.x >= 0);
            REQUIRE(p.y >= 0);
            REQUIRE(p.x < f.frame_width);
            REQUIRE(p.y < f.frame_height);
        }
        CHECK(extract_local_features(img, options) == f);  // deterministic
    }
}

TEST_CASE("a thumbnail is described on a frame upscaled to min_frame_long_side", "[local_features]") {
    cv::Mat thumbnail;
    const cv::Mat full = photo("sample1_1920.jpg");
    cv::resize(full, thumbnail, cv::Size(150, full.rows * 150 / full.cols), 0, 0, cv::INTER_AREA);
    FeatureOptions own_size;
    own_size.min_frame_long_side = 0;
    const LocalFeatures small = extract_local_features(thumbnail, own_size);
    CHECK(small.frame_width == 150);
    const LocalFeatures upscaled = extract_local_features(thumbnail, FeatureOptions{});
    CHECK(upscaled.frame_width == FeatureOptions{}.min_frame_long_side);
    CHECK(upscaled.frame_height == static_cast<int>(std::lround(thumbnail.rows * 448.0 / 150)));
    INFO("keypoints at 150 px: " << small.size() << ", upscaled: " << upscaled.size());
    CHECK(upscaled.size() > small.size() * 3 / 2);  // the point of it: room for keypoints
    // Never beyond frame_long_side, and larger images are not touched.
    FeatureOptions capped;
    capped.frame_long_side = 300;
    CHECK(extract_local_features(thumbnail, capped).frame_width == 300);
    CHECK(extract_local_features(full, FeatureOptions{}).frame_width == 512);
    FeatureOptions negative;
    negative.min_frame_long_side = -1;
    CHECK_THROWS_WITH(extract_local_features(thumbnail, negative), "extract_local_features: min_frame_long_side must be >= 0");
}

TEST_CASE("the first n features are the same keypoints and descriptor rows, in order", "[local_features]") {
    FeatureOptions options;
    options.max_keypoints = 120;
    const LocalFeatures f = extract_local_features(photo("sample1_1920.jpg"), options);
    REQUIRE(f.size() > 60);
    const LocalFeatures head = f.first(60);
    CHECK(head.kind == f.kind);
    CHECK(head.frame_width == f.frame_width);
    CHECK(head.frame_height == f.frame_height);
    REQUIRE(head.size() == 60u);
    REQUIRE(head.descriptors.size() == 60u * 32u);
    for (std::size_t i = 0; i < head.size(); ++i) {
        CHECK(head.keypoints[i] == f.keypoints[i]);
        CHECK(std::equal(head.descriptors.begin() + i * 32, head.descriptors.begin() + (i + 1) * 32, f.descriptors.begin() + i * 32));
    }
    CHECK(f.first(f.size()) == f);
    CHECK(f.first(10'000) == f);
    CHECK(f.first(0).size() == 0u);
    CHECK(f.first(0).descriptors.empty());
}

TEST_CASE("features verify a cropped, rotated copy and not a different photo", "[local_features]") {
    const cv::Mat img = photo("dome.jpg");
    cv::Mat crop = img(cv::Rect(img.cols / 5, img.rows / 6, img.cols * 3 / 5, img.rows * 2 / 3)).clone();
    cv::rotate(crop, crop, cv::ROTATE_90_CLOCKWISE);
    const LocalFeatures original = extract_local_features(img);
    const LocalFeatures copy = extract_local_features(crop);
    const LocalFeatures other = extract_local_features(photo("coffee.jpg"));
    const int copy_inliers = verified_inliers(copy, original), other_inliers = verified_inliers(other, original);
    CHECK(copy_inliers >= 12);
    CHECK(other_inliers < 10);
    CHECK(copy_inliers >= 2 * other_inliers);
}

TEST_CASE("mirrored features: keypoints mirrored, descriptors as if detected on the flipped image", "[local_features][mirror]") {
    const cv::Mat image = photo("coffee.jpg");
    FeatureOptions options;
    options.max_keypoints = 300;
    const FeaturesAndMirror both = extract_local_features_and_mirror(image, options);
    CHECK(both.features == extract_local_features(image, options));  // the direct half is the usual extraction
    cv::Mat flipped;
    cv::flip(image, flipped, 1);
    const LocalFeatures detected = extract_local_features(flipped, options);
    REQUIRE(both.mirrored.size() >= both.features.size() * 9 / 10);  // only border keypoints may drop
    CHECK(both.mirrored.frame_width == detected.frame_width);
    // Most mirrored keypoints are found again on the flipped image at the same place, with a near-equal
    // descriptor (ORB's detection is symmetric under the flip; the descriptor pattern is not, hence the
    // recomputation).
    int same = 0;
    for (std::size_t i = 0; i < both.mirrored.size(); ++i) {
        const cv::Point2f p = both.mirrored.position(i);
        for (std::size_t j = 0; j < detected.size(); ++j) {
            if (cv::norm(detected.position(j) - p) > 1.0) continue;
            const int d = cv::norm(cv::Mat(1, 32, CV_8U, const_cast<std::uint8_t*>(&both.mirrored.descriptors[i * 32])),
                                   cv::Mat(1, 32, CV_8U, const_cast<std::uint8_t*>(&detected.descriptors[j * 32])), cv::NORM_HAMMING);
            if (d <= 24) {
                ++same;
                break;
            }
        }
    }
    INFO(same << " of " << both.mirrored.size());
    CHECK(same >= static_cast<int>(both.mirrored.size()) * 6 / 10);  // 212 of 300 when written
    // Against the unflipped descriptors at the same keypoints, they differ: the recomputation matters.
    int unchanged = 0;
    for (std::size_t i = 0; i < std::min(both.mirrored.size(), both.features.size()); ++i)
        unchanged += std::equal(both.mirrored.descriptors.begin() + i * 32, both.mirrored.descriptors.begin() + (i + 1) * 32,
                                both.features.descriptors.begin() + i * 32);
    CHECK(unchanged < static_cast<int>(both.mirrored.size()) / 10);
}

TEST_CASE("feature extraction refuses invalid arguments", "[local_features][bad_input]") {
    const cv::Mat img(100, 100, CV_8UC3, cv::Scalar::all(0));
    FeatureOptions bad;
    bad.max_keypoints = 0;
    CHECK_THROWS_AS(extract_local_features(img, bad), std::invalid_argument);
    CHECK_THROWS_AS(extract_local_features(cv::Mat(), {}), std::invalid_argument);
    CHECK(extract_local_features(img).size() == 0u);  // a flat image has no keypoints, and that is no error
}
