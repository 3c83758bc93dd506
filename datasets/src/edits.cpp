#include "neardup/datasets/edits.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace neardup::datasets {
namespace {

constexpr std::array<std::string_view, 21> kFamilyNames = {
    "crop",  "rescale",      "aspect",    "jpeg",        "colour",       "greyscale",
    "blur_noise", "text_overlay", "watermark", "mirror",  "rotate_small", "rotate_90",
    "perspective", "frame",      "new_background", "collage", "screenshot", "crop_heavy",
    "collage_dense", "text_dense", "hard_negative",
};

// Smallest side an edit may leave: below this nothing of the photo survives a marketplace thumbnail.
constexpr int kMinSide = 64;

double uniform(Rng& rng, double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }
int uniform_int(Rng& rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
bool chance(Rng& rng, double p) { return uniform(rng, 0.0, 1.0) < p; }
template <class T>
const T& pick(Rng& rng, std::span<const T> items) {
    return items[static_cast<std::size_t>(uniform_int(rng, 0, static_cast<int>(items.size()) - 1))];
}
template <class T, std::size_t N>
const T& pick(Rng& rng, const std::array<T, N>& items) {
    return pick(rng, std::span<const T>(items));
}

std::string fmt(const char* format, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, value);
    return buf;
}

cv::Scalar random_colour(Rng& rng) { return {uniform(rng, 0, 255), uniform(rng, 0, 255), uniform(rng, 0, 255)}; }
cv::Scalar light_colour(Rng& rng) { return {uniform(rng, 200, 255), uniform(rng, 200, 255), uniform(rng, 200, 255)}; }

// Colours sellers use for banners and prices (BGR).
const std::array<cv::Scalar, 8> kBannerColours = {
    cv::Scalar(30, 30, 220),  cv::Scalar(0, 140, 255), cv::Scalar(20, 20, 20),   cv::Scalar(40, 170, 40),
    cv::Scalar(200, 80, 20),  cv::Scalar(0, 215, 255), cv::Scalar(140, 40, 160), cv::Scalar(255, 255, 255),
};
constexpr std::array<int, 4> kFonts = {cv::FONT_HERSHEY_SIMPLEX, cv::FONT_HERSHEY_DUPLEX, cv::FONT_HERSHEY_TRIPLEX,
                                       cv::FONT_HERSHEY_COMPLEX};

std::string random_price(Rng& rng) {
    static constexpr std::array<std::string_view, 5> kCurrency = {"$", "EUR ", "$", "US $", "GBP "};
    const int whole = uniform_int(rng, 5, 399);
    const int cents = pick(rng, std::array<int, 4>{99, 90, 0, 49});
    char buf[48];
    std::snprintf(buf, sizeof buf, "%s%d.%02d", std::string(pick(rng, kCurrency)).c_str(), whole, cents);
    return buf;
}

std::string random_phone(Rng& rng) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "+%d %03d %03d %04d", uniform_int(rng, 1, 99), uniform_int(rng, 100, 999),
                  uniform_int(rng, 100, 999), uniform_int(rng, 0, 9999));
    return buf;
}

std::string random_listing_text(Rng& rng) {
    static constexpr std::array<std::string_view, 16> kSlogans = {
        "SALE",          "HOT SALE",       "-50%",          "-70% OFF",     "FREE SHIPPING", "NEW ARRIVAL",
        "100% ORIGINAL", "BEST QUALITY",   "LIMITED OFFER", "TOP SELLER",   "BUY 1 GET 1",   "WHOLESALE",
        "IN STOCK",      "FACTORY PRICE",  "2024 NEW",      "ORDER NOW",
    };
    switch (uniform_int(rng, 0, 4)) {
        case 0: return random_price(rng);
        case 1: return "WhatsApp " + random_phone(rng);
        case 2: return "ONLY " + random_price(rng);
        default: return std::string(pick(rng, kSlogans));
    }
}

std::string random_shop_name(Rng& rng) {
    static constexpr std::array<std::string_view, 10> kNames = {
        "bestdeals", "topshop", "luxstore", "megamart", "trendy", "outlet", "shopnow", "dailybuy", "primegoods",
        "brandhub"};
    static constexpr std::array<std::string_view, 5> kTld = {".com", ".shop", ".net", ".store", ""};
    std::string name(pick(rng, kNames));
    if (chance(rng, 0.5)) name += std::to_string(uniform_int(rng, 1, 999));
    return name + std::string(pick(rng, kTld));
}

// Font scale that makes `text` about `width` pixels wide.
double font_scale_for_width(const std::string& text, int font, int thickness, double width) {
    int baseline = 0;
    const cv::Size unit = cv::getTextSize(text, font, 1.0, thickness, &baseline);
    return std::max(0.3, width / std::max(1, unit.width));
}

// Text with a dark outline under it, as listing tools draw it.
void outlined_text(cv::Mat& img, const std::string& text, cv::Point org, int font, double scale, cv::Scalar fill,
                   cv::Scalar outline, int thickness) {
    cv::putText(img, text, org, font, scale, outline, thickness + std::max(2, thickness), cv::LINE_AA);
    cv::putText(img, text, org, font, scale, fill, thickness, cv::LINE_AA);
}

cv::Mat resize_to(const cv::Mat& img, cv::Size size) {
    cv::Mat out;
    const bool shrinking = size.area() < img.size().area();
    cv::resize(img, out, size, 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_CUBIC);
    return out;
}

// Scales `img` to fit inside `box`, keeping its aspect ratio.
cv::Mat fit_inside(const cv::Mat& img, cv::Size box) {
    const double s = std::min(static_cast<double>(box.width) / img.cols, static_cast<double>(box.height) / img.rows);
    return resize_to(img, {std::max(1, static_cast<int>(img.cols * s)), std::max(1, static_cast<int>(img.rows * s))});
}

// Scales and centre-crops `img` to fill `box`, cutting at most what the aspect difference needs.
cv::Mat cover(const cv::Mat& img, cv::Size box) {
    const double s = std::max(static_cast<double>(box.width) / img.cols, static_cast<double>(box.height) / img.rows);
    cv::Mat scaled = resize_to(img, {std::max(box.width, static_cast<int>(std::ceil(img.cols * s))),
                                     std::max(box.height, static_cast<int>(std::ceil(img.rows * s)))});
    const cv::Rect roi((scaled.cols - box.width) / 2, (scaled.rows - box.height) / 2, box.width, box.height);
    return scaled(roi).clone();
}

