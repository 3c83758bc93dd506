#include "neardup/datasets/source_images.hpp"

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "neardup/engine/decode.hpp"
#include "neardup/engine/pdq.hpp"

namespace neardup::datasets {
namespace {

std::vector<std::string> split_tabs(const std::string& line) {
    std::vector<std::string> out;
    std::string field;
    std::istringstream in(line);
    while (std::getline(in, field, '\t')) out.push_back(field);
    if (!line.empty() && line.back() == '\t') out.emplace_back();
    return out;
}

std::optional<SourceRole> role_from_string(std::string_view s) {
    if (s == "photo") return SourceRole::photo;
    if (s == "cutout") return SourceRole::cutout;
    if (s == "distractor") return SourceRole::distractor;
    return std::nullopt;
}

cv::Mat cap_side(const cv::Mat& img, int max_side) {
    const int side = std::max(img.cols, img.rows);
    if (side <= max_side) return img;
    const double s = static_cast<double>(max_side) / side;
    cv::Mat out;
    cv::resize(img, out, cv::Size(std::max(1, static_cast<int>(img.cols * s)), std::max(1, static_cast<int>(img.rows * s))), 0, 0,
               cv::INTER_AREA);
    return out;
}

// The version of the package that installed a folder under /usr/share/doc/<package>, from dpkg's status file.
std::string installed_version(const std::string& package) {
    std::ifstream status("/var/lib/dpkg/status");
    std::string line;
    bool in_package = false;
    while (std::getline(status, line)) {
        if (line.rfind("Package: ", 0) == 0) in_package = line.substr(9) == package;
        else if (in_package && line.rfind("Version: ", 0) == 0) return line.substr(9);
    }
    return "unknown";
}

}  // namespace

std::string_view to_string(SourceRole role) noexcept {
    switch (role) {
        case SourceRole::photo: return "photo";
        case SourceRole::cutout: return "cutout";
        case SourceRole::distractor: return "distractor";
    }
    return "unknown";
}

std::vector<SourceEntry> read_sources_list(const std::filesystem::path& list) {
    std::ifstream in(list);
    if (!in) throw std::runtime_error("sources list " + list.string() + ": cannot be opened");
    std::vector<SourceEntry> out;
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (line.empty() || line[0] == '#') continue;
        const auto f = split_tabs(line);
        const std::string where = "sources list " + list.string() + " line " + std::to_string(number);
        if (f.size() != 6) throw std::runtime_error(where + ": expected 6 tab-separated fields, found " + std::to_string(f.size()));
        const auto role = role_from_string(f[3]);
        if (!role) throw std::runtime_error(where + ": unknown role '" + f[3] + "' (photo, cutout or distractor)");
        out.push_back({f[0], f[1], f[2], *role, f[4], f[5]});
    }
    return out;
}

void write_sources_list(const std::filesystem::path& list, const std::vector<SourceEntry>& entries) {
    std::ofstream out(list);
    out << "# package\tversion\tprefix\trole\tgroup\tpath\n";
    for (const auto& e : entries)
        out << e.package << '\t' << e.version << '\t' << e.prefix << '\t' << to_string(e.role) << '\t' << e.group << '\t'
            << e.path.string() << '\n';
    if (!out) throw std::runtime_error("sources list " + list.string() + ": write failed");
}

std::vector<SourceEntry> jquery_example_sources(const std::vector<std::filesystem::path>& folders) {
    std::vector<SourceEntry> out;
    for (const auto& folder : folders) {
        if (!std::filesystem::is_directory(folder)) continue;
        // /usr/share/doc/<package>/examples
        const std::string package = folder.parent_path().filename().string();
        const std::string version = installed_version(package);
        std::vector<std::filesystem::path> files;
        for (const auto& e : std::filesystem::recursive_directory_iterator(folder))
            if (e.is_regular_file() && e.path().extension() == ".jpg") files.push_back(e.path());
        std::sort(files.begin(), files.end());
        for (const auto& f : files) {
            const std::string name = f.filename().string();
            const bool shoe = name.rfind("1144953-", 0) == 0;
            out.push_back({package, version, "jq", SourceRole::photo, shoe ? "shoe" : "", f});
        }
    }
    return out;
}

