// Builds test images in memory: synthetic pictures, encodings, and hand-made headers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>
#include <opencv2/imgcodecs.hpp>

namespace neardup::test {

// A deterministic picture with structure at several scales (gradients, shapes, text-like strokes).
cv::Mat synthetic_picture(int width, int height, int seed = 1);
// cv::imencode to ".jpg", ".png", ".webp", ".bmp", ".tiff", ".ppm"...; throws on failure.
std::vector<std::uint8_t> encode(const cv::Mat& image, const std::string& ext, std::vector<int> params = {});
// Inserts an EXIF APP1 segment with the given orientation tag right after the JPEG SOI marker.
std::vector<std::uint8_t> with_exif_orientation(const std::vector<std::uint8_t>& jpeg, int orientation);
// A PNG signature + IHDR claiming width x height, followed by a tiny IDAT and IEND (a decompression bomb's header).
std::vector<std::uint8_t> png_header_claiming(std::uint32_t width, std::uint32_t height);

}  // namespace neardup::test