// A colour halfway to a light grey: the muted tones of backdrops, not the saturated ones of banners.
cv::Scalar muted_colour(Rng& rng) { return (random_colour(rng) + cv::Scalar::all(200)) * 0.5; }

// A flat or two-colour gradient canvas.
cv::Mat plain_background(cv::Size size, Rng& rng) {
    cv::Mat bg(size, CV_8UC3);
    const cv::Scalar a = chance(rng, 0.5) ? light_colour(rng) : muted_colour(rng);
    if (chance(rng, 0.4)) {
        bg.setTo(a);
        return bg;
    }
    const cv::Scalar b = muted_colour(rng);
    const bool vertical = chance(rng, 0.5);
    for (int y = 0; y < size.height; ++y)
        for (int x = 0; x < size.width; ++x) {
            const double t = vertical ? static_cast<double>(y) / size.height : static_cast<double>(x) / size.width;
            bg.at<cv::Vec3b>(y, x) = cv::Vec3b(cv::saturate_cast<uchar>(a[0] * (1 - t) + b[0] * t),
                                               cv::saturate_cast<uchar>(a[1] * (1 - t) + b[1] * t),
                                               cv::saturate_cast<uchar>(a[2] * (1 - t) + b[2] * t));
        }
    return bg;
}

const cv::Mat* random_other(Rng& rng, const EditInputs& inputs) {
    if (inputs.other_photos.empty()) return nullptr;
    return &inputs.other_photos[static_cast<std::size_t>(uniform_int(rng, 0, static_cast<int>(inputs.other_photos.size()) - 1))];
}

// A collage tile that is not the copy: another photo filling `size`, or a plain background when there are none.
cv::Mat other_tile(cv::Size size, Rng& rng, const EditInputs& inputs) {
    const cv::Mat* other = random_other(rng, inputs);
    return other ? cover(*other, size) : plain_background(size, rng);
}

// Alpha-blends `overlay` onto `img` where `alpha` (0..255, CV_8UC1) says, scaled by `opacity`.
void blend(cv::Mat& img, const cv::Mat& overlay, const cv::Mat& alpha, double opacity) {
    for (int y = 0; y < img.rows; ++y) {
        auto* dst = img.ptr<cv::Vec3b>(y);
        const auto* src = overlay.ptr<cv::Vec3b>(y);
        const auto* a = alpha.ptr<uchar>(y);
        for (int x = 0; x < img.cols; ++x) {
            if (a[x] == 0) continue;
            const double t = opacity * a[x] / 255.0;
            for (int c = 0; c < 3; ++c)
                dst[x][c] = cv::saturate_cast<uchar>(dst[x][c] * (1 - t) + src[x][c] * t);
        }
    }
}

// ---- the families ----

// A crop keeping a share of the area drawn from [lo, hi], labelled `name:<kept share>`.
EditStep crop_keeping(const cv::Mat& img, Rng& rng, double lo, double hi, const char* name) {
    const double area = uniform(rng, lo, hi);
    // Split the kept area between the axes, each axis keeping at least `area` (so the other stays <= 1).
    const double wf = std::clamp(std::sqrt(area) * uniform(rng, 0.85, 1.15), area, 1.0);
    const double hf = std::clamp(area / wf, area, 1.0);
    const int w = std::max(kMinSide, static_cast<int>(img.cols * wf));
    const int h = std::max(kMinSide, static_cast<int>(img.rows * hf));
    const int x = uniform_int(rng, 0, std::max(0, img.cols - w));
    const int y = uniform_int(rng, 0, std::max(0, img.rows - h));
    const cv::Rect roi = cv::Rect(x, y, w, h) & cv::Rect(0, 0, img.cols, img.rows);
    return {img(roi).clone(), name + (":" + fmt("%.2f", static_cast<double>(roi.area()) / img.size().area()))};
}

EditStep crop(const cv::Mat& img, Rng& rng) { return crop_keeping(img, rng, 0.40, 0.90, "crop"); }
EditStep crop_heavy(const cv::Mat& img, Rng& rng) { return crop_keeping(img, rng, 0.25, 0.50, "crop_heavy"); }

EditStep rescale(const cv::Mat& img, Rng& rng) {
    double s = chance(rng, 0.7) ? uniform(rng, 0.25, 0.8) : uniform(rng, 1.2, 2.0);
    s = std::max(s, static_cast<double>(kMinSide) / std::min(img.cols, img.rows));
    s = std::min(s, 2048.0 / std::max(img.cols, img.rows));
    const cv::Size size(std::max(1, static_cast<int>(img.cols * s)), std::max(1, static_cast<int>(img.rows * s)));
    return {resize_to(img, size), "rescale:" + fmt("%.2f", s)};
}

EditStep aspect(const cv::Mat& img, Rng& rng) {
    const double r = chance(rng, 0.5) ? uniform(rng, 0.6, 0.85) : uniform(rng, 1.2, 1.6);
    const bool horizontal = chance(rng, 0.5);
    cv::Size size = img.size();
    (horizontal ? size.width : size.height) = std::max(kMinSide, static_cast<int>((horizontal ? size.width : size.height) * r));
    return {resize_to(img, size), std::string(horizontal ? "aspect:x" : "aspect:y") + fmt("%.2f", r)};
}

EditStep jpeg(const cv::Mat& img, Rng& rng) {
    const int q = uniform_int(rng, 10, 50);
    const std::vector<std::uint8_t> bytes = encode_jpeg(img, q);
    return {cv::imdecode(bytes, cv::IMREAD_COLOR), "jpeg:q" + std::to_string(q)};
}

EditStep colour(const cv::Mat& img, Rng& rng) {
    cv::Mat hsv;
    cv::cvtColor(img, hsv, cv::COLOR_BGR2HSV);
    const double hue = chance(rng, 0.5) ? uniform(rng, -15, 15) : 0.0;         // OpenCV hue: 0..180
    const double sat = chance(rng, 0.7) ? uniform(rng, 0.3, 1.8) : 1.0;
    const double contrast = chance(rng, 0.7) ? uniform(rng, 0.6, 1.4) : 1.0;
    const double brightness = chance(rng, 0.7) ? uniform(rng, -45, 45) : uniform(rng, -10, 10);
    for (int y = 0; y < hsv.rows; ++y) {
        auto* p = hsv.ptr<cv::Vec3b>(y);
        for (int x = 0; x < hsv.cols; ++x) {
            p[x][0] = static_cast<uchar>((static_cast<int>(std::lround(p[x][0] + hue)) + 180) % 180);
            p[x][1] = cv::saturate_cast<uchar>(p[x][1] * sat);
        }
    }
    cv::Mat out;
    cv::cvtColor(hsv, out, cv::COLOR_HSV2BGR);
    out.convertTo(out, -1, contrast, brightness + 128 * (1 - contrast));
    return {out, "colour:h" + fmt("%.0f", hue) + "s" + fmt("%.2f", sat) + "c" + fmt("%.2f", contrast) + "b" +
                     fmt("%.0f", brightness)};
}

