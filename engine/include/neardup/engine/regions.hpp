// Finds the rectangles of a query that may each hold a copied photo: collage tiles, the photo inside a
// shop-app screenshot or a frame. Each is then searched as a query of its own.
#pragma once

#include <vector>

#include <opencv2/core/mat.hpp>

namespace neardup {

struct RegionOptions {
    int max_regions = 4;
    double min_area_fraction = 0.08;  // of the whole image
    double max_area_fraction = 0.85;  // larger is the whole image again, already searched
    int min_side = 48;                // pixels of the analysis frame
};

// Splits the image along bands of uniform rows or columns that cross the whole current rectangle
// (guillotine cuts, recursively), then trims uniform margins. Returns up to max_regions rectangles in the
// image's own pixel coordinates, largest first; empty when the image does not split.
std::vector<cv::Rect> propose_regions(const cv::Mat& bgr, const RegionOptions& options = {});

}  // namespace neardup
