// Keypoints with descriptors from OpenCV features2d, capped per image and stored compactly.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include <opencv2/core/mat.hpp>

namespace neardup {

enum class FeatureKind : std::uint8_t {
    orb = 1,    // 32-byte binary descriptors (rBRIEF), Hamming distance
    akaze = 2,  // 61-byte binary descriptors (MLDB), Hamming distance
    sift = 3,   // 128-byte descriptors (SIFT values fit in a byte), L2 or RootSIFT
};

std::string_view to_string(FeatureKind kind) noexcept;
int descriptor_bytes(FeatureKind kind);

// Position in 1/16 pixel of the feature frame (frames are at most 4095 px), orientation in 1/256 turn,
// and the keypoint size in 1/2 pixel: six bytes per keypoint.
struct PackedKeypoint {
    std::uint16_t x = 0;
    std::uint16_t y = 0;
    std::uint8_t angle = 0;
    std::uint8_t size = 0;

    friend bool operator==(const PackedKeypoint&, const PackedKeypoint&) = default;
};

struct LocalFeatures {
    FeatureKind kind = FeatureKind::orb;
    std::uint16_t frame_width = 0;   // the (downscaled) image the keypoints were found in
    std::uint16_t frame_height = 0;
    std::vector<PackedKeypoint> keypoints;
    std::vector<std::uint8_t> descriptors;  // keypoints.size() rows of descriptor_bytes(kind)

    std::size_t size() const noexcept { return keypoints.size(); }
    cv::Point2f position(std::size_t i) const noexcept {
        return {keypoints[i].x / 16.0f, keypoints[i].y / 16.0f};
    }
    // A read-only CV_8U view (rows = keypoints) over the descriptors, valid while this object lives.
    cv::Mat descriptor_view() const;
    // The first n keypoints and their descriptors (all of them when n >= size()). Extraction orders
    // keypoints so that every prefix is spread over the frame, strongest first within that.
    LocalFeatures first(std::size_t n) const;

    friend bool operator==(const LocalFeatures&, const LocalFeatures&) = default;
};

struct FeatureOptions {
    FeatureKind kind = FeatureKind::orb;
    // Keypoints kept per image, strongest first. 256 ORB keypoints = 9.7 KB raw before index compression.
    int max_keypoints = 256;
    // The image is downscaled so its longer side is at most this before detection: keypoints on a fixed
    // frame make counts comparable between images and bound the work per image.
    int frame_long_side = 512;
    // ORB pyramid levels (scale factor 1.2 between them): 8 spans scales 1 to 3.6.
    int pyramid_levels = 8;
    // A smaller image (a thumbnail) is upscaled so its longer side is this (at most frame_long_side) before
    // detection: ORB leaves a 31 px border and its pyramid shrinks the image 3.6 times, so a 200 px thumbnail
    // at its own size keeps few keypoints. 0: never upscaled. 448 measured on the offline benchmark's train split (format 6,
    // README "Quality"): muAP 0.8032 -> 0.8835, and more than thumbnails gain (collage tiles and screenshot
    // photos are small regions of their query).
    int min_frame_long_side = 448;
};

// Detects and describes keypoints in an 8-bit BGR or grayscale image. Never more than max_keypoints.
LocalFeatures extract_local_features(const cv::Mat& image, const FeatureOptions& options = {});

struct FeaturesAndMirror {
    LocalFeatures features;  // of the image, as extract_local_features
    LocalFeatures mirrored;  // of the image flipped left-right
};
// Both at about the cost of one and a half extractions: ORB keypoints are found once and mirrored, and
// only the descriptors are computed on the flipped image (other kinds are extracted twice).
FeaturesAndMirror extract_local_features_and_mirror(const cv::Mat& image, const FeatureOptions& options = {});

// Resizes (area interpolation) so that the longer side is at most long_side; returns the image itself if already small.
cv::Mat downscale_to(const cv::Mat& image, int long_side);

}  // namespace neardup