EditStep greyscale(const cv::Mat& img, Rng& rng) {
    cv::Mat grey, out;
    cv::cvtColor(img, grey, cv::COLOR_BGR2GRAY);
    cv::cvtColor(grey, out, cv::COLOR_GRAY2BGR);
    if (chance(rng, 0.3)) {  // sepia tone, the other "vintage" filter of photo apps
        out.forEach<cv::Vec3b>([](cv::Vec3b& p, const int*) {
            p = cv::Vec3b(cv::saturate_cast<uchar>(p[0] * 0.75), cv::saturate_cast<uchar>(p[1] * 0.9), p[2]);
        });
        return {out, "greyscale:sepia"};
    }
    return {out, "greyscale"};
}

EditStep blur_noise(const cv::Mat& img, Rng& rng) {
    cv::Mat out = img.clone();
    std::string label = "blur_noise:";
    const int kind = uniform_int(rng, 0, 2);  // 0 blur, 1 noise, 2 both
    if (kind != 1) {
        const double sigma = uniform(rng, 0.8, 3.0) * std::max(1.0, std::min(img.cols, img.rows) / 500.0);
        cv::GaussianBlur(out, out, cv::Size(), sigma);
        label += "b" + fmt("%.1f", sigma);
    }
    if (kind != 0) {
        const double sigma = uniform(rng, 4, 20);
        cv::Mat noise(out.size(), CV_16SC3);
        cv::RNG cv_rng(rng());
        cv_rng.fill(noise, cv::RNG::NORMAL, 0, sigma);
        cv::Mat sum;
        out.convertTo(sum, CV_16SC3);
        sum += noise;
        sum.convertTo(out, CV_8UC3);
        label += "n" + fmt("%.0f", sigma);
    }
    return {out, label};
}

EditStep text_overlay(const cv::Mat& img, Rng& rng) {
    cv::Mat out = img.clone();
    const int n = uniform_int(rng, 1, 3);
    for (int i = 0; i < n; ++i) {
        const std::string text = random_listing_text(rng);
        const int font = pick(rng, kFonts);
        const int thickness = std::max(1, static_cast<int>(out.cols / uniform(rng, 150, 300)));
        const double scale = font_scale_for_width(text, font, thickness, out.cols * uniform(rng, 0.25, 0.7));
        int baseline = 0;
        const cv::Size ts = cv::getTextSize(text, font, scale, thickness, &baseline);
        const int style = uniform_int(rng, 0, 2);  // 0 outlined text, 1 text on a filled box, 2 full-width banner
        const int x = uniform_int(rng, 0, std::max(0, out.cols - ts.width - 4));
        const int y = uniform_int(rng, ts.height + 4, std::max(ts.height + 4, out.rows - baseline - 4));
        const cv::Scalar fill = pick(rng, kBannerColours);
        if (style == 0) {
            const cv::Scalar outline = (fill[0] + fill[1] + fill[2] > 500) ? cv::Scalar(0, 0, 0) : cv::Scalar(255, 255, 255);
            outlined_text(out, text, {x, y}, font, scale, fill, outline, thickness);
        } else {
            const int pad = std::max(3, ts.height / 3);
            cv::Rect box = style == 1 ? cv::Rect(x - pad, y - ts.height - pad, ts.width + 2 * pad, ts.height + baseline + 2 * pad)
                                      : cv::Rect(0, y - ts.height - pad, out.cols, ts.height + baseline + 2 * pad);
            box &= cv::Rect(0, 0, out.cols, out.rows);
            const cv::Scalar back = fill[0] + fill[1] + fill[2] > 600 ? cv::Scalar(30, 30, 220) : fill;
            if (chance(rng, 0.5)) {
                cv::rectangle(out, box, back, cv::FILLED);
            } else {  // semi-opaque banner
                cv::Mat roi = out(box);
                cv::Mat solid(roi.size(), CV_8UC3, back);
                cv::addWeighted(roi, 0.3, solid, 0.7, 0, roi);
            }
            cv::putText(out, text, {style == 1 ? x : (out.cols - ts.width) / 2, y}, font, scale, cv::Scalar(255, 255, 255),
                        thickness, cv::LINE_AA);
        }
    }
    return {out, "text_overlay:" + std::to_string(n)};
}

// Price stickers, phone numbers and slogans on filled or half-opaque boxes, added until they cover the drawn
// share (20-40 %) of the photo, as resellers plaster a listing photo.
EditStep text_dense(const cv::Mat& img, Rng& rng) {
    cv::Mat out = img.clone();
    const double target = uniform(rng, 0.20, 0.40);
    cv::Mat covered = cv::Mat::zeros(out.size(), CV_8UC1);
    const double area = static_cast<double>(out.size().area());
    for (int attempt = 0; attempt < 60 && cv::countNonZero(covered) < target * area; ++attempt) {
        const std::string text = random_listing_text(rng);
        const int font = pick(rng, kFonts);
        const int thickness = std::max(1, static_cast<int>(out.cols / uniform(rng, 120, 250)));
        const double scale = font_scale_for_width(text, font, thickness, out.cols * uniform(rng, 0.2, 0.55));
        int baseline = 0;
        const cv::Size ts = cv::getTextSize(text, font, scale, thickness, &baseline);
        const int pad = std::max(3, ts.height / 3);
        const cv::Size box_size(ts.width + 2 * pad, ts.height + baseline + 2 * pad);
        const cv::Rect box = cv::Rect(uniform_int(rng, 0, std::max(0, out.cols - box_size.width)),
                                      uniform_int(rng, 0, std::max(0, out.rows - box_size.height)), box_size.width, box_size.height) &
                             cv::Rect(0, 0, out.cols, out.rows);
        if (box.area() <= 0) continue;
        const cv::Scalar back = pick(rng, kBannerColours);
        const bool light = back[0] + back[1] + back[2] > 500;
        cv::Mat roi = out(box);
        if (chance(rng, 0.6)) roi.setTo(back);
        else cv::addWeighted(roi, 0.35, cv::Mat(roi.size(), CV_8UC3, back), 0.65, 0, roi);
        cv::putText(out, text, {box.x + pad, box.y + pad + ts.height}, font, scale, light ? cv::Scalar(20, 20, 20) : cv::Scalar(255, 255, 255),
                    thickness, cv::LINE_AA);
        covered(box).setTo(255);
    }
    return {out, "text_dense:" + fmt("%.2f", cv::countNonZero(covered) / area)};
}

