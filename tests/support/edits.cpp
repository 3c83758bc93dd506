#include "support/edits.hpp"

#include <opencv2/imgproc.hpp>

namespace neardup::test {

cv::Mat crop_center(const cv::Mat& img, double keep) {
    const int w = static_cast<int>(img.cols * keep), h = static_cast<int>(img.rows * keep);
    return img(cv::Rect((img.cols - w) / 2, (img.rows - h) / 2, w, h)).clone();
}

cv::Mat mirror(const cv::Mat& img) {
    cv::Mat out;
    cv::flip(img, out, 1);
    return out;
}

cv::Mat price_overlay(const cv::Mat& img) {
    cv::Mat out = img.clone();
    const int w = img.cols;
    cv::rectangle(out, cv::Point(w / 20, img.rows / 2 - w / 12), cv::Point(w * 3 / 4, img.rows / 2 + w / 40), cv::Scalar(0, 0, 200), cv::FILLED);
    cv::putText(out, "SALE $19.99", cv::Point(w / 16, img.rows / 2), cv::FONT_HERSHEY_DUPLEX, w / 350.0, cv::Scalar(255, 255, 255), std::max(2, w / 250));
    cv::putText(out, "+1 555 0100", cv::Point(w / 10, img.rows * 9 / 10), cv::FONT_HERSHEY_SIMPLEX, w / 600.0, cv::Scalar(0, 255, 255), std::max(2, w / 300));
    return out;
}

cv::Mat on_new_background(const cv::Mat& img, const cv::Mat& background, double scale) {
    cv::Mat canvas;
    cv::resize(background, canvas, cv::Size(img.cols, img.rows), 0, 0, cv::INTER_AREA);
    cv::Mat inset;
    cv::resize(img, inset, cv::Size(), scale, scale, cv::INTER_AREA);
    inset.copyTo(canvas(cv::Rect((canvas.cols - inset.cols) / 3, (canvas.rows - inset.rows) / 2, inset.cols, inset.rows)));
    return canvas;
}

cv::Mat rotate_90(const cv::Mat& img) {
    cv::Mat out;
    cv::rotate(img, out, cv::ROTATE_90_CLOCKWISE);
    return out;
}

}  // namespace neardup::test
