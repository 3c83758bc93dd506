// A side-by-side picture of a query and a matched reference, the matched region drawn, for a reviewer.
#pragma once

#include <opencv2/core/mat.hpp>

#include "neardup/store/store.hpp"

namespace neardup::indexer {

// Both images scaled to the same height; the hit's region outlined on the reference, score and inliers written.
cv::Mat review_image(const cv::Mat& query_bgr, const cv::Mat& reference_bgr, const store::SearchHit& hit);

}  // namespace neardup::indexer