EditStep watermark(const cv::Mat& img, Rng& rng) {
    cv::Mat out = img.clone();
    const std::string text = chance(rng, 0.5) ? random_shop_name(rng) : "(c) " + random_shop_name(rng);
    const double opacity = uniform(rng, 0.2, 0.5);
    const cv::Scalar colour = chance(rng, 0.7) ? cv::Scalar(255, 255, 255) : cv::Scalar(40, 40, 40);
    const int style = uniform_int(rng, 0, 2);  // 0 tiled diagonal text, 1 one large text, 2 round logo stamp
    // Draw white on a mask larger than the image, rotate it, then blend the colour through it.
    const int diag = static_cast<int>(std::hypot(out.cols, out.rows)) + 2;
    cv::Mat mask = cv::Mat::zeros(diag, diag, CV_8UC1);
    const int font = pick(rng, kFonts);
    const int thickness = std::max(1, out.cols / 250);
    std::string label;
    if (style == 0) {
        const double scale = font_scale_for_width(text, font, thickness, out.cols * uniform(rng, 0.25, 0.4));
        int baseline = 0;
        const cv::Size ts = cv::getTextSize(text, font, scale, thickness, &baseline);
        const int step_x = ts.width + ts.height * 2;
        const int step_y = ts.height * uniform_int(rng, 3, 5);
        for (int y = step_y; y < diag; y += step_y)
            for (int x = ((y / step_y) % 2) * step_x / 2 - step_x; x < diag; x += step_x)
                cv::putText(mask, text, {x, y}, font, scale, 255, thickness, cv::LINE_AA);
        label = "watermark:tiled";
    } else if (style == 1) {
        const double scale = font_scale_for_width(text, font, thickness * 2, out.cols * uniform(rng, 0.6, 0.9));
        int baseline = 0;
        const cv::Size ts = cv::getTextSize(text, font, scale, thickness * 2, &baseline);
        cv::putText(mask, text, {(diag - ts.width) / 2, (diag + ts.height) / 2}, font, scale, 255, thickness * 2, cv::LINE_AA);
        label = "watermark:large";
    } else {
        const int r = static_cast<int>(std::min(out.cols, out.rows) * uniform(rng, 0.12, 0.22));
        const cv::Point c((diag - out.cols) / 2 + uniform_int(rng, r, out.cols - r),
                          (diag - out.rows) / 2 + uniform_int(rng, r, out.rows - r));
        cv::circle(mask, c, r, 255, std::max(2, r / 8), cv::LINE_AA);
        cv::circle(mask, c, r * 3 / 4, 255, std::max(1, r / 16), cv::LINE_AA);
        std::string initials = text.substr(text.rfind(' ') == std::string::npos ? 0 : text.rfind(' ') + 1, 2);
        for (char& ch : initials) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        const double scale = font_scale_for_width(initials, font, thickness * 2, r * 0.9);
        int baseline = 0;
        const cv::Size ts = cv::getTextSize(initials, font, scale, thickness * 2, &baseline);
        cv::putText(mask, initials, c + cv::Point(-ts.width / 2, ts.height / 2), font, scale, 255, thickness * 2, cv::LINE_AA);
        label = "watermark:logo";
    }
    if (style != 2) {
        const cv::Mat rot = cv::getRotationMatrix2D({diag / 2.0f, diag / 2.0f}, uniform(rng, 15, 45) * (chance(rng, 0.5) ? 1 : -1), 1.0);
        cv::warpAffine(mask, mask, rot, mask.size());
    }
    const cv::Mat alpha = mask(cv::Rect((diag - out.cols) / 2, (diag - out.rows) / 2, out.cols, out.rows));
    blend(out, cv::Mat(out.size(), CV_8UC3, colour), alpha, opacity);
    return {out, label + fmt("%.2f", opacity)};
}

EditStep mirror(const cv::Mat& img, Rng& rng) {
    cv::Mat out;
    const bool vertical = chance(rng, 0.1);  // upside-down mirrors are rare in listings
    cv::flip(img, out, vertical ? 0 : 1);
    return {out, vertical ? "mirror:y" : "mirror:x"};
}

EditStep rotate_small(const cv::Mat& img, Rng& rng) {
    const double angle = uniform(rng, 3, 15) * (chance(rng, 0.5) ? 1 : -1);
    const double rad = angle * CV_PI / 180;
    const double c = std::abs(std::cos(rad)), s = std::abs(std::sin(rad));
    const bool expand = chance(rng, 0.5);
    cv::Mat out;
    if (expand) {  // the whole photo, on a canvas grown to hold it
        const cv::Size size(static_cast<int>(img.cols * c + img.rows * s), static_cast<int>(img.cols * s + img.rows * c));
        cv::Mat rot = cv::getRotationMatrix2D({img.cols / 2.0f, img.rows / 2.0f}, angle, 1.0);
        rot.at<double>(0, 2) += (size.width - img.cols) / 2.0;
        rot.at<double>(1, 2) += (size.height - img.rows) / 2.0;
        const cv::Scalar fill = chance(rng, 0.6) ? cv::Scalar(255, 255, 255) : muted_colour(rng);
        cv::warpAffine(img, out, rot, size, cv::INTER_LINEAR, cv::BORDER_CONSTANT, fill);
    } else {  // rotated, then cropped to the largest centred rectangle free of corners
        cv::Mat rot = cv::getRotationMatrix2D({img.cols / 2.0f, img.rows / 2.0f}, angle, 1.0);
        cv::warpAffine(img, out, rot, img.size(), cv::INTER_LINEAR, cv::BORDER_REFLECT);
        const double k = 1.0 / (c + s * std::max(static_cast<double>(img.cols) / img.rows, static_cast<double>(img.rows) / img.cols));
        const int w = std::max(kMinSide, static_cast<int>(img.cols * k)), h = std::max(kMinSide, static_cast<int>(img.rows * k));
        out = out(cv::Rect((img.cols - w) / 2, (img.rows - h) / 2, w, h) & cv::Rect(0, 0, img.cols, img.rows)).clone();
    }
    return {out, "rotate_small:" + fmt("%.1f", angle) + (expand ? "e" : "c")};
}

