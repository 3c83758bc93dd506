#include "neardup/engine/local_features.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include <opencv2/features2d.hpp>
#include <opencv2/imgproc.hpp>

namespace neardup {
namespace {

std::uint16_t pack_coordinate(float v) {
    return static_cast<std::uint16_t>(std::clamp(std::lround(v * 16.0f), 0L, 65535L));
}

// Keeps at most `limit` keypoints spread over a grid: each cell first gets its share of the strongest
// keypoints inside it, then the rest of the budget goes to the strongest left anywhere. Without this, a
// price tag or watermark (high-contrast text) takes most of the budget and the photo under it is lost.
void retain_spread(std::vector<cv::KeyPoint>& keypoints, int limit, cv::Size frame) {
    constexpr int kGrid = 4;
    if (static_cast<int>(keypoints.size()) <= limit) limit = static_cast<int>(keypoints.size());
    std::sort(keypoints.begin(), keypoints.end(), [](const auto& a, const auto& b) { return a.response > b.response; });
    const int quota = limit / (kGrid * kGrid);
    std::array<int, kGrid * kGrid> taken{};
    std::vector<cv::KeyPoint> kept, rest;
    kept.reserve(limit);
    for (const auto& k : keypoints) {
        const int cx = std::clamp(static_cast<int>(k.pt.x * kGrid / frame.width), 0, kGrid - 1);
        const int cy = std::clamp(static_cast<int>(k.pt.y * kGrid / frame.height), 0, kGrid - 1);
        int& n = taken[cy * kGrid + cx];
        if (n < quota) {
            ++n;
            kept.push_back(k);
        } else {
            rest.push_back(k);
        }
    }
    for (const auto& k : rest) {
        if (static_cast<int>(kept.size()) >= limit) break;
        kept.push_back(k);
    }
    std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.response > b.response; });
    // Order by rank within the cell, then strength: every prefix of the list is spread over the frame too,
    // so an index or a search that takes only the first N keypoints still covers the whole picture.
    std::array<int, kGrid * kGrid> rank{};
    std::vector<std::pair<int, cv::KeyPoint>> ranked;
    ranked.reserve(kept.size());
    for (const auto& k : kept) {  // kept is in descending response within each cell
        const int cx = std::clamp(static_cast<int>(k.pt.x * kGrid / frame.width), 0, kGrid - 1);
        const int cy = std::clamp(static_cast<int>(k.pt.y * kGrid / frame.height), 0, kGrid - 1);
        ranked.emplace_back(rank[cy * kGrid + cx]++, k);
    }
    std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first < b.first : a.second.response > b.second.response;
    });
    keypoints.clear();
    for (auto& [r, k] : ranked) keypoints.push_back(k);
}

}  // namespace

std::string_view to_string(FeatureKind kind) noexcept {
    switch (kind) {
        case FeatureKind::orb: return "orb";
        case FeatureKind::akaze: return "akaze";
        case FeatureKind::sift: return "sift";
    }
    return "unknown";
}

int descriptor_bytes(FeatureKind kind) {
    switch (kind) {
        case FeatureKind::orb: return 32;
        case FeatureKind::akaze: return 61;
        case FeatureKind::sift: return 128;
    }
    throw std::invalid_argument("descriptor_bytes: unknown feature kind");
}

cv::Mat LocalFeatures::descriptor_view() const {
    if (keypoints.empty()) return cv::Mat(0, descriptor_bytes(kind), CV_8U);
    return cv::Mat(static_cast<int>(keypoints.size()), descriptor_bytes(kind), CV_8U,
                   const_cast<std::uint8_t*>(descriptors.data()));
}

LocalFeatures LocalFeatures::first(std::size_t n) const {
    if (n >= size()) return *this;
    LocalFeatures out;
    out.kind = kind;
    out.frame_width = frame_width;
    out.frame_height = frame_height;
    out.keypoints.assign(keypoints.begin(), keypoints.begin() + static_cast<std::ptrdiff_t>(n));
    const std::size_t row = static_cast<std::size_t>(descriptor_bytes(kind));
    out.descriptors.assign(descriptors.begin(), descriptors.begin() + static_cast<std::ptrdiff_t>(n * row));
    return out;
}

namespace {

// `image` resized so that its longer side is `long_side`, the aspect kept.
cv::Mat resize_long_side(const cv::Mat& image, int long_side, int interpolation) {
    const double f = static_cast<double>(long_side) / std::max(image.cols, image.rows);
    cv::Mat out;
    cv::resize(image, out, cv::Size(std::max(1, static_cast<int>(std::lround(image.cols * f))),
                                    std::max(1, static_cast<int>(std::lround(image.rows * f)))),
               0, 0, interpolation);
    return out;
}

}  // namespace

cv::Mat downscale_to(const cv::Mat& image, int long_side) {
    if (std::max(image.cols, image.rows) <= long_side) return image;
    return resize_long_side(image, long_side, cv::INTER_AREA);
}

