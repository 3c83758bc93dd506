#include "neardup/bench/pr_plot.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace neardup::bench {
namespace {

// Tableau 10 (BGR): ten colours most readers tell apart; an eleventh method repeats the first colour.
constexpr std::array<std::array<int, 3>, 10> kPalette{{{180, 119, 31},  {14, 127, 255}, {44, 160, 44},
                                                       {40, 39, 214},   {189, 103, 148}, {75, 86, 140},
                                                       {194, 119, 227}, {127, 127, 127}, {34, 189, 188},
                                                       {207, 190, 23}}};
// Below this the axes get too narrow for the tick labels and a legend of shortened names.
constexpr int kMinWidth = 640;
constexpr int kMinHeight = 400;
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
const cv::Scalar kBlack(0, 0, 0);
const cv::Scalar kGrid(225, 225, 225);
const cv::Scalar kGuide(130, 130, 130);

cv::Scalar colour_of(std::size_t k) {
    const auto& c = kPalette[k % kPalette.size()];
    return cv::Scalar(c[0], c[1], c[2]);
}

std::string one_decimal(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
}

// Where plot coordinates (recall, precision in 0..1) land in pixels.
struct Frame {
    cv::Rect area;
    cv::Point at(double recall, double precision) const {
        return {area.x + static_cast<int>(std::lround(recall * area.width)),
                area.y + area.height - static_cast<int>(std::lround(precision * area.height))};
    }
};

void put_text(cv::Mat& img, const std::string& text, cv::Point origin, double scale, const cv::Scalar& colour,
              int thickness = 1) {
    cv::putText(img, text, origin, kFont, scale, colour, thickness, cv::LINE_AA);
}

// OpenCV draws text horizontally only: draw it on a strip and turn the strip a quarter left.
void put_vertical_text(cv::Mat& img, const std::string& text, cv::Point centre, double scale) {
    int baseline = 0;
    const cv::Size size = cv::getTextSize(text, kFont, scale, 1, &baseline);
    cv::Mat strip(size.height + baseline + 4, size.width + 4, CV_8UC3, cv::Scalar(255, 255, 255));
    put_text(strip, text, {2, size.height + 2}, scale, kBlack);
    cv::Mat turned;
    cv::rotate(strip, turned, cv::ROTATE_90_COUNTERCLOCKWISE);
    const cv::Rect where(centre.x - turned.cols / 2, centre.y - turned.rows / 2, turned.cols, turned.rows);
    if ((where & cv::Rect(0, 0, img.cols, img.rows)) == where) turned.copyTo(img(where));
}

void dashed_line(cv::Mat& img, cv::Point a, cv::Point b, const cv::Scalar& colour) {
    constexpr int kDash = 6;
    const double length = std::hypot(b.x - a.x, b.y - a.y);
    for (double s = 0; s < length; s += 2 * kDash) {
        const double e = std::min(s + kDash, length);
        const auto along = [&](double d) {
            return cv::Point(a.x + static_cast<int>((b.x - a.x) * d / length), a.y + static_cast<int>((b.y - a.y) * d / length));
        };
        const cv::Point p = along(s), q = along(e);
        cv::line(img, p, q, colour, 1, cv::LINE_AA);
    }
}

void draw_axes(cv::Mat& img, const Frame& f, const Report& report) {
    // Tick labels every 0.1 when they fit (about 40 px wide, 20 px high), every 0.2 otherwise.
    const int x_step = f.area.width >= 400 ? 1 : 2;
    const int y_step = f.area.height >= 200 ? 1 : 2;
    for (int k = 0; k <= 10; ++k) {
        const double v = k / 10.0;
        cv::line(img, f.at(v, 0), f.at(v, 1), kGrid, 1);
        cv::line(img, f.at(0, v), f.at(1, v), kGrid, 1);
        cv::line(img, f.at(v, 0), f.at(v, 0) + cv::Point(0, 5), kBlack, 1);
        cv::line(img, f.at(0, v), f.at(0, v) - cv::Point(5, 0), kBlack, 1);
        const std::string label = one_decimal(v);
        int baseline = 0;
        const cv::Size s = cv::getTextSize(label, kFont, 0.45, 1, &baseline);
        if (k % x_step == 0) put_text(img, label, f.at(v, 0) + cv::Point(-s.width / 2, s.height + 10), 0.45, kBlack);
        if (k % y_step == 0) put_text(img, label, f.at(0, v) + cv::Point(-s.width - 10, s.height / 2), 0.45, kBlack);
    }
    // The two precisions the report quotes recall at.
    for (const double p : {kPrecisionTarget90, kPrecisionTarget99}) {
        dashed_line(img, f.at(0, p), f.at(1, p), kGuide);
        const std::string label = "P=" + (p == kPrecisionTarget90 ? std::string("0.9") : std::string("0.99"));
        put_text(img, label, f.at(1, p) + cv::Point(4, p == kPrecisionTarget90 ? 4 : -2), 0.4, kGuide);
    }
    cv::rectangle(img, f.area, kBlack, 1);

    int baseline = 0;
    const cv::Size xs = cv::getTextSize("recall", kFont, 0.6, 1, &baseline);
    put_text(img, "recall", {f.area.x + f.area.width / 2 - xs.width / 2, f.area.y + f.area.height + 48}, 0.6, kBlack);
    put_vertical_text(img, "precision", {f.area.x - 60, f.area.y + f.area.height / 2}, 0.6);

    const std::string title = report.title.empty() ? std::string("precision-recall") : report.title;
    const cv::Size ts = cv::getTextSize(title, kFont, 0.7, 2, &baseline);
    put_text(img, title, {std::max(4, f.area.x + f.area.width / 2 - ts.width / 2), 32}, 0.7, kBlack, 2);
}

void draw_curve(cv::Mat& img, const Frame& f, const MethodMetrics& m, const cv::Scalar& colour) {
    // Points closer than a pixel to the last one drawn add nothing but size; a million-point curve draws fast.
    std::vector<cv::Point> points;
    for (const PrPoint& p : m.pr_curve) {
        const cv::Point q = f.at(p.recall, p.precision);
        if (!points.empty() && std::abs(q.x - points.back().x) + std::abs(q.y - points.back().y) < 1) continue;
        points.push_back(q);
    }
    if (points.size() == 1) cv::circle(img, points[0], 2, colour, cv::FILLED, cv::LINE_AA);
    if (points.size() > 1) cv::polylines(img, points, false, colour, 2, cv::LINE_AA);
    if (m.at_p90.point)
        cv::circle(img, f.at(m.at_p90.point->recall, m.at_p90.point->precision), 7, colour, 2, cv::LINE_AA);
    if (m.at_p99.point)
        cv::circle(img, f.at(m.at_p99.point->recall, m.at_p99.point->precision), 5, colour, cv::FILLED, cv::LINE_AA);
}

constexpr double kLegendScale = 0.5;
constexpr int kLegendRow = 22;
constexpr int kSwatch = 28;
const std::string kKeyP90 = "R@P0.9 point";
const std::string kKeyP99 = "R@P0.99 point";

int text_width(const std::string& text, double scale) {
    int baseline = 0;
    return cv::getTextSize(text, kFont, scale, 1, &baseline).width;
}

// One legend line per method: its name and muAP; a name wider than name_budget pixels is shortened.
std::vector<std::string> legend_labels(const Report& report, int name_budget) {
    std::vector<std::string> labels;
    for (const MethodMetrics& m : report.methods) {
        char ap[32];
        std::snprintf(ap, sizeof ap, "  muAP %.4f", m.micro_ap);
        std::string name = m.method;
        while (name.size() > 4 && text_width(name, kLegendScale) > name_budget)
            name = name.substr(0, name.size() - 4) + "...";
        labels.push_back(name + ap);
    }
    return labels;
}

int legend_width(const std::vector<std::string>& labels) {
    int width = text_width(kKeyP99, kLegendScale);
    for (const std::string& l : labels) width = std::max(width, text_width(l, kLegendScale));
    return kSwatch + 28 + width;
}

// Outside the axes, on the right, so no curve is ever hidden behind it.
void draw_legend(cv::Mat& img, cv::Point top_left, const std::vector<std::string>& labels) {
    const int rows = static_cast<int>(labels.size()) + 2;
    const cv::Rect box(top_left.x, top_left.y, legend_width(labels), rows * kLegendRow + 10);
    cv::rectangle(img, box, kGuide, 1);
    int y = box.y + 5 + kLegendRow / 2;
    for (std::size_t k = 0; k < labels.size(); ++k, y += kLegendRow) {
        cv::line(img, {box.x + 10, y}, {box.x + 10 + kSwatch, y}, colour_of(k), 3, cv::LINE_AA);
        put_text(img, labels[k], {box.x + 18 + kSwatch, y + 5}, kLegendScale, kBlack);
    }
    cv::circle(img, {box.x + 10 + kSwatch / 2, y}, 7, kBlack, 2, cv::LINE_AA);
    put_text(img, kKeyP90, {box.x + 18 + kSwatch, y + 5}, kLegendScale, kBlack);
    y += kLegendRow;
    cv::circle(img, {box.x + 10 + kSwatch / 2, y}, 5, kBlack, cv::FILLED, cv::LINE_AA);
    put_text(img, kKeyP99, {box.x + 18 + kSwatch, y + 5}, kLegendScale, kBlack);
}

}  // namespace

