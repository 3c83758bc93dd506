// The perceptual hashes of OpenCV's img_hash module, as plain values.
#pragma once

#include <array>

#include <opencv2/core/mat.hpp>

#include "neardup/engine/hash256.hpp"

namespace neardup {

// DCT-based 64-bit pHash (img_hash::PHash): the usual baseline for near-duplicate photos.
Hash64 phash64(const cv::Mat& image);
// 8x8 mean-threshold hash (img_hash::AverageHash): cheapest, for light edits only.
Hash64 average_hash64(const cv::Mat& image);
// 16x16 block-mean hash (img_hash::BlockMeanHash, mode 0), 256 bits.
Hash256 block_mean_hash256(const cv::Mat& image);
// Colour-moment hash (img_hash::ColorMomentHash): 42 Hu moments of two colour spaces; rotation-invariant,
// compared by L2 distance. Not stored in signatures (see docs/ARCHITECTURE.md), offered for experiments.
std::array<double, 42> color_moment_hash(const cv::Mat& image);

}  // namespace neardup
