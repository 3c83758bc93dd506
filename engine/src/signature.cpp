#include "neardup/engine/signature.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>

#include <opencv2/core.hpp>
#include <tbb/parallel_for.h>
#include <tbb/parallel_invoke.h>
#include <tbb/task_arena.h>

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
    const cv::Mat hash_image = downscale_to(bgr, options_.hash_long_side);
    Signature s = hashes(hash_image, full_width, full_height);
    s.features = extract_local_features(hash_image, options_.features);
    if (options_.embedder) s.embedding = options_.embedder->embed(bgr);
    return s;
}

Signature SignatureExtractor::hashes(const cv::Mat& hash_image, std::uint32_t full_width, std::uint32_t full_height) const {
    Signature s;
    s.width = full_width;
    s.height = full_height;
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
    return s;
}

Result<DecodedImage> SignatureExtractor::decode_query(std::span<const std::uint8_t> bytes) const {
    DecodeOptions decode = options_.decode;
    decode.min_long_side = std::max<std::uint32_t>(decode.min_long_side, options_.query_fine_long_side);
    return decode_image(bytes, decode);
}

Result<QuerySignature> SignatureExtractor::compute_query(std::span<const std::uint8_t> bytes) const {
    auto decoded = decode_query(bytes);
    if (!decoded) return decoded.error();
    const DecodedImage& d = decoded.value();
    return compute_query(d.bgr, d.width, d.height);
}

namespace {

// Features of a query at two scales (all of the coarse frame's, half as many again from the fine frame),
// in the coordinates of the larger frame, interleaved so that every prefix holds both. A copy that fills
// only part of a collage or screenshot is small in the 512 px frame; in the finer frame its keypoints come
// out at the scale the reference was described at.
LocalFeatures interleave_scales(const LocalFeatures& coarse, const LocalFeatures& fine) {
    const float sx = static_cast<float>(fine.frame_width) / std::max<int>(1, coarse.frame_width);
    const float sy = static_cast<float>(fine.frame_height) / std::max<int>(1, coarse.frame_height);
    LocalFeatures out;
    out.kind = fine.kind;
    out.frame_width = fine.frame_width;
    out.frame_height = fine.frame_height;
    const std::size_t row = static_cast<std::size_t>(descriptor_bytes(out.kind));
    auto take = [&](const LocalFeatures& f, std::size_t i, float scale_x, float scale_y) {
        PackedKeypoint k = f.keypoints[i];
        k.x = static_cast<std::uint16_t>(std::min(65535.0f, k.x * scale_x));
        k.y = static_cast<std::uint16_t>(std::min(65535.0f, k.y * scale_y));
        out.keypoints.push_back(k);
        out.descriptors.insert(out.descriptors.end(), f.descriptors.begin() + i * row, f.descriptors.begin() + (i + 1) * row);
    };
    // Two coarse keypoints for each fine one, the ratio of their counts.
    for (std::size_t i = 0; i < std::max(coarse.size(), 2 * fine.size()); i += 2) {
        if (i < coarse.size()) take(coarse, i, sx, sy);
        if (i + 1 < coarse.size()) take(coarse, i + 1, sx, sy);
        if (i / 2 < fine.size()) take(fine, i / 2, 1.0f, 1.0f);
    }
    return out;
}

// The options of a query's finer frame `fine_image` over the coarse frame `coarse_image` (half the keypoints;
// `fine_levels` as SignatureOptions::query_fine_levels); nullopt when the finer frame adds no detail.
std::optional<FeatureOptions> fine_frame_options(const cv::Mat& coarse_image, const cv::Mat& fine_image, FeatureOptions options,
                                                 int fine_levels) {
    if (fine_image.cols <= coarse_image.cols * 5 / 4) return std::nullopt;  // no finer detail to be had
    options.max_keypoints = std::max(1, options.max_keypoints / 2);
    options.frame_long_side = std::max(fine_image.cols, fine_image.rows);
    if (fine_levels <= 0) {
        // Levels of the fine pyramid (factor 1.2) down to the coarse frame's size, that one excluded.
        const double ratio = static_cast<double>(fine_image.cols) / std::max(1, coarse_image.cols);
        fine_levels = static_cast<int>(std::ceil(std::log(ratio) / std::log(1.2) - 1e-6));
    }
    options.pyramid_levels = std::clamp(fine_levels, 1, options.pyramid_levels);
    return options;
}

}  // namespace

QuerySignature SignatureExtractor::compute_query(const cv::Mat& bgr, std::uint32_t full_width, std::uint32_t full_height) const {
    SignatureOptions query_options = options_;
    query_options.dihedral = true;
    query_options.features.max_keypoints = options_.query_max_keypoints;
    const SignatureExtractor query_extractor(query_options);
    QuerySignature q;
    const cv::Mat coarse = downscale_to(bgr, options_.hash_long_side);
    // Three independent parts: the hashes, the coarse frame's features and the fine frame's (each with its
    // mirror image). In parallel they cost the slowest of them in latency, the same in CPU.
    FeaturesAndMirror coarse_features;
    std::optional<FeaturesAndMirror> fine_features;  // none when the fine frame adds no detail
    const auto hashes = [&] { q.signature = query_extractor.hashes(coarse, full_width, full_height); };  // features: below
    const auto coarse_part = [&] { coarse_features = extract_local_features_and_mirror(coarse, query_options.features); };
    const auto fine_part = [&] {
        const cv::Mat fine = downscale_to(bgr, options_.query_fine_long_side);
        const auto fine_options = fine_frame_options(coarse, fine, query_options.features, options_.query_fine_levels);
        if (fine_options) fine_features = extract_local_features_and_mirror(fine, *fine_options);
    };
    std::vector<float> embedding;
    const auto embedding_part = [&] {
        if (options_.embedder) embedding = options_.embedder->embed(bgr);
    };
    if (options_.parallel_query) {
        // Isolated: a caller already in a TBB loop (the region pass) must not have another of its iterations
        // run inside this wait, which would fold that region's time into this one's.
        tbb::this_task_arena::isolate([&] { tbb::parallel_invoke(hashes, coarse_part, fine_part, embedding_part); });
    } else {
        hashes();
        coarse_part();
        fine_part();
        embedding_part();
    }
    q.signature.embedding = std::move(embedding);
    if (fine_features) {
        q.signature.features = interleave_scales(coarse_features.features, fine_features->features);
        q.mirrored_features = interleave_scales(coarse_features.mirrored, fine_features->mirrored);
    } else {
        q.signature.features = std::move(coarse_features.features);
        q.mirrored_features = std::move(coarse_features.mirrored);
    }
    return q;
}

std::vector<Result<Signature>> SignatureExtractor::compute_many(std::span<const std::span<const std::uint8_t>> inputs) const {
    std::vector<Result<Signature>> out(inputs.size(), Result<Signature>(Error{ErrorCode::empty_input, "not computed"}));
    tbb::parallel_for(std::size_t{0}, inputs.size(), [&](std::size_t i) { out[i] = compute(inputs[i]); });
    return out;
}

}  // namespace neardup
