#include "neardup/indexer/review_image.hpp"

#include <opencv2/imgproc.hpp>

namespace neardup::indexer {

cv::Mat review_image(const cv::Mat& query_bgr, const cv::Mat& reference_bgr, const store::SearchHit& hit) {
    constexpr int kHeight = 480;
    auto fit = [](const cv::Mat& m, double& scale) {
        scale = static_cast<double>(kHeight) / m.rows;
        cv::Mat out;
        cv::resize(m, out, cv::Size(std::max(1, static_cast<int>(m.cols * scale)), kHeight), 0, 0, cv::INTER_AREA);
        return out;
    };
    double qs = 1, rs = 1;
    const cv::Mat q = fit(query_bgr, qs), r = fit(reference_bgr, rs);
    constexpr int kBanner = 40, kGap = 10;
    cv::Mat canvas(kHeight + kBanner, q.cols + kGap + r.cols, CV_8UC3, cv::Scalar(255, 255, 255));
    q.copyTo(canvas(cv::Rect(0, kBanner, q.cols, q.rows)));
    r.copyTo(canvas(cv::Rect(q.cols + kGap, kBanner, r.cols, r.rows)));
    if (hit.region.area() > 0) {
        // The region is in full-size reference pixels; reference_bgr may be a reduced decode.
        const cv::Rect2f region(hit.region.x * rs, hit.region.y * rs, hit.region.width * rs, hit.region.height * rs);
        cv::rectangle(canvas, cv::Rect(static_cast<int>(region.x) + q.cols + kGap, static_cast<int>(region.y) + kBanner,
                                       static_cast<int>(region.width), static_cast<int>(region.height)),
                      cv::Scalar(0, 200, 0), 3);
    }
    const std::string text = cv::format("%s  score %.3f  %s  inliers %d  pdq %d%s", hit.key.c_str(), hit.score,
                                        hit.match ? "MATCH" : "no match", hit.inliers, hit.pdq_distance,
                                        hit.mirrored ? "  (mirrored)" : "");
    cv::putText(canvas, text, cv::Point(8, 27), cv::FONT_HERSHEY_SIMPLEX, 0.7,
                hit.match ? cv::Scalar(0, 140, 0) : cv::Scalar(0, 0, 200), 2, cv::LINE_AA);
    return canvas;
}

}  // namespace neardup::indexer