LoadedSource load_source(const SourceEntry& entry, std::uint64_t seed) {
    cv::Mat raw = cv::imread(entry.path.string(), cv::IMREAD_UNCHANGED);
    if (raw.empty()) throw std::runtime_error("source " + entry.path.string() + ": cannot be read as an image");
    if (raw.depth() != CV_8U) {
        cv::Mat eight;
        raw.convertTo(eight, CV_8U, raw.depth() == CV_16U ? 1.0 / 257 : 1.0);
        raw = eight;
    }
    LoadedSource out;
    if (entry.role == SourceRole::cutout && raw.channels() == 4) {
        std::vector<cv::Mat> ch;
        cv::split(raw, ch);
        cv::Mat alpha = ch[3];
        cv::Rect box = cv::boundingRect(alpha > 16);
        if (box.area() == 0) box = cv::Rect(0, 0, raw.cols, raw.rows);
        // A margin around the object, as in a product shot; the studio background is a light, slightly warm
        // or cool grey so that flattened stamps are not all pure white (which would make them hash alike).
        std::mt19937_64 rng(seed);
        const int margin = static_cast<int>(std::max(box.width, box.height) * std::uniform_real_distribution<double>(0.06, 0.14)(rng));
        cv::Mat bgra = raw(box);
        cv::Mat padded;
        cv::copyMakeBorder(bgra, padded, margin, margin, margin, margin, cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0, 0));
        std::uniform_int_distribution<int> light(215, 255);
        const int base = light(rng);
        const cv::Scalar studio(std::min(255, base + std::uniform_int_distribution<int>(-8, 8)(rng)), base,
                                std::min(255, base + std::uniform_int_distribution<int>(-8, 8)(rng)));
        cv::Mat bgr(padded.size(), CV_8UC3, studio);
        // A vertical fall-off, brighter at the top, like a lit sweep.
        for (int y = 0; y < bgr.rows; ++y) bgr.row(y) -= cv::Scalar::all(18.0 * y / bgr.rows);
        std::vector<cv::Mat> pch;
        cv::split(padded, pch);
        cv::Mat colour;
        cv::merge(std::vector<cv::Mat>{pch[0], pch[1], pch[2]}, colour);
        for (int y = 0; y < bgr.rows; ++y)
            for (int x = 0; x < bgr.cols; ++x) {
                const double a = pch[3].at<uchar>(y, x) / 255.0;
                auto& d = bgr.at<cv::Vec3b>(y, x);
                const auto& s = colour.at<cv::Vec3b>(y, x);
                for (int c = 0; c < 3; ++c) d[c] = cv::saturate_cast<uchar>(d[c] * (1 - a) + s[c] * a);
            }
        out.bgr = cap_side(bgr, kSourceMaxSide);
        out.alpha = cap_side(pch[3], kSourceMaxSide);
        if (out.alpha.size() != out.bgr.size()) cv::resize(out.alpha, out.alpha, out.bgr.size());
        return out;
    }
    out.bgr = cap_side(to_canonical_bgr(raw), kSourceMaxSide);
    return out;
}

SourceStats measure_source(const SourceEntry& entry, const LoadedSource& loaded) {
    SourceStats s;
    s.width = loaded.bgr.cols;
    s.height = loaded.bgr.rows;
    const PdqDihedralHashes h = pdq_dihedral_hashes(loaded.bgr);
    s.pdq = h.hashes[0];
    s.pdq_dihedral = h.hashes;
    s.pdq_quality = h.quality;
    // Flatness on the object's pixels: a 3x3 neighbourhood whose max equals its min in every channel.
    cv::Mat img = loaded.bgr;
    cv::Mat mask = loaded.alpha.empty() ? cv::Mat(img.size(), CV_8UC1, cv::Scalar(255)) : (loaded.alpha > 200);
    if (entry.role == SourceRole::cutout) cv::erode(mask, mask, cv::Mat(), cv::Point(-1, -1), 2);
    const cv::Mat kernel = cv::Mat::ones(3, 3, CV_8U);
    cv::Mat mx, mn, range;
    cv::dilate(img, mx, kernel);
    cv::erode(img, mn, kernel);
    cv::absdiff(mx, mn, range);
    std::vector<cv::Mat> ch;
    cv::split(range, ch);
    cv::Mat total = ch[0] | ch[1] | ch[2];
    // Pure white or black pixels are the studio background of a product shot or clipped highlights and
    // shadows: flat in photos too, so they say nothing about drawings.
    cv::Mat grey;
    cv::cvtColor(img, grey, cv::COLOR_BGR2GRAY);
    mask &= (grey > 12) & (grey < 243);
    const double object = cv::countNonZero(mask);
    const double flat = cv::countNonZero((total == 0) & mask);
    s.flat_fraction = object > 0 ? flat / object : 1.0;
    return s;
}

ScreeningResult screen_sources(const std::vector<SourceEntry>& entries, const std::vector<SourceStats>& stats,
                               const ScreeningLimits& limits) {
    if (entries.size() != stats.size()) throw std::invalid_argument("screen_sources: entries and stats differ in length");
    ScreeningResult r;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const SourceStats& s = stats[i];
        if (std::min(s.width, s.height) < limits.min_side) { ++r.dropped_small; continue; }
        // Distractors (astrophotos) are black sky around the object: flat by nature, and never queried.
        if (entries[i].role != SourceRole::distractor && s.flat_fraction > limits.max_flat_fraction) { ++r.dropped_flat; continue; }
        if (s.pdq_quality < limits.min_pdq_quality) { ++r.dropped_low_quality; continue; }
        bool repeat = false;
        for (const std::size_t k : r.kept) {
            if (!entries[i].group.empty() && entries[i].group == entries[k].group) continue;
            for (const Hash256& v : s.pdq_dihedral)
                if (hamming_distance(v, stats[k].pdq) <= limits.duplicate_distance) { repeat = true; break; }
            if (repeat) break;
        }
        if (repeat) { ++r.dropped_duplicate; continue; }
        r.kept.push_back(i);
    }
    return r;
}

}  // namespace neardup::datasets
