// Counterfeit-listing edits for tests: each takes a decoded photo and returns the edited copy.
#pragma once

#include <opencv2/core/mat.hpp>

namespace neardup::test {

cv::Mat crop_center(const cv::Mat& img, double keep);               // keep a centred fraction of each side
cv::Mat mirror(const cv::Mat& img);
cv::Mat price_overlay(const cv::Mat& img);                           // "SALE $19.99" and a phone number
cv::Mat on_new_background(const cv::Mat& img, const cv::Mat& background, double scale);
cv::Mat rotate_90(const cv::Mat& img);

}  // namespace neardup::test