EditStep rotate_90(const cv::Mat& img, Rng& rng) {
    static constexpr std::array<int, 3> kCodes = {cv::ROTATE_90_CLOCKWISE, cv::ROTATE_180, cv::ROTATE_90_COUNTERCLOCKWISE};
    static constexpr std::array<int, 3> kDegrees = {90, 180, 270};
    const int i = uniform_int(rng, 0, 2);
    cv::Mat out;
    cv::rotate(img, out, kCodes[static_cast<std::size_t>(i)]);
    return {out, "rotate_90:" + std::to_string(kDegrees[static_cast<std::size_t>(i)])};
}

EditStep perspective(const cv::Mat& img, Rng& rng) {
    const float w = static_cast<float>(img.cols), h = static_cast<float>(img.rows);
    const double amount = uniform(rng, 0.05, 0.2);
    const std::array<cv::Point2f, 4> src = {cv::Point2f(0, 0), cv::Point2f(w, 0), cv::Point2f(w, h), cv::Point2f(0, h)};
    std::array<cv::Point2f, 4> dst{};
    // Move corners inwards, as a photo of a screen or a tilted print looks.
    for (std::size_t i = 0; i < 4; ++i) {
        const float dx = static_cast<float>(uniform(rng, 0, amount) * w), dy = static_cast<float>(uniform(rng, 0, amount) * h);
        dst[i] = {src[i].x + (src[i].x == 0 ? dx : -dx), src[i].y + (src[i].y == 0 ? dy : -dy)};
    }
    const cv::Mat m = cv::getPerspectiveTransform(src.data(), dst.data());
    cv::Mat out;
    const cv::Scalar fill = chance(rng, 0.5) ? cv::Scalar(255, 255, 255) : muted_colour(rng);
    cv::warpPerspective(img, out, m, img.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, fill);
    return {out, "perspective:" + fmt("%.2f", amount)};
}

EditStep frame(const cv::Mat& img, Rng& rng) {
    const int style = uniform_int(rng, 0, 3);  // 0 plain border, 1 double line, 2 polaroid, 3 blurred square fill
    const int side = std::max(img.cols, img.rows);
    cv::Mat out;
    std::string label;
    if (style == 0 || style == 1) {
        const int b = std::max(3, static_cast<int>(side * uniform(rng, 0.03, 0.15)));
        const cv::Scalar colour = chance(rng, 0.5) ? pick(rng, kBannerColours) : random_colour(rng);
        cv::copyMakeBorder(img, out, b, b, b, b, cv::BORDER_CONSTANT, colour);
        if (style == 1) {
            const cv::Scalar inner = chance(rng, 0.5) ? cv::Scalar(255, 255, 255) : cv::Scalar(0, 215, 255);
            cv::rectangle(out, cv::Rect(b / 2, b / 2, out.cols - b, out.rows - b), inner, std::max(1, b / 6), cv::LINE_AA);
        }
        label = std::string(style == 0 ? "frame:border" : "frame:double") + std::to_string(b);
    } else if (style == 2) {
        const int b = std::max(4, static_cast<int>(side * uniform(rng, 0.04, 0.08)));
        cv::copyMakeBorder(img, out, b, b * 4, b, b, cv::BORDER_CONSTANT, cv::Scalar(250, 250, 250));
        label = "frame:polaroid";
    } else {  // the photo centred on a blurred, enlarged copy of itself: a square social-media post
        const cv::Size square(side, side);
        cv::Mat back = cover(img, square);
        cv::GaussianBlur(back, back, cv::Size(), side / 25.0 + 1);
        back.copyTo(out);
        img.copyTo(out(cv::Rect((side - img.cols) / 2, (side - img.rows) / 2, img.cols, img.rows)));
        label = "frame:blurfill";
    }
    return {out, label};
}

EditStep new_background(const cv::Mat& img, Rng& rng, const EditInputs& inputs) {
    const bool use_alpha = !inputs.object_alpha.empty() && inputs.object_alpha.size() == img.size();
    const double scale = uniform(rng, 0.4, 0.8);
    // The canvas: another photo or a flat/gradient colour, of a size near the original's.
    const double canvas_aspect = uniform(rng, 0.75, 1.33);
    const int cw = std::max(img.cols, img.rows);
    const cv::Size canvas_size(cw, std::max(kMinSide, static_cast<int>(cw / canvas_aspect)));
    const cv::Mat* other = chance(rng, 0.6) ? random_other(rng, inputs) : nullptr;
    cv::Mat canvas = other ? cover(*other, canvas_size) : plain_background(canvas_size, rng);
    // The product, scaled so it covers `scale` of the canvas's shorter extent.
    const double s = scale * std::min(static_cast<double>(canvas.cols) / img.cols, static_cast<double>(canvas.rows) / img.rows);
    const cv::Size ps(std::max(8, static_cast<int>(img.cols * s)), std::max(8, static_cast<int>(img.rows * s)));
    const cv::Mat product = resize_to(img, ps);
    const int x = uniform_int(rng, 0, canvas.cols - ps.width), y = uniform_int(rng, 0, canvas.rows - ps.height);
    const cv::Rect where(x, y, ps.width, ps.height);
    cv::Mat roi = canvas(where);
    if (use_alpha) {
        cv::Mat alpha = resize_to(inputs.object_alpha, ps);
        if (chance(rng, 0.5)) {  // a soft drop shadow under the cut-out
            cv::Mat shadow;
            cv::GaussianBlur(alpha, shadow, cv::Size(), std::max(2, ps.width / 40));
            const int off = std::max(2, ps.width / 50);
            cv::Mat shifted = cv::Mat::zeros(shadow.size(), shadow.type());
            shadow(cv::Rect(0, 0, shadow.cols - off, shadow.rows - off)).copyTo(shifted(cv::Rect(off, off, shadow.cols - off, shadow.rows - off)));
            blend(roi, cv::Mat(roi.size(), CV_8UC3, cv::Scalar(0, 0, 0)), shifted, 0.45);
        }
        blend(roi, product, alpha, 1.0);
    } else {
        product.copyTo(roi);
        if (chance(rng, 0.3)) cv::rectangle(canvas, where, cv::Scalar(255, 255, 255), std::max(2, ps.width / 60));
    }
    return {canvas, std::string("new_background:") + (use_alpha ? "cutout" : "rect") + (other ? "-photo" : "-plain") + fmt("%.2f", scale)};
}

