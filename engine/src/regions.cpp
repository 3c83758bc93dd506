#include "neardup/engine/regions.hpp"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

namespace neardup {
namespace {

constexpr int kFrame = 384;            // analysis frame: enough to see gaps of a few pixels
constexpr double kUniformRow = 2.5;    // mean absolute gradient along a row/column (grey levels) below which it is flat
constexpr int kMinBand = 2;            // flat rows/columns in a row that make a separator

struct Analysis {
    cv::Mat gx, gy;  // absolute horizontal / vertical gradients, CV_32F
};

// Mean |d/dx| along row y between columns x0..x1 (a flat row has no texture across it).
double row_activity(const Analysis& a, int y, int x0, int x1) {
    const float* p = a.gx.ptr<float>(y);
    double s = 0;
    for (int x = x0; x < x1; ++x) s += p[x];
    return s / std::max(1, x1 - x0);
}
double col_activity(const Analysis& a, int x, int y0, int y1) {
    double s = 0;
    for (int y = y0; y < y1; ++y) s += a.gy.at<float>(y, x);
    return s / std::max(1, y1 - y0);
}

// Splits r at its flat bands along one axis; returns the non-flat pieces.
std::vector<cv::Rect> split(const Analysis& a, const cv::Rect& r, bool rows) {
    const int n = rows ? r.height : r.width;
    std::vector<bool> flat(n);
    for (int i = 0; i < n; ++i)
        flat[i] = (rows ? row_activity(a, r.y + i, r.x, r.x + r.width) : col_activity(a, r.x + i, r.y, r.y + r.height)) < kUniformRow;
    std::vector<cv::Rect> pieces;
    int start = -1, flat_run = 0, last_content = -1;
    auto close = [&](int end) {
        if (start >= 0 && end > start)
            pieces.push_back(rows ? cv::Rect(r.x, r.y + start, r.width, end - start) : cv::Rect(r.x + start, r.y, end - start, r.height));
        start = -1;
    };
    for (int i = 0; i < n; ++i) {
        if (flat[i]) {
            if (++flat_run >= kMinBand && start >= 0) close(last_content + 1);
        } else {
            flat_run = 0;
            if (start < 0) start = i;
            last_content = i;
        }
    }
    close(last_content + 1);
    return pieces;
}

void guillotine(const Analysis& a, const cv::Rect& r, int depth, std::vector<cv::Rect>& out) {
    cv::Rect current = r;
    for (bool rows : {true, false}) {
        const auto pieces = split(a, current, rows);
        if (pieces.empty()) return;  // nothing but flat background
        if (pieces.size() == 1) {    // flat margins only: trim them and try the other axis
            current = pieces[0];
            continue;
        }
        for (const auto& p : pieces) {
            if (depth < 3) guillotine(a, p, depth + 1, out);
            else out.push_back(p);
        }
        return;
    }
    out.push_back(current);
}

}  // namespace

std::vector<cv::Rect> propose_regions(const cv::Mat& bgr, const RegionOptions& options) {
    if (bgr.empty()) return {};
    const double f = std::min(1.0, static_cast<double>(kFrame) / std::max(bgr.cols, bgr.rows));
    cv::Mat gray, small;
    if (bgr.channels() == 3) cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
    else gray = bgr;
    cv::resize(gray, small, cv::Size(), f, f, cv::INTER_AREA);
    Analysis a;
    cv::Mat s32;
    small.convertTo(s32, CV_32F);
    cv::Sobel(s32, a.gx, CV_32F, 1, 0, 1);
    cv::Sobel(s32, a.gy, CV_32F, 0, 1, 1);
    a.gx = cv::abs(a.gx);
    a.gy = cv::abs(a.gy);
    std::vector<cv::Rect> cells;
    guillotine(a, cv::Rect(0, 0, small.cols, small.rows), 0, cells);
    const double total = static_cast<double>(small.cols) * small.rows;
    std::vector<cv::Rect> out;
    for (const auto& c : cells) {
        const double frac = c.area() / total;
        if (frac < options.min_area_fraction || frac > options.max_area_fraction) continue;
        if (std::min(c.width, c.height) < options.min_side) continue;
        out.push_back(cv::Rect(static_cast<int>(c.x / f), static_cast<int>(c.y / f), static_cast<int>(c.width / f),
                               static_cast<int>(c.height / f)) & cv::Rect(0, 0, bgr.cols, bgr.rows));
    }
    std::sort(out.begin(), out.end(), [](const cv::Rect& x, const cv::Rect& y) { return x.area() > y.area(); });
    if (static_cast<int>(out.size()) > options.max_regions) out.resize(options.max_regions);
    return out;
}

}  // namespace neardup
