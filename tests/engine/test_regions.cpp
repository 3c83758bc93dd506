#include <catch2/catch.hpp>

#include <opencv2/imgproc.hpp>

#include "neardup/engine/decode.hpp"
#include "neardup/engine/regions.hpp"
#include "support/sample_photos.hpp"

using namespace neardup;

namespace {
cv::Mat photo(const std::string& name, cv::Size size) {
    cv::Mat out;
    cv::resize(decode_image(test::read_bytes(test::sample_photo(name))).value().bgr, out, size, 0, 0, cv::INTER_AREA);
    return out;
}
// Rectangles equal up to a few pixels of the analysis frame's rounding.
bool near(const cv::Rect& a, const cv::Rect& b, int tolerance) {
    return std::abs(a.x - b.x) <= tolerance && std::abs(a.y - b.y) <= tolerance && std::abs(a.width - b.width) <= 2 * tolerance &&
           std::abs(a.height - b.height) <= 2 * tolerance;
}
}  // namespace

TEST_CASE("collage tiles separated by gaps come back as regions", "[regions]") {
    cv::Mat collage(620, 820, CV_8UC3, cv::Scalar(235, 235, 235));
    const cv::Rect left(10, 10, 395, 600), right(415, 10, 395, 600);
    photo("dome.jpg", left.size()).copyTo(collage(left));
    photo("coffee.jpg", right.size()).copyTo(collage(right));
    const auto regions = propose_regions(collage);
    INFO(regions.size() << " regions; first " << (regions.empty() ? cv::Rect() : regions[0]));
    REQUIRE(regions.size() == 2u);
    const bool ordered = regions[0].x < regions[1].x;
    CHECK(near(ordered ? regions[0] : regions[1], left, 6));
    CHECK(near(ordered ? regions[1] : regions[0], right, 6));
}

TEST_CASE("the photo inside a screenshot comes back as a region", "[regions]") {
    cv::Mat shot(900, 540, CV_8UC3, cv::Scalar(250, 250, 250));
    cv::rectangle(shot, cv::Rect(0, 0, 540, 40), cv::Scalar(40, 40, 40), cv::FILLED);  // status bar
    cv::putText(shot, "12:30   4G", cv::Point(20, 28), cv::FONT_HERSHEY_SIMPLEX, 0.7, cv::Scalar(255, 255, 255), 2);
    const cv::Rect picture(0, 120, 540, 400);
    photo("pot-holder.jpg", picture.size()).copyTo(shot(picture));
    cv::putText(shot, "$ 19.99", cv::Point(20, 600), cv::FONT_HERSHEY_DUPLEX, 1.4, cv::Scalar(0, 0, 200), 3);
    cv::rectangle(shot, cv::Rect(20, 780, 500, 70), cv::Scalar(0, 120, 255), cv::FILLED);  // buy button
    const auto regions = propose_regions(shot);
    REQUIRE_FALSE(regions.empty());
    INFO("first region " << regions[0]);
    // Inside the photo (the UI is cut away) and most of it (the photo's own flat margins may be trimmed too).
    const cv::Rect padded(picture.x - 6, picture.y - 6, picture.width + 12, picture.height + 12);
    CHECK((regions[0] & padded) == regions[0]);
    CHECK(regions[0].area() >= 0.6 * picture.area());
}

TEST_CASE("a plain photo does not split", "[regions]") {
    CHECK(propose_regions(photo("dome.jpg", cv::Size(800, 600))).empty());
    CHECK(propose_regions(cv::Mat()).empty());
}
