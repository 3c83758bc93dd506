#include <catch2/catch.hpp>

#include <opencv2/imgproc.hpp>

#include "neardup/engine/pdq_exchange.hpp"
#include "support/image_bytes.hpp"
#include "support/sample_photos.hpp"

using namespace neardup;

namespace {

std::vector<std::uint8_t> fixture(const std::string& name) {
    return test::read_bytes(std::string(NEARDUP_FIXTURES_DIR) + "/threatexchange/" + name);
}

PdqHash hash_of(const std::vector<std::uint8_t>& bytes, PdqConvention convention) {
    auto h = exchange_pdq(bytes, convention);
    REQUIRE(h.ok());
    return h.value();
}

}  // namespace

// The published hashes of ThreatExchange's own test images (tests/fixtures/README.md): what a partner's
// hasher prints for these files, matched bit for bit under both conventions (no EXIF rotation, no alpha).
TEST_CASE("exchange hashes equal ThreatExchange's published hashes of its test images", "[pdq][golden][exchange]") {
    const std::pair<const char*, const char*> published[] = {
        {"q0004.jpg", "992d44af36d69e6ca6b812585928bac11def254ef5398c6d07466c9abcc65b92"},
        {"q0122.jpg", "cfb2009ddd21c6dab0046a7745b5984757a8a4535b3377aea2591d32b33ff940"},
        {"q0291.jpg", "a0fe94f1e5cc1cc8dd855948498dc9243f7ca27336f036d7f212b74bc103c9a7"},
        {"q0746.jpg", "1049d96239e24d4dca2c55512b8bdb77425f4dbcf575a0a95555aaab5554aaaa"},
        {"q1050.jpg", "489db672e9190276d452aeab41eba20f02375fe4092d88defdf491a5c55c5f70"},
        {"q2821.jpg", "b150231ffae4710ffcf4f18bb574b109a576f14bb8543189f8743289f174b109"},
        {"small.jpg", "0007001f003f003f007f00ff00ff00ff01ff01ff01ff03ff03ff03ff03ff03ff"},
        {"wee.jpg", "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d"},
    };
    for (const auto& [name, hex] : published) {
        INFO(name);
        const auto bytes = fixture(name);
        for (const auto convention : {PdqConvention::threatexchange, PdqConvention::neardup}) {
            const PdqHash h = hash_of(bytes, convention);
            CHECK(h.hash.to_hex() == hex);
        }
    }
}

TEST_CASE("the conventions differ exactly where the pixels are read differently", "[pdq][exchange]") {
    const cv::Mat picture = test::synthetic_picture(640, 400, 7);
    SECTION("EXIF orientation: applied by neardup, ignored by the reference") {
        const auto jpeg = test::encode(picture, ".jpg", {cv::IMWRITE_JPEG_QUALITY, 95});
        const auto rotated_tag = test::with_exif_orientation(jpeg, 6);
        const PdqHash stored = hash_of(jpeg, PdqConvention::threatexchange);
        CHECK(hash_of(rotated_tag, PdqConvention::threatexchange) == stored);  // the tag changes nothing there
        CHECK(hash_of(jpeg, PdqConvention::neardup) == stored);                // no tag: the same
        // neardup hashes the image turned 90 degrees clockwise, as a viewer shows it.
        const auto decoded = decode_image(jpeg).value().bgr;
        cv::Mat turned;
        cv::rotate(decoded, turned, cv::ROTATE_90_CLOCKWISE);
        const PdqHash shown = hash_of(rotated_tag, PdqConvention::neardup);
        CHECK(shown == pdq_hash(pdq_reference_frame(turned)));
        CHECK(hamming_distance(shown.hash, stored.hash) > 64);
    }
    SECTION("alpha: composited onto white by neardup, dropped by the reference") {
        cv::Mat bgra;
        cv::cvtColor(picture, bgra, cv::COLOR_BGR2BGRA);
        // Transparent left half, with stored colours that are not white.
        bgra(cv::Rect(0, 0, 320, 400)).forEach<cv::Vec4b>([](cv::Vec4b& p, const int*) { p[3] = 0; });
        const auto png = test::encode(bgra, ".png");
        cv::Mat dropped, on_white = picture.clone();
        on_white(cv::Rect(0, 0, 320, 400)).setTo(cv::Scalar(255, 255, 255));
        cv::cvtColor(bgra, dropped, cv::COLOR_BGRA2BGR);
        CHECK(hash_of(png, PdqConvention::threatexchange) == pdq_hash(pdq_reference_frame(dropped)));
        CHECK(hash_of(png, PdqConvention::neardup) == pdq_hash(pdq_reference_frame(on_white)));
        CHECK(hamming_distance(hash_of(png, PdqConvention::threatexchange).hash, hash_of(png, PdqConvention::neardup).hash) > 20);
    }
}

TEST_CASE("the reference frame squashes large images to 512x512 by nearest neighbour", "[pdq][exchange]") {
    const cv::Mat small = test::synthetic_picture(512, 300, 2);
    CHECK(pdq_reference_frame(small).size() == small.size());
    const cv::Mat wide = test::synthetic_picture(1600, 400, 2);
    const cv::Mat framed = pdq_reference_frame(wide);
    REQUIRE(framed.size() == cv::Size(512, 512));
    // Pixel (x, y) of the frame is pixel (floor(x * 1600 / 512), floor(y * 400 / 512)) of the image.
    for (const auto& [x, y] : {std::pair{0, 0}, {511, 511}, {100, 37}, {333, 480}})
        CHECK(framed.at<cv::Vec3b>(y, x) == wide.at<cv::Vec3b>(y * 400 / 512, x * 1600 / 512));
}

TEST_CASE("exchange hashing refuses bad bytes with the decoder's errors", "[pdq][exchange][bad_input]") {
    CHECK(exchange_pdq({}, PdqConvention::neardup).error().code == ErrorCode::empty_input);
    const std::vector<std::uint8_t> junk = {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'};
    CHECK(exchange_pdq(junk, PdqConvention::threatexchange).error().code == ErrorCode::unsupported_format);
    CHECK(exchange_pdq(test::png_header_claiming(100000, 100000), PdqConvention::threatexchange).error().code == ErrorCode::too_large);
    CHECK(parse_pdq_convention("threatexchange") == PdqConvention::threatexchange);
    CHECK(parse_pdq_convention("neardup") == PdqConvention::neardup);
    CHECK_FALSE(parse_pdq_convention("reference").has_value());
    CHECK(to_string(PdqConvention::threatexchange) == "threatexchange");
}
