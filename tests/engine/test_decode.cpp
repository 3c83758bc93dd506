#include <catch2/catch.hpp>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "neardup/engine/decode.hpp"
#include "support/image_bytes.hpp"
#include "support/sample_photos.hpp"

using namespace neardup;
using neardup::test::encode;
using neardup::test::synthetic_picture;

namespace {
double mean_abs_diff(const cv::Mat& a, const cv::Mat& b) {
    cv::Mat d;
    cv::absdiff(a, b, d);
    const cv::Scalar m = cv::mean(d);
    return (m[0] + m[1] + m[2]) / 3.0;
}
}  // namespace

TEST_CASE("every supported format decodes to the same 8-bit BGR picture", "[decode]") {
    const cv::Mat img = synthetic_picture(160, 120);
    for (const char* ext : {".png", ".bmp", ".tiff", ".ppm", ".jpg", ".webp"}) {
        INFO(ext);
        const auto d = decode_image(encode(img, ext));
        REQUIRE(d.ok());
        const auto& out = d.value();
        CHECK(out.bgr.type() == CV_8UC3);
        CHECK(out.bgr.size() == img.size());
        CHECK(out.width == 160u);
        CHECK(out.height == 120u);
        const bool lossless = std::string(ext) != ".jpg" && std::string(ext) != ".webp";
        if (lossless) CHECK(mean_abs_diff(out.bgr, img) == 0.0);
        else CHECK(mean_abs_diff(out.bgr, img) < 10.0);  // lossy: sharp synthetic edges cost most
    }
}

TEST_CASE("alpha is composited onto white", "[decode]") {
    cv::Mat rgba(64, 64, CV_8UC4, cv::Scalar(0, 0, 255, 255));              // opaque red
    rgba(cv::Rect(0, 0, 32, 64)).setTo(cv::Scalar(0, 0, 0, 0));             // left half fully transparent
    rgba(cv::Rect(32, 0, 32, 32)).setTo(cv::Scalar(0, 0, 0, 128));          // top-right: half-transparent black
    const auto d = decode_image(encode(rgba, ".png"));
    REQUIRE(d.ok());
    const cv::Mat& bgr = d.value().bgr;
    CHECK(bgr.at<cv::Vec3b>(10, 10) == cv::Vec3b(255, 255, 255));
    CHECK(bgr.at<cv::Vec3b>(50, 50) == cv::Vec3b(0, 0, 255));
    const cv::Vec3b half = bgr.at<cv::Vec3b>(10, 50);
    CHECK(half[0] == 127);  // 255 * (255 - 128) / 255, rounded
    CHECK(half[1] == half[0]);
}

TEST_CASE("16-bit and grayscale images are brought to 8-bit BGR", "[decode]") {
    cv::Mat g16(40, 50, CV_16UC1);
    for (int y = 0; y < g16.rows; ++y)
        for (int x = 0; x < g16.cols; ++x) g16.at<std::uint16_t>(y, x) = static_cast<std::uint16_t>(x * 1300);
    const auto d = decode_image(encode(g16, ".png"));
    REQUIRE(d.ok());
    const cv::Mat& bgr = d.value().bgr;
    REQUIRE(bgr.type() == CV_8UC3);
    CHECK(bgr.at<cv::Vec3b>(5, 49) == cv::Vec3b(248, 248, 248));  // 49 * 1300 / 257 = 247.86, rounded
}

TEST_CASE("EXIF orientation is applied to JPEGs", "[decode]") {
    const cv::Mat img = synthetic_picture(200, 100);
    const auto plain = encode(img, ".jpg", {cv::IMWRITE_JPEG_QUALITY, 95});
    const auto upright = decode_image(plain).value().bgr;
    for (const auto& [orientation, expected] : std::vector<std::pair<int, int>>{
             {6, cv::ROTATE_90_CLOCKWISE}, {8, cv::ROTATE_90_COUNTERCLOCKWISE}, {3, cv::ROTATE_180}}) {
        INFO("orientation " << orientation);
        const auto d = decode_image(neardup::test::with_exif_orientation(plain, orientation));
        REQUIRE(d.ok());
        cv::Mat want;
        cv::rotate(upright, want, expected);
        REQUIRE(d.value().bgr.size() == want.size());
        CHECK(mean_abs_diff(d.value().bgr, want) < 1.0);
        CHECK(d.value().width == static_cast<std::uint32_t>(want.cols));
        CHECK(d.value().height == static_cast<std::uint32_t>(want.rows));
    }
}

TEST_CASE("JPEGs decode in the DCT domain at reduced size when a small image is enough", "[decode]") {
    const auto bytes = test::read_bytes(test::sample_photo("sample1_1920.jpg"));
    const auto full = decode_image(bytes);
    REQUIRE(full.ok());
    CHECK(full.value().scale_denominator == 1);
    DecodeOptions options;
    options.min_long_side = 400;
    const auto reduced = decode_image(bytes, options);
    REQUIRE(reduced.ok());
    CHECK(reduced.value().scale_denominator == 4);  // 1920 / 4 = 480 >= 400, 1920 / 8 = 240 < 400
    CHECK(reduced.value().bgr.cols == (full.value().bgr.cols + 3) / 4);
    CHECK(reduced.value().width == full.value().width);  // full-size dimensions are still reported
    CHECK(reduced.value().height == full.value().height);
}

