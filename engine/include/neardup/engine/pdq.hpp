// PDQ: the 256-bit perceptual hash published with ThreatExchange, with its quality score and dihedral variants.
#pragma once

#include <array>

#include <opencv2/core/mat.hpp>

#include "neardup/engine/hash256.hpp"

namespace neardup {

// The eight symmetries of the square. For an image I and a variant V, the variant hash of I approximates
// the hash of V(I): searching all eight variants of a query finds rotated and mirrored copies.
enum class Dihedral : int {
    identity = 0,
    rotate_90 = 1,      // 90 degrees clockwise
    rotate_180 = 2,
    rotate_270 = 3,     // 90 degrees counter-clockwise
    mirror_x = 4,       // left-right mirror
    mirror_y = 5,       // top-bottom mirror
    transpose = 6,      // mirror about the main diagonal
    anti_transpose = 7, // mirror about the anti-diagonal
};
inline constexpr int kDihedralCount = 8;

// The 16x16 block of DCT coefficients (frequencies 1..16 on each axis, row-major: vertical frequency first).
using PdqDct = std::array<float, 256>;

struct PdqHash {
    Hash256 hash;
    int quality = 0;  // 0..100; the reference suggests distrusting hashes below 50 (flat or featureless images)

    friend bool operator==(const PdqHash&, const PdqHash&) = default;
};

// Luma (Rec.601 weights) of an 8-bit BGR or grayscale image, as float.
cv::Mat pdq_luma(const cv::Mat& image);

// The PDQ pipeline up to the DCT: Jarosz box filter (two passes), decimation to 64x64, quality from the
// 64x64 gradients, then the 16x16 DCT. `quality` receives the quality score.
PdqDct pdq_dct(const cv::Mat& image, int& quality);

// Thresholds the DCT at its median: bit k set when coefficient k is above the median.
Hash256 pdq_hash_from_dct(const PdqDct& dct);

// The DCT of V(image), derived from the DCT of the image by sign flips and transposition (no re-hashing).
PdqDct pdq_dihedral_dct(const PdqDct& dct, Dihedral variant);

PdqHash pdq_hash(const cv::Mat& image);

// All eight variant hashes (index = Dihedral value) and the quality, from one DCT.
struct PdqDihedralHashes {
    std::array<Hash256, kDihedralCount> hashes;
    int quality = 0;
};
PdqDihedralHashes pdq_dihedral_hashes(const cv::Mat& image);

namespace detail {
// Building blocks exposed for tests that compare them with naive versions.
int jarosz_window_size(int old_dimension, int new_dimension);
void box_filter_1d(const float* in, float* out, int length, int stride, int window);
// box_filter_1d down every column of a rows x cols row-major matrix, a row at a time: the same floats,
// read and written in memory order.
void box_filter_columns(const float* in, float* out, int rows, int cols, int window);
PdqDct dct_16x16_naive(const cv::Mat& block64);  // straight quadruple loop, the oracle for the fast DCT
}  // namespace detail

}  // namespace neardup
