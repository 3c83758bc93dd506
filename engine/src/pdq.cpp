// PDQ as published in the ThreatExchange hashing document: luma, Jarosz box-filter downscale to 64x64,
// 16x16 DCT of frequencies 1..16, median threshold. Written for this project from the document.
#include "neardup/engine/pdq.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <vector>

#include <opencv2/core.hpp>

namespace neardup {
namespace {

constexpr int kDownsampled = 64;   // side of the decimated image
constexpr int kDctSide = 16;       // DCT coefficients kept per axis
constexpr int kJaroszPasses = 2;   // two box passes approximate a tent filter (Jarosz)

// D[i][j] = sqrt(2/64) * cos(pi/128 * (i+1) * (2j+1)): rows are DCT-II basis vectors of frequencies 1..16
// (the constant term is skipped: it carries brightness, which the hash must ignore).
const std::array<float, kDctSide * kDownsampled>& dct_matrix() {
    static const auto matrix = [] {
        std::array<float, kDctSide * kDownsampled> d{};
        // The scale is rounded to float before use, as in the published reference, so coefficients agree to the bit.
        const float scale = static_cast<float>(std::sqrt(2.0 / kDownsampled));
        for (int i = 0; i < kDctSide; ++i)
            for (int j = 0; j < kDownsampled; ++j)
                d[i * kDownsampled + j] = static_cast<float>(
                    scale * std::cos((std::numbers::pi / 2.0 / kDownsampled) * (i + 1) * (2.0 * j + 1.0)));
        return d;
    }();
    return matrix;
}

// Quality: total absolute luma gradient over the 64x64 image, in percent-of-range units, scaled to 0..100.
int quality_from_64(const cv::Mat& b) {
    int gradient_sum = 0;
    for (int i = 0; i < kDownsampled - 1; ++i)
        for (int j = 0; j < kDownsampled; ++j) {
            const float u = b.at<float>(i, j), v = b.at<float>(i + 1, j);
            gradient_sum += std::abs(static_cast<int>((u - v) * 100 / 255));
        }
    for (int i = 0; i < kDownsampled; ++i)
        for (int j = 0; j < kDownsampled - 1; ++j) {
            const float u = b.at<float>(i, j), v = b.at<float>(i, j + 1);
            gradient_sum += std::abs(static_cast<int>((u - v) * 100 / 255));
        }
    return std::min(gradient_sum / 90, 100);
}

PdqDct dct_fast(const cv::Mat& b64) {
    const auto& d = dct_matrix();
    // T = D * A (16x64), then B = T * D^T (16x16).
    std::array<float, kDctSide * kDownsampled> t{};
    for (int i = 0; i < kDctSide; ++i)
        for (int k = 0; k < kDownsampled; ++k) {
            const float dik = d[i * kDownsampled + k];
            const float* row = b64.ptr<float>(k);
            float* trow = &t[i * kDownsampled];
            for (int j = 0; j < kDownsampled; ++j) trow[j] += dik * row[j];
        }
    PdqDct out{};
    for (int i = 0; i < kDctSide; ++i)
        for (int j = 0; j < kDctSide; ++j) {
            float s = 0;
            for (int k = 0; k < kDownsampled; ++k) s += t[i * kDownsampled + k] * d[j * kDownsampled + k];
            out[i * kDctSide + j] = s;
        }
    return out;
}

}  // namespace

namespace detail {

int jarosz_window_size(int old_dimension, int new_dimension) {
    return (old_dimension + 2 * new_dimension - 1) / (2 * new_dimension);  // ceil(old / (2 * new))
}

// A normalised moving average whose window is centred and shrinks at both ends, so every output is the
// mean of the inputs actually under the window (no padding).
void box_filter_1d(const float* in, float* out, int length, int stride, int window) {
    const int half = (window + 2) / 2;
    const int phase1 = half - 1;
    const int phase2 = window - half + 1;
    const int phase3 = length - window;
    const int phase4 = half - 1;
    int li = 0, ri = 0, oi = 0, count = 0;
    float sum = 0;
    for (int i = 0; i < phase1; ++i, ri += stride) { sum += in[ri]; ++count; }
    for (int i = 0; i < phase2; ++i, ri += stride, oi += stride) { sum += in[ri]; ++count; out[oi] = sum / count; }
    for (int i = 0; i < phase3; ++i, li += stride, ri += stride, oi += stride) {
        sum += in[ri];
        sum -= in[li];
        out[oi] = sum / count;
    }
    for (int i = 0; i < phase4; ++i, li += stride, oi += stride) { sum -= in[li]; --count; out[oi] = sum / count; }
}

void box_filter_columns(const float* in, float* out, int rows, int cols, int window) {
    // The phases of box_filter_1d, each step done for all columns: every column sees the same operations in
    // the same order, so the results are the same to the bit.
    const int half = (window + 2) / 2;
    const int phase1 = half - 1;
    const int phase2 = window - half + 1;
    const int phase3 = rows - window;
    const int phase4 = half - 1;
    std::vector<float> sum(static_cast<std::size_t>(cols), 0.0f);
    float* s = sum.data();
    int li = 0, ri = 0, oi = 0, count = 0;
    const auto add = [&] {
        const float* p = in + static_cast<std::ptrdiff_t>(ri++) * cols;
        for (int x = 0; x < cols; ++x) s[x] += p[x];
    };
    const auto remove = [&] {
        const float* p = in + static_cast<std::ptrdiff_t>(li++) * cols;
        for (int x = 0; x < cols; ++x) s[x] -= p[x];
    };
    const auto emit = [&] {
        float* q = out + static_cast<std::ptrdiff_t>(oi++) * cols;
        for (int x = 0; x < cols; ++x) q[x] = s[x] / count;
    };
    for (int i = 0; i < phase1; ++i) { add(); ++count; }
    for (int i = 0; i < phase2; ++i) { add(); ++count; emit(); }
    for (int i = 0; i < phase3; ++i) { add(); remove(); emit(); }
    for (int i = 0; i < phase4; ++i) { remove(); --count; emit(); }
}

PdqDct dct_16x16_naive(const cv::Mat& b64) {
    const auto& d = dct_matrix();
    PdqDct out{};
    for (int u = 0; u < kDctSide; ++u)
        for (int v = 0; v < kDctSide; ++v) {
            double s = 0;
            for (int y = 0; y < kDownsampled; ++y)
                for (int x = 0; x < kDownsampled; ++x)
                    s += double(d[u * kDownsampled + y]) * b64.at<float>(y, x) * d[v * kDownsampled + x];
            out[u * kDctSide + v] = static_cast<float>(s);
        }
    return out;
}

}  // namespace detail

cv::Mat pdq_luma(const cv::Mat& image) {
    if (image.empty() || image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3))
        throw std::invalid_argument("pdq_luma: expected a non-empty 8-bit grayscale or BGR image");
    cv::Mat luma(image.size(), CV_32F);
    for (int y = 0; y < image.rows; ++y) {
        float* dst = luma.ptr<float>(y);
        if (image.channels() == 1) {
            const auto* src = image.ptr<std::uint8_t>(y);
            for (int x = 0; x < image.cols; ++x) dst[x] = src[x];
        } else {
            const auto* src = image.ptr<cv::Vec3b>(y);
            for (int x = 0; x < image.cols; ++x)
                dst[x] = 0.299f * src[x][2] + 0.587f * src[x][1] + 0.114f * src[x][0];
        }
    }
    return luma;
}

