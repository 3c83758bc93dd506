#include "neardup/engine/signature.hpp"

#include <algorithm>
#include <stdexcept>

#include <opencv2/core.hpp>
#include <tbb/parallel_for.h>

#include "neardup/engine/perceptual_hashes.hpp"

namespace neardup {

SignatureExtractor::SignatureExtractor(SignatureOptions options) : options_(std::move(options)) {
    if (options_.hash_long_side < 64) throw std::invalid_argument("SignatureOptions::hash_long_side must be at least 64");
    // Decode no smaller than both consumers need; the JPEG decoder picks the reduction.
    options_.decode.min_long_side = static_cast<std::uint32_t>(std::max(options_.hash_long_side, options_.features.frame_long_side));
}

Result<Signature> SignatureExtractor::compute(std::span<const std::uint8_t> bytes) const {
    auto decoded = decode_image(bytes, options_.decode);
    if (!decoded) return decoded.error();
    const DecodedImage& d = decoded.value();
    return compute(d.bgr, d.width, d.height);
}

Signature SignatureExtractor::compute(const cv::Mat& bgr, std::uint32_t full_width, std::uint32_t full_height) const {
    Signature s;
    s.width = full_width;
    s.height = full_height;
    const cv::Mat hash_image = downscale_to(bgr, options_.hash_long_side);
    if (options_.dihedral) {
        const PdqDihedralHashes all = pdq_dihedral_hashes(hash_image);
        s.pdq = {all.hashes[0], all.quality};
        s.pdq_dihedral.assign(all.hashes.begin(), all.hashes.end());
    } else {
        s.pdq = pdq_hash(hash_image);
    }
    s.phash = phash64(hash_image);
    s.average_hash = average_hash64(hash_image);
    s.block_mean = block_mean_hash256(hash_image);
    s.features = extract_local_features(hash_image, options_.features);
    return s;
}

Result<QuerySignature> SignatureExtractor::compute_query(std::span<const std::uint8_t> bytes) const {
    auto decoded = decode_image(bytes, options_.decode);
    if (!decoded) return decoded.error();
    const DecodedImage& d = decoded.value();
    return compute_query(d.bgr, d.width, d.height);
}

QuerySignature SignatureExtractor::compute_query(const cv::Mat& bgr, std::uint32_t full_width, std::uint32_t full_height) const {
    SignatureOptions query_options = options_;
    query_options.dihedral = true;
    query_options.features.max_keypoints = options_.query_max_keypoints;
    const SignatureExtractor query_extractor(query_options);
    QuerySignature q;
    q.signature = query_extractor.compute(bgr, full_width, full_height);
    cv::Mat mirrored;
    cv::flip(downscale_to(bgr, options_.hash_long_side), mirrored, 1);
    q.mirrored_features = extract_local_features(mirrored, query_options.features);
    return q;
}

std::vector<Result<Signature>> SignatureExtractor::compute_many(std::span<const std::span<const std::uint8_t>> inputs) const {
    std::vector<Result<Signature>> out(inputs.size(), Result<Signature>(Error{ErrorCode::empty_input, "not computed"}));
    tbb::parallel_for(std::size_t{0}, inputs.size(), [&](std::size_t i) { out[i] = compute(inputs[i]); });
    return out;
}

}  // namespace neardup
