#include "neardup/engine/perceptual_hashes.hpp"

#include <cstring>
#include <stdexcept>

#include <opencv2/img_hash.hpp>

namespace neardup {
namespace {

// img_hash algorithms keep mutable scratch buffers, so one instance per call keeps these functions
// safe to call from many threads; creating one costs a small allocation, nothing next to the hashing.
template <class Algorithm>
cv::Mat compute(const cv::Mat& image, cv::Ptr<Algorithm> algorithm) {
    if (image.empty()) throw std::invalid_argument("perceptual hash of an empty image");
    cv::Mat out;
    algorithm->compute(image, out);
    return out;
}

}  // namespace

Hash64 phash64(const cv::Mat& image) {
    const cv::Mat h = compute(image, cv::img_hash::PHash::create());
    Hash64 out;
    std::memcpy(&out.bits, h.data, sizeof out.bits);
    return out;
}

Hash64 average_hash64(const cv::Mat& image) {
    const cv::Mat h = compute(image, cv::img_hash::AverageHash::create());
    Hash64 out;
    std::memcpy(&out.bits, h.data, sizeof out.bits);
    return out;
}

Hash256 block_mean_hash256(const cv::Mat& image) {
    const cv::Mat h = compute(image, cv::img_hash::BlockMeanHash::create(cv::img_hash::BLOCK_MEAN_HASH_MODE_0));
    Hash256 out;
    std::memcpy(out.words.data(), h.data, 32);
    return out;
}

std::array<double, 42> color_moment_hash(const cv::Mat& image) {
    const cv::Mat h = compute(image, cv::img_hash::ColorMomentHash::create());
    std::array<double, 42> out{};
    std::memcpy(out.data(), h.ptr<double>(0), sizeof out);
    return out;
}

}  // namespace neardup