EditStep collage(const cv::Mat& img, Rng& rng, const EditInputs& inputs) {
    // Layouts as cells in unit coordinates; the first cell of each layout is the largest.
    struct Cell { double x, y, w, h; };
    static const std::vector<std::vector<Cell>> kLayouts = {
        {{0, 0, 0.5, 1}, {0.5, 0, 0.5, 1}},                                               // 2 side by side
        {{0, 0, 1, 0.5}, {0, 0.5, 1, 0.5}},                                               // 2 stacked
        {{0, 0, 0.5, 0.5}, {0.5, 0, 0.5, 0.5}, {0, 0.5, 0.5, 0.5}, {0.5, 0.5, 0.5, 0.5}}, // 2x2
        {{0, 0, 0.66, 1}, {0.66, 0, 0.34, 0.5}, {0.66, 0.5, 0.34, 0.5}},                  // 1 large + 2 small
        {{0, 0, 1 / 3.0, 1}, {1 / 3.0, 0, 1 / 3.0, 1}, {2 / 3.0, 0, 1 / 3.0, 1}},         // 3 in a row
    };
    const std::size_t layout_index = static_cast<std::size_t>(uniform_int(rng, 0, static_cast<int>(kLayouts.size()) - 1));
    const auto& layout = kLayouts[layout_index];
    // A square or 4:3 canvas, as collage apps make; the original's cell holds it whole (letterboxed) when
    // the cell's aspect is far from the photo's, else filled with a light crop.
    const std::size_t mine = static_cast<std::size_t>(uniform_int(rng, 0, static_cast<int>(layout.size()) - 1));
    const int W = std::clamp(static_cast<int>(std::max(img.cols, img.rows) * uniform(rng, 1.1, 1.5)), 4 * kMinSide, 1600);
    const int H = chance(rng, 0.5) ? W : W * 3 / 4;
    const int gap = chance(rng, 0.7) ? std::max(2, W / 100) : 0;
    const cv::Scalar back = chance(rng, 0.7) ? cv::Scalar(255, 255, 255) : muted_colour(rng);
    cv::Mat canvas(H, W, CV_8UC3, back);
    for (std::size_t i = 0; i < layout.size(); ++i) {
        const Cell& c = layout[i];
        const cv::Rect r(static_cast<int>(c.x * W) + gap, static_cast<int>(c.y * H) + gap,
                         std::max(8, static_cast<int>(c.w * W) - 2 * gap), std::max(8, static_cast<int>(c.h * H) - 2 * gap));
        const cv::Rect cell = r & cv::Rect(0, 0, W, H);
        if (i == mine) {
            const double photo_aspect = static_cast<double>(img.cols) / img.rows;
            const double cell_aspect = static_cast<double>(cell.width) / cell.height;
            if (std::max(photo_aspect, cell_aspect) / std::min(photo_aspect, cell_aspect) > 1.3) {
                const cv::Mat fitted = fit_inside(img, cell.size());
                fitted.copyTo(canvas(cv::Rect(cell.x + (cell.width - fitted.cols) / 2, cell.y + (cell.height - fitted.rows) / 2,
                                              fitted.cols, fitted.rows)));
            } else {
                cover(img, cell.size()).copyTo(canvas(cell));
            }
            continue;
        }
        other_tile(cell.size(), rng, inputs).copyTo(canvas(cell));
    }
    return {canvas, "collage:" + std::to_string(layout.size()) + "t" + std::to_string(mine)};
}

// A grid of 4-9 equal tiles (2x2 to 3x3), the copy in one of them (filled with a light crop), the others
// other photos: the seller's "more pictures" board.
EditStep collage_dense(const cv::Mat& img, Rng& rng, const EditInputs& inputs) {
    static constexpr std::array<std::pair<int, int>, 4> kGrids = {{{2, 2}, {3, 2}, {2, 3}, {3, 3}}};
    const auto [columns, rows] = pick(rng, kGrids);
    const int tiles = columns * rows;
    const int mine = uniform_int(rng, 0, tiles - 1);
    const int W = std::clamp(static_cast<int>(std::max(img.cols, img.rows) * uniform(rng, 1.2, 1.8)), columns * kMinSide + 16, 1800);
    const int H = std::max(rows * kMinSide + 16, W * rows / columns * uniform_int(rng, 3, 4) / 4);
    const int gap = chance(rng, 0.7) ? std::max(2, W / 150) : 0;
    const cv::Scalar back = chance(rng, 0.7) ? cv::Scalar(255, 255, 255) : muted_colour(rng);
    cv::Mat canvas(H, W, CV_8UC3, back);
    for (int i = 0; i < tiles; ++i) {
        const int c = i % columns, r = i / columns;
        const cv::Rect cell = cv::Rect(c * W / columns + gap, r * H / rows + gap, W / columns - 2 * gap, H / rows - 2 * gap) &
                              cv::Rect(0, 0, W, H);
        if (i == mine) {
            cover(img, cell.size()).copyTo(canvas(cell));
            continue;
        }
        other_tile(cell.size(), rng, inputs).copyTo(canvas(cell));
    }
    return {canvas, "collage_dense:" + std::to_string(columns) + "x" + std::to_string(rows) + "t" + std::to_string(mine)};
}