TEST_CASE("a nearly square JPEG reports its own size at every reduction, turned by EXIF or not", "[decode]") {
    // 34x33 at 1/2 would decode to 17x17, whose aspect cannot tell whether EXIF orientation turned it.
    const auto plain = encode(synthetic_picture(34, 33), ".jpg", {cv::IMWRITE_JPEG_QUALITY, 95});
    DecodeOptions options;
    options.min_long_side = 16;
    for (const int orientation : {1, 6}) {
        INFO("orientation " << orientation);
        const auto bytes = orientation == 1 ? plain : neardup::test::with_exif_orientation(plain, orientation);
        const auto full = decode_image(bytes);
        const auto reduced = decode_image(bytes, options);
        REQUIRE(full.ok());
        REQUIRE(reduced.ok());
        const std::uint32_t want_width = orientation == 6 ? 33u : 34u;
        CHECK(full.value().width == want_width);
        CHECK(reduced.value().width == want_width);
        CHECK(reduced.value().height == 67u - want_width);
        CHECK(reduced.value().scale_denominator == 1);  // 1/2 would be ambiguous, so no reduction
        CHECK(reduced.value().bgr.cols == int(want_width));
    }
    // A square image keeps its reduction: turning it changes nothing.
    const auto square = decode_image(encode(synthetic_picture(64, 64), ".jpg"), options);
    REQUIRE(square.ok());
    CHECK(square.value().scale_denominator == 4);
    CHECK(square.value().bgr.cols == 16);
}

TEST_CASE("bad input gets a typed error, never a crash", "[decode][bad_input]") {
    SECTION("empty") {
        const auto d = decode_image({});
        CHECK(d.error().code == ErrorCode::empty_input);
        CHECK(d.error().message == "empty input: 0 bytes");
    }
    SECTION("random bytes") {
        std::vector<std::uint8_t> noise(5000);
        cv::RNG rng(7);
        for (auto& b : noise) b = static_cast<std::uint8_t>(rng.uniform(0, 256));
        noise[0] = 0x00;  // no accidental magic
        CHECK(decode_image(noise).error().code == ErrorCode::unsupported_format);
    }
    SECTION("decompression bomb: refused from its header") {
        const auto d = decode_image(test::png_header_claiming(100000, 100000));
        CHECK(d.error().code == ErrorCode::too_large);
        CHECK(d.error().message == "png image of 100000x100000 pixels is over the limit of 50000000 pixels");
    }
    SECTION("pixel limit is configurable") {
        DecodeOptions options;
        options.max_pixels = 100 * 100;
        CHECK(decode_image(encode(synthetic_picture(101, 100), ".png"), options).error().code == ErrorCode::too_large);
        CHECK(decode_image(encode(synthetic_picture(100, 100), ".png"), options).ok());
    }
    SECTION("tiny image") {
        const auto d = decode_image(encode(synthetic_picture(40, 20), ".png"));
        CHECK(d.error().code == ErrorCode::too_small);
        CHECK(d.error().message == "png image of 40x20 is below the minimum side of 32 pixels");
    }
    SECTION("PNG cut short") {
        auto bytes = encode(synthetic_picture(120, 90), ".png");
        bytes.resize(bytes.size() / 2);
        CHECK(decode_image(bytes).error().code == ErrorCode::truncated);
    }
    SECTION("WebP cut short") {
        auto bytes = encode(synthetic_picture(120, 90), ".webp");
        bytes.resize(bytes.size() - 10);
        CHECK(decode_image(bytes).error().code == ErrorCode::truncated);
    }
    SECTION("BMP cut short") {
        auto bytes = encode(synthetic_picture(120, 90), ".bmp");
        bytes.resize(bytes.size() - 100);
        CHECK(decode_image(bytes).error().code == ErrorCode::truncated);
    }
    SECTION("a DICOM signature at byte 128 is refused before OpenCV's decoder choice can reach its DICOM reader") {
        for (const char* ext : {".webp", ".bmp", ".png"}) {
            auto bytes = encode(synthetic_picture(120, 90), ext);
            REQUIRE(bytes.size() > 132);
            REQUIRE(decode_image(bytes).ok());
            std::copy_n("DICM", 4, bytes.begin() + 128);
            const auto d = decode_image(bytes);
            INFO(ext);
            REQUIRE_FALSE(d.ok());
            CHECK(d.error().code == ErrorCode::decode_failed);
            CHECK(d.error().message == std::string(ext + 1) + " image carries a DICOM signature at byte 128, which OpenCV would decode as DICOM; refused");
        }
    }
    SECTION("every prefix of a JPEG and a PNG is an error, and none crashes") {
        for (const char* ext : {".jpg", ".png"}) {
            const auto bytes = encode(synthetic_picture(64, 48), ext);
            for (std::size_t n = 0; n < bytes.size(); n += 7) {
                INFO(ext << " prefix of " << n << " bytes");
                const std::vector<std::uint8_t> prefix(bytes.begin(), bytes.begin() + n);
                CHECK_FALSE(decode_image(prefix).ok());
            }
        }
    }
    SECTION("garbage in the middle of a JPEG scan never crashes") {
        auto bytes = encode(synthetic_picture(160, 120), ".jpg");
        for (std::size_t i = bytes.size() / 2; i < bytes.size() / 2 + 200; ++i) bytes[i] = static_cast<std::uint8_t>(i * 31);
        const auto d = decode_image(bytes);
        if (!d.ok()) CHECK(d.error().code == ErrorCode::decode_failed);
        else CHECK(d.value().bgr.type() == CV_8UC3);
    }
}
