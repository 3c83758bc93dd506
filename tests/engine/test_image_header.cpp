#include <catch2/catch.hpp>

#include "neardup/engine/decode.hpp"
#include "neardup/engine/image_header.hpp"
#include "support/image_bytes.hpp"

using namespace neardup;
using neardup::test::encode;
using neardup::test::synthetic_picture;

TEST_CASE("header probe reads format and dimensions of every supported encoding", "[image_header]") {
    const cv::Mat img = synthetic_picture(123, 77);
    const std::pair<const char*, ImageFormat> cases[] = {{".jpg", ImageFormat::jpeg}, {".png", ImageFormat::png},
                                                         {".webp", ImageFormat::webp}, {".bmp", ImageFormat::bmp},
                                                         {".tiff", ImageFormat::tiff}, {".ppm", ImageFormat::pnm}};
    for (const auto& [ext, format] : cases) {
        INFO(ext);
        const auto bytes = encode(img, ext);
        const auto h = probe_image_header(bytes);
        REQUIRE(h.ok());
        CHECK(h.value().format == format);
        CHECK(h.value().width == 123u);
        CHECK(h.value().height == 77u);
    }
    SECTION("lossless WebP (VP8L) too") {
        const auto h = probe_image_header(encode(img, ".webp", {cv::IMWRITE_WEBP_QUALITY, 101}));
        REQUIRE(h.ok());
        CHECK(h.value().width == 123u);
        CHECK(h.value().height == 77u);
    }
}

TEST_CASE("header probe rejects what is not a supported image with the exact error", "[image_header][bad_input]") {
    CHECK(probe_image_header({}).error().code == ErrorCode::empty_input);
    const std::vector<std::uint8_t> text = {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'};
    CHECK(probe_image_header(text).error().code == ErrorCode::unsupported_format);
    const std::vector<std::uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0};
    const auto g = probe_image_header(gif);
    CHECK(g.error().code == ErrorCode::unsupported_format);
    CHECK(g.error().message == "unsupported image format: GIF");
    const std::vector<std::uint8_t> jpeg_soi_only = {0xFF, 0xD8, 0xFF};
    CHECK(probe_image_header(jpeg_soi_only).error().code == ErrorCode::truncated);
}

TEST_CASE("header probe reads a bomb's claimed size without touching pixel data", "[image_header][bad_input]") {
    const auto h = probe_image_header(neardup::test::png_header_claiming(100000, 90000));
    REQUIRE(h.ok());
    CHECK(h.value().width == 100000u);
    CHECK(h.value().height == 90000u);
}

TEST_CASE("a JPEG without its end-of-image marker is reported as truncated", "[image_header][bad_input]") {
    auto bytes = encode(synthetic_picture(200, 150), ".jpg");
    bytes.resize(bytes.size() * 2 / 3);
    const auto h = probe_image_header(bytes);
    CHECK(h.error().code == ErrorCode::truncated);
    CHECK(h.error().message == "JPEG: no end-of-image marker after the scan data (file cut short)");
}

TEST_CASE("a PNM dimension must end in whitespace, where the probe and OpenCV's reader agree", "[image_header][bad_input]") {
    // Found by fuzz_image: OpenCV's reader takes the byte after a number as its delimiter, so "48#8" is 48 x 8
    // to it and 48 plus a comment to a reader that follows the Netpbm comment rule: the decode would not be the
    // size the probe (and its pixel limit) saw.
    const auto bytes = [](const std::string& s) { return std::vector<std::uint8_t>(s.begin(), s.end()); };
    const auto glued = probe_image_header(bytes("P4\n48#8#comment\n48\n" + std::string(300, '\0')));
    REQUIRE_FALSE(glued.ok());
    CHECK(glued.error().code == ErrorCode::decode_failed);
    CHECK(glued.error().message == "PNM: a dimension must be followed by whitespace");
    CHECK(probe_image_header(bytes("P5\n48")).error().code == ErrorCode::truncated);
    // Comments after whitespace still read as before.
    const auto ok = probe_image_header(bytes("P5 # made by hand\n48 # width\n 8\n255\n" + std::string(48 * 8, '\x80')));
    REQUIRE(ok.ok());
    CHECK(ok.value().width == 48u);
    CHECK(ok.value().height == 8u);
}

TEST_CASE("a PNM comment ends at a carriage return too, as OpenCV's reader ends it", "[image_header][bad_input]") {
    // Found by fuzz_image: "#a\r40\n" is a comment then 40 to the Netpbm spec and to OpenCV; a probe reading the
    // comment on to the newline saw 48 x 255 where OpenCV decoded 40 x 48.
    const auto bytes = [](const std::string& s) { return std::vector<std::uint8_t>(s.begin(), s.end()); };
    const auto data = bytes("P5\n#a\r40\n#b\n48 255\n" + std::string(40 * 48, '\x80'));
    const auto h = probe_image_header(data);
    REQUIRE(h.ok());
    CHECK(h.value().width == 40u);
    CHECK(h.value().height == 48u);
    const auto d = decode_image(data);
    REQUIRE(d.ok());
    CHECK(d.value().bgr.cols == 40);
    CHECK(d.value().bgr.rows == 48);
}