// A phone shop-app product page drawn around the photo: status bar, title bar, photo, title, price, buttons.
EditStep screenshot(const cv::Mat& img, Rng& rng) {
    const int W = pick(rng, std::array<int, 3>{540, 720, 828});
    const double u = W / 720.0;  // layout unit: sizes below are for a 720-px-wide screen
    const auto px = [u](double v) { return std::max(1, static_cast<int>(v * u)); };
    const bool dark = chance(rng, 0.25);
    const cv::Scalar bg = dark ? cv::Scalar(24, 24, 24) : cv::Scalar(255, 255, 255);
    const cv::Scalar fg = dark ? cv::Scalar(235, 235, 235) : cv::Scalar(30, 30, 30);
    const cv::Scalar grey(140, 140, 140);
    const cv::Scalar accent = pick(rng, std::array<cv::Scalar, 5>{cv::Scalar(0, 90, 255), cv::Scalar(40, 40, 230),
                                                                  cv::Scalar(200, 120, 0), cv::Scalar(0, 150, 250),
                                                                  cv::Scalar(80, 160, 40)});
    const cv::Mat photo = fit_inside(img, {W, static_cast<int>(W * 1.25)});
    const int status_h = px(48), bar_h = px(96), below_h = px(560);
    const int H = status_h + bar_h + photo.rows + below_h;
    cv::Mat s(H, W, CV_8UC3, bg);
    const int font = cv::FONT_HERSHEY_SIMPLEX;
    // Status bar: clock, signal bars, battery.
    char clock[16];
    std::snprintf(clock, sizeof clock, "%d:%02d", uniform_int(rng, 1, 12), uniform_int(rng, 0, 59));
    cv::putText(s, clock, {px(24), px(34)}, font, 0.8 * u, fg, px(2), cv::LINE_AA);
    for (int i = 0; i < 4; ++i)
        cv::rectangle(s, cv::Rect(W - px(150) + i * px(10), px(34) - (i + 1) * px(5), px(6), (i + 1) * px(5)), fg, cv::FILLED);
    cv::rectangle(s, cv::Rect(W - px(90), px(14), px(50), px(22)), fg, px(2));
    cv::rectangle(s, cv::Rect(W - px(87), px(17), px(50 * uniform(rng, 0.2, 0.9)), px(16)), fg, cv::FILLED);
    cv::putText(s, std::to_string(uniform_int(rng, 10, 99)) + "%", {W - px(170) - px(60), px(34)}, font, 0.6 * u, fg, px(1), cv::LINE_AA);
    // Title bar: back arrow, title, cart icon.
    const int bar_y = status_h;
    cv::line(s, {px(40), bar_y + bar_h / 2}, {px(60), bar_y + bar_h / 2 - px(18)}, fg, px(4), cv::LINE_AA);
    cv::line(s, {px(40), bar_y + bar_h / 2}, {px(60), bar_y + bar_h / 2 + px(18)}, fg, px(4), cv::LINE_AA);
    cv::putText(s, pick(rng, std::array<std::string, 4>{"Product details", "Item", "Details", random_shop_name(rng)}),
                {px(100), bar_y + bar_h / 2 + px(12)}, font, 1.0 * u, fg, px(2), cv::LINE_AA);
    cv::rectangle(s, cv::Rect(W - px(80), bar_y + bar_h / 2 - px(16), px(40), px(28)), fg, px(3));
    cv::circle(s, {W - px(72), bar_y + bar_h / 2 + px(22)}, px(5), fg, cv::FILLED);
    cv::circle(s, {W - px(48), bar_y + bar_h / 2 + px(22)}, px(5), fg, cv::FILLED);
    // The photo, centred, with pagination dots under it.
    const int photo_y = status_h + bar_h;
    photo.copyTo(s(cv::Rect((W - photo.cols) / 2, photo_y, photo.cols, photo.rows)));
    const int dots = uniform_int(rng, 3, 7), active = uniform_int(rng, 0, dots - 1);
    for (int i = 0; i < dots; ++i)
        cv::circle(s, {W / 2 + (i - dots / 2) * px(22), photo_y + photo.rows + px(24)}, px(6), i == active ? accent : grey,
                   cv::FILLED, cv::LINE_AA);
    // Price, old price struck through, title lines, rating, then the two buttons at the bottom.
    int y = photo_y + photo.rows + px(100);
    const std::string price = random_price(rng);
    cv::putText(s, price, {px(24), y}, cv::FONT_HERSHEY_DUPLEX, 1.8 * u, accent, px(3), cv::LINE_AA);
    int baseline = 0;
    const cv::Size price_size = cv::getTextSize(price, cv::FONT_HERSHEY_DUPLEX, 1.8 * u, px(3), &baseline);
    const std::string old_price = random_price(rng);
    const cv::Size old_size = cv::getTextSize(old_price, font, 0.8 * u, px(1), &baseline);
    const int ox = px(24) + price_size.width + px(24);
    cv::putText(s, old_price, {ox, y}, font, 0.8 * u, grey, px(1), cv::LINE_AA);
    cv::line(s, {ox, y - old_size.height / 2}, {ox + old_size.width, y - old_size.height / 2}, grey, px(2));
    static constexpr std::array<std::string_view, 8> kTitleWords = {
        "Premium", "2024 New", "Original", "Luxury", "Genuine", "Fashion", "Hot Selling", "High Quality"};
    static constexpr std::array<std::string_view, 8> kProducts = {
        "leather handbag for women", "running shoes men", "wireless earbuds with case", "designer sunglasses UV400",
        "smart watch waterproof", "cotton t-shirt oversize", "kitchen knife set", "kids toy gift set"};
    y += px(60);
    cv::putText(s, std::string(pick(rng, kTitleWords)) + " " + std::string(pick(rng, kProducts)), {px(24), y}, font,
                0.85 * u, fg, px(2), cv::LINE_AA);
    y += px(44);
    cv::putText(s, "Free shipping - " + std::to_string(uniform_int(rng, 2, 9)) + "k sold", {px(24), y}, font, 0.7 * u,
                grey, px(1), cv::LINE_AA);
    y += px(50);
    for (int i = 0; i < 5; ++i) {  // rating stars as filled diamonds
        const cv::Point c(px(40) + i * px(36), y - px(8));
        const std::array<cv::Point, 4> star = {c + cv::Point(0, -px(13)), c + cv::Point(px(13), 0), c + cv::Point(0, px(13)),
                                               c + cv::Point(-px(13), 0)};
        cv::fillConvexPoly(s, star.data(), 4, i < 4 ? cv::Scalar(0, 190, 255) : grey, cv::LINE_AA);
    }
    cv::putText(s, fmt("%.1f", uniform(rng, 4.0, 5.0)) + " (" + std::to_string(uniform_int(rng, 12, 9999)) + ")",
                {px(230), y}, font, 0.7 * u, grey, px(1), cv::LINE_AA);
    const int btn_y = H - px(120), btn_h = px(88);
    cv::line(s, {0, btn_y - px(16)}, {W, btn_y - px(16)}, grey, 1);
    cv::rectangle(s, cv::Rect(px(24), btn_y, W / 2 - px(36), btn_h), cv::Scalar(0, 165, 255), cv::FILLED);
    cv::rectangle(s, cv::Rect(W / 2 + px(12), btn_y, W / 2 - px(36), btn_h), accent, cv::FILLED);
    cv::putText(s, "Add to cart", {px(60), btn_y + btn_h / 2 + px(12)}, font, 0.9 * u, cv::Scalar(255, 255, 255), px(2), cv::LINE_AA);
    cv::putText(s, "Buy now", {W / 2 + px(70), btn_y + btn_h / 2 + px(12)}, font, 0.9 * u, cv::Scalar(255, 255, 255), px(2), cv::LINE_AA);
    return {s, std::string("screenshot:") + (dark ? "dark" : "light") + std::to_string(W)};
}

