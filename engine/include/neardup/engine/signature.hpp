// Signature: every fingerprint of one image as a single value, and the extractor that computes it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "neardup/engine/decode.hpp"
#include "neardup/engine/embedding.hpp"
#include "neardup/engine/error.hpp"
#include "neardup/engine/hash256.hpp"
#include "neardup/engine/local_features.hpp"
#include "neardup/engine/pdq.hpp"

namespace neardup {

struct Signature {
    std::uint32_t width = 0;   // full-size image, orientation applied
    std::uint32_t height = 0;
    PdqHash pdq;
    // Empty, or the eight dihedral variants of the PDQ hash (index = Dihedral). Queries carry them to find
    // rotated and mirrored copies; references need only pdq.
    std::vector<Hash256> pdq_dihedral;
    Hash64 phash;
    Hash64 average_hash;
    Hash256 block_mean;
    LocalFeatures features;
    // Empty, or the unit-length embedding of SignatureOptions::embedder (embedding.hpp).
    std::vector<float> embedding;

    friend bool operator==(const Signature&, const Signature&) = default;
};

// A query's fingerprints: the signature with its eight PDQ variants, plus local features of the mirrored
// image (binary descriptors are not mirror-invariant, so a mirrored copy is found through these).
struct QuerySignature {
    Signature signature;
    LocalFeatures mirrored_features;
};

struct SignatureOptions {
    DecodeOptions decode;
    FeatureOptions features;
    bool dihedral = false;  // compute the eight PDQ variants
    // Hashes are computed on an image whose longer side is at most this (and decoding may use the JPEG
    // DCT-domain reduction down to it). The PDQ reference itself hashes large images at 512 px.
    int hash_long_side = 512;
    // Keypoints kept for a query in the hash-size frame (references keep features.max_keypoints), and half
    // as many again from a finer frame of query_fine_long_side, where a copy inside a collage or screenshot
    // is described at about the scale its reference was.
    int query_max_keypoints = 512;
    int query_fine_long_side = 1024;
    // ORB pyramid levels of the finer frame. 0 stops it where the coarse frame's begins (4 levels for 1024
    // over 512; its coarser levels overlap the coarse frame's scales): about a quarter of the fine frame's
    // detection time, but on the offline benchmark (2026-12-03) one more false match and one screenshot
    // pair fewer, so the full pyramid stays the default.
    int query_fine_levels = 8;
    // A query's hashes, coarse-frame features and fine-frame features are computed in parallel (oneTBB):
    // the same signature, in the latency of the slowest part (README "Speed").
    bool parallel_query = true;
    // When set, every signature also carries this model's embedding of the whole image (of a query and of
    // each region it is searched by too). Null: no embedding channel.
    std::shared_ptr<const Embedder> embedder;
};

// Computes signatures. Immutable after construction: every method is const and safe to call from many threads.
class SignatureExtractor {
public:
    explicit SignatureExtractor(SignatureOptions options = {});

    const SignatureOptions& options() const noexcept { return options_; }

    // Decode + fingerprints. Errors come from decode_image.
    Result<Signature> compute(std::span<const std::uint8_t> bytes) const;
    // Fingerprints of an already decoded 8-bit BGR image; full_width/height describe the original size.
    Signature compute(const cv::Mat& bgr, std::uint32_t full_width, std::uint32_t full_height) const;

    // A query's fingerprints: the signature with the eight PDQ variants, up to query_max_keypoints
    // keypoints (a copy may fill only part of a collage or screenshot), and mirrored-image features.
    Result<QuerySignature> compute_query(std::span<const std::uint8_t> bytes) const;
    // The decode a query needs (large enough for the finer feature frame).
    Result<DecodedImage> decode_query(std::span<const std::uint8_t> bytes) const;
    QuerySignature compute_query(const cv::Mat& bgr, std::uint32_t full_width, std::uint32_t full_height) const;

    // Many images in parallel (oneTBB); result i belongs to input i.
    std::vector<Result<Signature>> compute_many(std::span<const std::span<const std::uint8_t>> inputs) const;

private:
    // Everything but the local features, from an image already at most hash_long_side.
    Signature hashes(const cv::Mat& hash_image, std::uint32_t full_width, std::uint32_t full_height) const;
    SignatureOptions options_;
};

}  // namespace neardup
