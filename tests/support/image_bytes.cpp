#include "support/image_bytes.hpp"

#include <stdexcept>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace neardup::test {

cv::Mat synthetic_picture(int width, int height, int seed) {
    cv::Mat img(height, width, CV_8UC3);
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
            img.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>(255 * x / width), static_cast<uchar>(255 * y / height),
                                                static_cast<uchar>((x * 3 + y * 5 + seed * 40) % 256));
    cv::RNG rng(static_cast<std::uint64_t>(seed));
    const int scale = std::min(width, height);
    for (int i = 0; i < 25; ++i) {
        const cv::Point c(rng.uniform(0, width), rng.uniform(0, height));
        const cv::Scalar colour(rng.uniform(0, 256), rng.uniform(0, 256), rng.uniform(0, 256));
        if (i % 3 == 0) cv::circle(img, c, rng.uniform(scale / 40 + 1, scale / 6 + 2), colour, cv::FILLED, cv::LINE_AA);
        else if (i % 3 == 1) cv::rectangle(img, c, c + cv::Point(rng.uniform(5, scale / 4 + 6), rng.uniform(5, scale / 4 + 6)), colour, cv::FILLED);
        else cv::putText(img, "neardup", c, cv::FONT_HERSHEY_SIMPLEX, scale / 300.0 + 0.3, colour, 2, cv::LINE_AA);
    }
    return img;
}

std::vector<std::uint8_t> encode(const cv::Mat& image, const std::string& ext, std::vector<int> params) {
    std::vector<std::uint8_t> out;
    if (!cv::imencode(ext, image, out, params)) throw std::runtime_error("imencode failed for " + ext);
    return out;
}

std::vector<std::uint8_t> with_exif_orientation(const std::vector<std::uint8_t>& jpeg, int orientation) {
    // APP1: "Exif\0\0" + little-endian TIFF header + one IFD with a single Orientation (0x0112) SHORT entry.
    std::vector<std::uint8_t> tiff = {'I', 'I', 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00,  // header, IFD at 8
                                      0x01, 0x00,                                      // one entry
                                      0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00,  // tag 0x0112, SHORT, count 1
                                      static_cast<std::uint8_t>(orientation), 0x00, 0x00, 0x00,
                                      0x00, 0x00, 0x00, 0x00};  // no next IFD
    std::vector<std::uint8_t> payload = {'E', 'x', 'i', 'f', 0, 0};
    payload.insert(payload.end(), tiff.begin(), tiff.end());
    const std::size_t len = payload.size() + 2;
    std::vector<std::uint8_t> out(jpeg.begin(), jpeg.begin() + 2);  // SOI
    out.insert(out.end(), {0xFF, 0xE1, static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len & 0xFF)});
    out.insert(out.end(), payload.begin(), payload.end());
    out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
    return out;
}

std::vector<std::uint8_t> png_header_claiming(std::uint32_t width, std::uint32_t height) {
    std::vector<std::uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    for (std::uint32_t v : {width, height})
        for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
    out.insert(out.end(), {8, 2, 0, 0, 0, 0, 0, 0, 0});  // 8-bit RGB, CRC (not checked by the header probe)
    out.insert(out.end(), {0, 0, 0, 0, 'I', 'D', 'A', 'T', 0, 0, 0, 0, 0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82});
    return out;
}

}  // namespace neardup::test