// The order a seller applies edits in; a chain is sorted by it.
int stage(EditFamily f) {
    switch (f) {
        case EditFamily::new_background: return 0;
        case EditFamily::crop: return 1;
        case EditFamily::crop_heavy: return 1;
        case EditFamily::aspect: return 2;
        case EditFamily::rescale: return 3;
        case EditFamily::mirror: return 4;
        case EditFamily::rotate_90: return 5;
        case EditFamily::rotate_small: return 6;
        case EditFamily::perspective: return 7;
        case EditFamily::colour: return 8;
        case EditFamily::greyscale: return 9;
        case EditFamily::blur_noise: return 10;
        case EditFamily::collage: return 11;
        case EditFamily::collage_dense: return 11;
        case EditFamily::frame: return 12;
        case EditFamily::text_overlay: return 13;
        case EditFamily::text_dense: return 13;
        case EditFamily::watermark: return 14;
        case EditFamily::screenshot: return 15;
        case EditFamily::jpeg: return 16;
        case EditFamily::hard_negative: break;
    }
    return 17;
}

// Families that may join a chain as secondary edits: the light ones, which leave the primary's effect visible.
constexpr std::array<EditFamily, 11> kSecondary = {
    EditFamily::crop,  EditFamily::rescale,      EditFamily::jpeg,      EditFamily::colour,
    EditFamily::blur_noise, EditFamily::text_overlay, EditFamily::watermark, EditFamily::mirror,
    EditFamily::rotate_small, EditFamily::frame, EditFamily::aspect,
};

}  // namespace

std::string_view to_string(EditFamily family) noexcept {
    const auto i = static_cast<std::size_t>(family);
    return i < kFamilyNames.size() ? kFamilyNames[i] : std::string_view("unknown");
}

std::optional<EditFamily> edit_family_from_string(std::string_view name) noexcept {
    for (std::size_t i = 0; i < kFamilyNames.size(); ++i)
        if (kFamilyNames[i] == name) return static_cast<EditFamily>(i);
    return std::nullopt;
}

std::vector<std::uint8_t> encode_jpeg(const cv::Mat& bgr, int quality) {
    std::vector<std::uint8_t> out;
    if (!cv::imencode(".jpg", bgr, out, {cv::IMWRITE_JPEG_QUALITY, quality}))
        throw std::runtime_error("JPEG encode failed for a " + std::to_string(bgr.cols) + "x" + std::to_string(bgr.rows) + " image");
    return out;
}

EditStep apply_edit(EditFamily family, const cv::Mat& image, Rng& rng, const EditInputs& inputs) {
    if (image.empty() || image.type() != CV_8UC3) throw std::invalid_argument("apply_edit: image must be non-empty 8-bit BGR");
    switch (family) {
        case EditFamily::crop: return crop(image, rng);
        case EditFamily::rescale: return rescale(image, rng);
        case EditFamily::aspect: return aspect(image, rng);
        case EditFamily::jpeg: return jpeg(image, rng);
        case EditFamily::colour: return colour(image, rng);
        case EditFamily::greyscale: return greyscale(image, rng);
        case EditFamily::blur_noise: return blur_noise(image, rng);
        case EditFamily::text_overlay: return text_overlay(image, rng);
        case EditFamily::watermark: return watermark(image, rng);
        case EditFamily::mirror: return mirror(image, rng);
        case EditFamily::rotate_small: return rotate_small(image, rng);
        case EditFamily::rotate_90: return rotate_90(image, rng);
        case EditFamily::perspective: return perspective(image, rng);
        case EditFamily::frame: return frame(image, rng);
        case EditFamily::new_background: return new_background(image, rng, inputs);
        case EditFamily::collage: return collage(image, rng, inputs);
        case EditFamily::screenshot: return screenshot(image, rng);
        case EditFamily::crop_heavy: return crop_heavy(image, rng);
        case EditFamily::collage_dense: return collage_dense(image, rng, inputs);
        case EditFamily::text_dense: return text_dense(image, rng);
        case EditFamily::hard_negative: break;
    }
    throw std::invalid_argument("apply_edit: " + std::string(to_string(family)) + " is not an edit");
}

std::string EditedQuery::chain_text() const {
    std::string out;
    for (const auto& step : chain) out += (out.empty() ? "" : "+") + step;
    return out;
}

EditedQuery make_query(const cv::Mat& original, EditFamily primary, Rng& rng, const EditInputs& inputs, int max_chain) {
    if (primary == EditFamily::hard_negative) throw std::invalid_argument("make_query: hard_negative is not an edit");
    // 1, 2 or 3 edits with probabilities 0.4, 0.35, 0.25.
    const double r = uniform(rng, 0, 1);
    const int length = std::min(std::max(1, max_chain), r < 0.4 ? 1 : (r < 0.75 ? 2 : 3));
    std::vector<EditFamily> chain = {primary};
    while (static_cast<int>(chain.size()) < length) {
        const EditFamily f = pick(rng, kSecondary);
        if (std::find(chain.begin(), chain.end(), f) == chain.end()) chain.push_back(f);
    }
    std::stable_sort(chain.begin(), chain.end(), [](EditFamily a, EditFamily b) { return stage(a) < stage(b); });

    EditedQuery q;
    cv::Mat image = original;
    int final_quality = uniform_int(rng, 70, 95);
    for (const EditFamily f : chain) {
        EditInputs step_inputs = inputs;
        if (image.size() != original.size()) step_inputs.object_alpha = cv::Mat();  // the mask no longer lines up
        EditStep step = apply_edit(f, image, rng, step_inputs);
        image = std::move(step.image);
        q.chain.push_back(std::move(step.label));
    }
    // A low-quality jpeg edit is the last thing the seller's tool did: upload at that quality instead of twice.
    if (chain.back() == EditFamily::jpeg) final_quality = std::stoi(q.chain.back().substr(q.chain.back().find(":q") + 2));
    else q.chain.push_back("encode:q" + std::to_string(final_quality));
    q.jpeg = encode_jpeg(image, final_quality);
    q.image = cv::imdecode(q.jpeg, cv::IMREAD_COLOR);
    return q;
}

}  // namespace neardup::datasets
