#include <catch2/catch.hpp>

#include <cmath>

#include <opencv2/imgproc.hpp>

#include "neardup/engine/decode.hpp"
#include "neardup/engine/perceptual_hashes.hpp"
#include "support/sample_photos.hpp"

using namespace neardup;

namespace {
// An analytic picture (no drawing code involved), so its hashes depend only on img_hash.
cv::Mat analytic_picture() {
    cv::Mat img(96, 128, CV_8UC3);
    for (int y = 0; y < img.rows; ++y)
        for (int x = 0; x < img.cols; ++x) {
            const double v = 128 + 100 * std::sin(x / 9.0) * std::cos(y / 13.0);
            img.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>(v), static_cast<uchar>(255 - v), static_cast<uchar>(x * 2));
        }
    return img;
}
cv::Mat photo(const std::string& name) { return decode_image(test::read_bytes(test::sample_photo(name))).value().bgr; }
}  // namespace

// Golden values recorded from OpenCV 4.6 img_hash (Debian 12) on the analytic picture; they pin the byte
// order of the stored values, and change only if OpenCV's algorithms change.
TEST_CASE("img_hash values on a fixed picture", "[perceptual_hashes][golden]") {
    const cv::Mat img = analytic_picture();
    CHECK(phash64(img).bits == 0xffdfef9fe0e01fe1ULL);
    CHECK(average_hash64(img).bits == 0xe4ece4f0b3b0e0ecULL);
    CHECK(block_mean_hash256(img).to_hex() == "fc707c707c70fc70fc70fe00ff80e786e786e786e786ff80ff00fc60fc707c70");
}

TEST_CASE("img_hash hashes survive a rescale and separate different photos", "[perceptual_hashes]") {
    const cv::Mat a = photo("sample2_1920.jpg"), a_small = photo("sample2_480.jpg"), b = photo("coffee.jpg");
    CHECK(hamming_distance(phash64(a), phash64(a_small)) <= 6);
    CHECK(hamming_distance(phash64(a), phash64(b)) >= 20);
    CHECK(hamming_distance(average_hash64(a), average_hash64(a_small)) <= 6);
    CHECK(hamming_distance(block_mean_hash256(a), block_mean_hash256(a_small)) <= 24);
    CHECK(hamming_distance(block_mean_hash256(a), block_mean_hash256(b)) >= 80);
    const auto ma = color_moment_hash(a), ma_small = color_moment_hash(a_small), mb = color_moment_hash(b);
    double near = 0, far = 0;
    for (int i = 0; i < 42; ++i) {
        near += (ma[i] - ma_small[i]) * (ma[i] - ma_small[i]);
        far += (ma[i] - mb[i]) * (ma[i] - mb[i]);
    }
    CHECK(std::sqrt(near) * 4 < std::sqrt(far));
}