namespace {

cv::Mat feature_frame(const cv::Mat& image, const FeatureOptions& options) {
    if (image.empty() || image.depth() != CV_8U) throw std::invalid_argument("extract_local_features: expected an 8-bit image");
    if (options.max_keypoints <= 0 || options.frame_long_side < 32 || options.frame_long_side > 4095)
        throw std::invalid_argument("extract_local_features: max_keypoints must be > 0 and frame_long_side in [32, 4095]");
    if (options.pyramid_levels < 1 || options.pyramid_levels > 16)
        throw std::invalid_argument("extract_local_features: pyramid_levels must be in [1, 16]");
    if (options.min_frame_long_side < 0) throw std::invalid_argument("extract_local_features: min_frame_long_side must be >= 0");
    cv::Mat gray;
    if (image.channels() == 3) cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
    else gray = image;
    const int min_long_side = std::min(options.min_frame_long_side, options.frame_long_side);
    if (std::max(gray.cols, gray.rows) >= min_long_side) return downscale_to(gray, options.frame_long_side);
    return resize_long_side(gray, min_long_side, cv::INTER_LINEAR);
}

cv::Ptr<cv::ORB> make_orb(const FeatureOptions& options) {
    return cv::ORB::create(options.max_keypoints * 4, 1.2f, options.pyramid_levels, 31, 0, 2, cv::ORB::HARRIS_SCORE, 31, 12);
}

LocalFeatures pack(const cv::Mat& gray, const std::vector<cv::KeyPoint>& keypoints, const cv::Mat& descriptors, FeatureKind kind) {
    LocalFeatures out;
    out.kind = kind;
    out.frame_width = static_cast<std::uint16_t>(gray.cols);
    out.frame_height = static_cast<std::uint16_t>(gray.rows);
    const int row_bytes = descriptor_bytes(kind);
    if (!keypoints.empty() && (descriptors.type() != CV_8U || descriptors.cols != row_bytes || descriptors.rows != static_cast<int>(keypoints.size())))
        throw std::logic_error("extract_local_features: unexpected descriptor layout from OpenCV");
    out.keypoints.reserve(keypoints.size());
    out.descriptors.resize(keypoints.size() * row_bytes);
    for (std::size_t i = 0; i < keypoints.size(); ++i) {
        const auto& k = keypoints[i];
        const float angle = k.angle < 0 ? 0.0f : k.angle;
        out.keypoints.push_back({pack_coordinate(k.pt.x), pack_coordinate(k.pt.y),
                                 static_cast<std::uint8_t>(static_cast<int>(std::lround(angle / 360.0f * 256.0f)) & 0xFF),
                                 static_cast<std::uint8_t>(std::clamp(std::lround(k.size * 2.0f), 0L, 255L))});
        std::copy_n(descriptors.ptr<std::uint8_t>(static_cast<int>(i)), row_bytes, out.descriptors.data() + i * row_bytes);
    }
    return out;
}

// Detection and description on the feature frame `gray`; the keypoints as OpenCV returned them.
LocalFeatures extract(const cv::Mat& gray, const FeatureOptions& options, std::vector<cv::KeyPoint>& keypoints) {
    cv::Mat descriptors;
    switch (options.kind) {
        case FeatureKind::orb: {
            // Over-detect, then keep the strongest spread over the frame.
            auto orb = make_orb(options);
            orb->detect(gray, keypoints);
            retain_spread(keypoints, options.max_keypoints, gray.size());
            orb->compute(gray, keypoints, descriptors);
            break;
        }
        case FeatureKind::akaze: {
            auto akaze = cv::AKAZE::create();
            akaze->detect(gray, keypoints);
            retain_spread(keypoints, options.max_keypoints, gray.size());
            akaze->compute(gray, keypoints, descriptors);
            break;
        }
        case FeatureKind::sift: {
            auto sift = cv::SIFT::create(options.max_keypoints, 3, 0.04, 10, 1.6, CV_8U);
            sift->detectAndCompute(gray, cv::noArray(), keypoints, descriptors);
            break;
        }
    }
    // retainBest keeps ties, and SIFT may return a few over its cap: enforce the cap exactly.
    if (keypoints.size() > static_cast<std::size_t>(options.max_keypoints)) {
        keypoints.resize(options.max_keypoints);
        descriptors = descriptors.rowRange(0, options.max_keypoints);
    }
    return pack(gray, keypoints, descriptors, options.kind);
}

}  // namespace

LocalFeatures extract_local_features(const cv::Mat& image, const FeatureOptions& options) {
    std::vector<cv::KeyPoint> keypoints;
    return extract(feature_frame(image, options), options, keypoints);
}

FeaturesAndMirror extract_local_features_and_mirror(const cv::Mat& image, const FeatureOptions& options) {
    const cv::Mat gray = feature_frame(image, options);
    cv::Mat mirrored;
    cv::flip(gray, mirrored, 1);
    FeaturesAndMirror out;
    std::vector<cv::KeyPoint> keypoints;
    out.features = extract(gray, options, keypoints);
    if (options.kind != FeatureKind::orb) {
        out.mirrored = extract(mirrored, options, keypoints);
        return out;
    }
    // ORB keypoints (FAST corners, Harris scores, the grid quota) are symmetric under the flip; their
    // descriptors are not (the rBRIEF pattern), so only these are computed again, at the mirrored
    // positions and orientations: x -> (W - 1) - x, angle -> 180 - angle (the intensity centroid mirrors).
    const float last_x = static_cast<float>(gray.cols - 1);
    for (auto& k : keypoints) {
        k.pt.x = last_x - k.pt.x;
        if (k.angle >= 0) k.angle = std::fmod(540.0f - k.angle, 360.0f);
    }
    cv::Mat descriptors;
    make_orb(options)->compute(mirrored, keypoints, descriptors);  // drops any that now touch the border
    out.mirrored = pack(mirrored, keypoints, descriptors, options.kind);
    return out;
}

}  // namespace neardup