PdqDct pdq_dct(const cv::Mat& image, int& quality) {
    cv::Mat a = pdq_luma(image);
    cv::Mat b(a.size(), CV_32F);
    const int rows = a.rows, cols = a.cols;
    const int window_along_rows = detail::jarosz_window_size(cols, kDownsampled);
    const int window_along_cols = detail::jarosz_window_size(rows, kDownsampled);
    for (int pass = 0; pass < kJaroszPasses; ++pass) {
        for (int y = 0; y < rows; ++y) detail::box_filter_1d(a.ptr<float>(y), b.ptr<float>(y), cols, 1, window_along_rows);
        detail::box_filter_columns(b.ptr<float>(0), a.ptr<float>(0), rows, cols, window_along_cols);
    }
    cv::Mat b64(kDownsampled, kDownsampled, CV_32F);
    for (int i = 0; i < kDownsampled; ++i) {
        const int yi = static_cast<int>((i + 0.5) * rows / kDownsampled);
        for (int j = 0; j < kDownsampled; ++j) {
            const int xj = static_cast<int>((j + 0.5) * cols / kDownsampled);
            b64.at<float>(i, j) = a.at<float>(yi, xj);
        }
    }
    quality = quality_from_64(b64);
    return dct_fast(b64);
}

Hash256 pdq_hash_from_dct(const PdqDct& dct) {
    PdqDct sorted = dct;
    // The 128th smallest value: exactly half of 256 distinct coefficients lie above it.
    std::nth_element(sorted.begin(), sorted.begin() + 127, sorted.end());
    const float median = sorted[127];
    Hash256 h;
    for (int k = 0; k < 256; ++k)
        if (dct[k] > median) h.set_bit(k);
    return h;
}

PdqDct pdq_dihedral_dct(const PdqDct& dct, Dihedral variant) {
    // Mirroring a 64-sample axis multiplies the basis of frequency f by (-1)^f; frequency of index i is i+1.
    // Rotations are a transpose followed by one mirror.
    auto sign = [](int index) { return (index % 2 == 0) ? -1.0f : 1.0f; };
    PdqDct out{};
    for (int u = 0; u < kDctSide; ++u)
        for (int v = 0; v < kDctSide; ++v) {
            const float b = dct[u * kDctSide + v];
            const float bt = dct[v * kDctSide + u];
            float r = b;
            switch (variant) {
                case Dihedral::identity: r = b; break;
                case Dihedral::mirror_x: r = sign(v) * b; break;
                case Dihedral::mirror_y: r = sign(u) * b; break;
                case Dihedral::rotate_180: r = sign(u) * sign(v) * b; break;
                case Dihedral::transpose: r = bt; break;
                case Dihedral::rotate_90: r = sign(v) * bt; break;
                case Dihedral::rotate_270: r = sign(u) * bt; break;
                case Dihedral::anti_transpose: r = sign(u) * sign(v) * bt; break;
            }
            out[u * kDctSide + v] = r;
        }
    return out;
}

PdqHash pdq_hash(const cv::Mat& image) {
    PdqHash out;
    out.hash = pdq_hash_from_dct(pdq_dct(image, out.quality));
    return out;
}

PdqDihedralHashes pdq_dihedral_hashes(const cv::Mat& image) {
    PdqDihedralHashes out;
    const PdqDct dct = pdq_dct(image, out.quality);
    for (int v = 0; v < kDihedralCount; ++v)
        out.hashes[v] = pdq_hash_from_dct(pdq_dihedral_dct(dct, static_cast<Dihedral>(v)));
    return out;
}

}  // namespace neardup