std::vector<std::uint8_t> render_pr_plot_png(const Report& report, const PrPlotOptions& options) {
    if (options.width < kMinWidth || options.height < kMinHeight)
        throw std::invalid_argument("render_pr_plot_png: " + std::to_string(options.width) + "x" +
                                    std::to_string(options.height) + " is under the minimum " +
                                    std::to_string(kMinWidth) + "x" + std::to_string(kMinHeight));
    cv::Mat img(options.height, options.width, CV_8UC3, cv::Scalar(255, 255, 255));
    // Left: tick labels and the y label; right: the P= guide labels, then the legend; bottom: x labels.
    constexpr int kLeft = 90, kGuideLabels = 60, kRight = 15, kTop = 55, kBottom = 75;
    const int name_budget = std::max(options.width / 8, options.width / 3 - text_width("  muAP 0.0000", kLegendScale));
    const std::vector<std::string> labels = legend_labels(report, name_budget);
    const int legend = report.methods.empty() ? 0 : legend_width(labels);
    const Frame frame{cv::Rect(kLeft, kTop, options.width - kLeft - kGuideLabels - legend - kRight,
                               options.height - kTop - kBottom)};
    draw_axes(img, frame, report);
    for (std::size_t k = 0; k < report.methods.size(); ++k) draw_curve(img, frame, report.methods[k], colour_of(k));
    if (!report.methods.empty())
        draw_legend(img, {frame.area.x + frame.area.width + kGuideLabels, frame.area.y}, labels);

    std::vector<std::uint8_t> png;
    if (!cv::imencode(".png", img, png)) throw std::runtime_error("render_pr_plot_png: PNG encoding failed");
    return png;
}

}  // namespace neardup::bench
