// Signature throughput per stage, and the local-feature choice (ORB / AKAZE / SIFT) measured side by side
// on the same photos and edits in one run.
//
//   bench_signatures [--repeat N] [--json FILE] [DIR...]   (default: the Debian sample photo folders)
#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <opencv2/calib3d.hpp>
#include <opencv2/features2d.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <tbb/parallel_for.h>

#include "neardup/engine/decode.hpp"
#include "neardup/engine/pdq.hpp"
#include "neardup/engine/perceptual_hashes.hpp"
#include "neardup/engine/signature.hpp"
#include "neardup/indexer/image_files.hpp"

using namespace neardup;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Runs `work(i)` for every image `repeat` times on one thread; returns images per second.
double images_per_second(std::size_t n, int repeat, const std::function<void(std::size_t)>& work) {
    const auto t = Clock::now();
    for (int r = 0; r < repeat; ++r)
        for (std::size_t i = 0; i < n; ++i) work(i);
    return n * repeat / seconds_since(t);
}

// The edits a re-upload typically carries, applied to a decoded photo.
std::vector<std::pair<std::string, cv::Mat>> edited_copies(const cv::Mat& img) {
    std::vector<std::pair<std::string, cv::Mat>> out;
    const int w = img.cols, h = img.rows;
    out.emplace_back("crop 60%", img(cv::Rect(w / 5, h / 5, w * 3 / 5, h * 3 / 5)).clone());
    cv::Mat rotated;
    cv::rotate(img(cv::Rect(w / 10, 0, w * 8 / 10, h)), rotated, cv::ROTATE_90_CLOCKWISE);
    out.emplace_back("rotate 90 + crop", rotated);
    cv::Mat small;
    cv::resize(img, small, cv::Size(), 0.4, 0.4, cv::INTER_AREA);
    std::vector<std::uint8_t> jpeg;
    cv::imencode(".jpg", small, jpeg, {cv::IMWRITE_JPEG_QUALITY, 25});
    out.emplace_back("scale 0.4 + JPEG q25", cv::imdecode(jpeg, cv::IMREAD_COLOR));
    cv::Mat overlay = img.clone();
    cv::putText(overlay, "SALE $19.99", cv::Point(w / 10, h / 2), cv::FONT_HERSHEY_DUPLEX, w / 400.0, cv::Scalar(0, 0, 255),
                std::max(2, w / 200));
    cv::putText(overlay, "+1 555 0100", cv::Point(w / 8, h * 9 / 10), cv::FONT_HERSHEY_SIMPLEX, w / 600.0,
                cv::Scalar(255, 255, 255), std::max(2, w / 300));
    out.emplace_back("text overlay", overlay);
    cv::Mat canvas(h + h / 2, w + w / 2, CV_8UC3, cv::Scalar(40, 160, 220));
    cv::Mat inset;
    cv::resize(img, inset, cv::Size(), 0.7, 0.7, cv::INTER_AREA);
    inset.copyTo(canvas(cv::Rect(w / 8, h / 6, inset.cols, inset.rows)));
    out.emplace_back("new background 70%", canvas);
    return out;
}

int verified_inliers(const LocalFeatures& a, const LocalFeatures& b) {
    if (a.size() < 4 || b.size() < 4) return 0;
    cv::Mat da = a.descriptor_view(), db = b.descriptor_view();
    int norm = cv::NORM_HAMMING;
    if (a.kind == FeatureKind::sift) {
        da.convertTo(da, CV_32F);
        db.convertTo(db, CV_32F);
        norm = cv::NORM_L2;
    }
    std::vector<cv::DMatch> matches;
    cv::BFMatcher(norm, true).match(da, db, matches);
    if (matches.size() < 4) return 0;
    std::vector<cv::Point2f> pa, pb;
    for (const auto& m : matches) {
        pa.push_back(a.position(m.queryIdx));
        pb.push_back(b.position(m.trainIdx));
    }
    std::vector<unsigned char> mask;
    const cv::Mat hm = cv::findHomography(pa, pb, cv::RANSAC, 5.0, mask);
    return hm.empty() ? 0 : cv::countNonZero(mask);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"neardup signature benchmark"};
    std::vector<std::string> dirs = {"/usr/share/doc/libjs-jquery-backstretch/examples",
                                     "/usr/share/doc/libjs-jquery-slides/examples"};
    int repeat = 3;
    std::string json_path;
    app.add_option("dirs", dirs, "folders or files with photos");
    app.add_option("--repeat", repeat, "passes over the photos per stage")->check(CLI::PositiveNumber);
    app.add_option("--json", json_path, "also write the figures as JSON here");
    CLI11_PARSE(app, argc, argv);

    std::string command;
    for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);

    // Photos, without byte-identical repeats (the slides package ships some files twice).
    std::vector<std::vector<std::uint8_t>> files;
    std::set<std::vector<std::uint8_t>> seen;
    for (const auto& path : indexer::collect_image_files(dirs).files) {
        if (path.extension() != ".jpg" && path.extension() != ".jpeg") continue;  // photos, not UI icons
        auto bytes = indexer::read_file(path, 64u << 20);
        if (bytes && decode_image(bytes.value()).ok() && seen.insert(bytes.value()).second)
            files.push_back(std::move(bytes).value());
    }
    if (files.empty()) {
        std::cerr << "no photos found; run scripts/install-deps.sh\n";
        return 1;
    }
    std::vector<cv::Mat> full, reduced;
    double megapixels = 0;
    for (const auto& f : files) {
        full.push_back(decode_image(f).value().bgr);
        megapixels += full.back().total() / 1e6;
        reduced.push_back(downscale_to(full.back(), 512));
    }
    const std::size_t n = files.size();
    // The sample set ships resize ladders of one photo: pairs within 40 PDQ bits are the same photo, not a
    // false match. Different photos of the same object (the shoe series) stay in as hard negatives.
    std::vector<std::vector<bool>> same_photo(n, std::vector<bool>(n, false));
    {
        std::vector<Hash256> pdq(n);
        for (std::size_t i = 0; i < n; ++i) pdq[i] = pdq_hash(reduced[i]).hash;
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < n; ++j) same_photo[i][j] = hamming_distance(pdq[i], pdq[j]) <= 40;
    }

    std::cout << "# neardup signature benchmark\n\ncommand: `" << command << "`  \n"
              << "machine: " << std::thread::hardware_concurrency() << " hardware threads  \n"
              << "data: " << n << " distinct JPEG photos, mean " << megapixels / n << " MP, each stage " << repeat
              << " passes, single thread unless noted\n\n";

    nlohmann::ordered_json report = {{"command", command}, {"cores", std::thread::hardware_concurrency()}, {"images", n}};
    std::vector<std::pair<std::string, double>> stages;
    DecodeOptions reduced_decode;
    reduced_decode.min_long_side = 512;
    stages.emplace_back("decode, full size", images_per_second(n, repeat, [&](std::size_t i) { (void)decode_image(files[i]); }));
    stages.emplace_back("decode, DCT-reduced (long side >= 512)",
                        images_per_second(n, repeat, [&](std::size_t i) { (void)decode_image(files[i], reduced_decode); }));
    stages.emplace_back("PDQ (on <= 512 px)", images_per_second(n, repeat, [&](std::size_t i) { (void)pdq_hash(reduced[i]); }));
    stages.emplace_back("PDQ + 8 dihedral variants",
                        images_per_second(n, repeat, [&](std::size_t i) { (void)pdq_dihedral_hashes(reduced[i]); }));
    stages.emplace_back("pHash + average + block-mean (img_hash)", images_per_second(n, repeat, [&](std::size_t i) {
                            (void)phash64(reduced[i]);
                            (void)average_hash64(reduced[i]);
                            (void)block_mean_hash256(reduced[i]);
                        }));
    for (FeatureKind kind : {FeatureKind::orb, FeatureKind::akaze, FeatureKind::sift}) {
        FeatureOptions fo;
        fo.kind = kind;
        stages.emplace_back(std::string("local features: ") + std::string(to_string(kind)) + " (256 on 512 px)",
                            images_per_second(n, repeat, [&](std::size_t i) { (void)extract_local_features(reduced[i], fo); }));
    }
    const SignatureExtractor extractor;
    stages.emplace_back("whole signature from bytes (default options)",
                        images_per_second(n, repeat, [&](std::size_t i) { (void)extractor.compute(files[i]); }));
    {
        std::vector<std::span<const std::uint8_t>> inputs(files.begin(), files.end());
        const auto t = Clock::now();
        for (int r = 0; r < repeat; ++r) (void)extractor.compute_many(inputs);
        stages.emplace_back("whole signature, compute_many (oneTBB, all cores)", n * repeat / seconds_since(t));
    }
    const double baseline = stages.back().second;
    std::cout << "## Throughput per stage\n\n| stage | images/s | vs. whole signature on all cores |\n|---|---:|---:|\n";
    for (const auto& [name, rate] : stages) {
        std::cout << "| " << name << " | " << cv::format("%.1f", rate) << " | " << cv::format("%.2fx", rate / baseline) << " |\n";
        report["throughput"][name] = rate;
    }

    // Feature choice: inliers on edited copies vs. the best inlier count between different photos.
    std::cout << "\n## Local features: edited copies verified (RANSAC homography inliers)\n\n"
              << "Each photo is edited five ways and matched back to its original; false = the most inliers any pair "
                 "of different photos reached. Recall = copies above that false maximum.\n\n"
              << "| features | ms/image | bytes/image | mean inliers on copies | max inliers, different photos | recall above false max |\n"
              << "|---|---:|---:|---:|---:|---:|\n";
    for (FeatureKind kind : {FeatureKind::orb, FeatureKind::akaze, FeatureKind::sift}) {
        FeatureOptions fo;
        fo.kind = kind;
        std::vector<LocalFeatures> originals(n);
        const auto t = Clock::now();
        for (std::size_t i = 0; i < n; ++i) originals[i] = extract_local_features(reduced[i], fo);
        const double ms = seconds_since(t) * 1000 / n;
        double bytes = 0;
        for (const auto& f : originals) bytes += f.size() * (6.0 + descriptor_bytes(kind));
        std::vector<int> copy_inliers(n * 5, 0);
        tbb::parallel_for(std::size_t{0}, n, [&](std::size_t i) {
            const auto copies = edited_copies(reduced[i]);
            for (std::size_t c = 0; c < copies.size(); ++c)
                copy_inliers[i * 5 + c] = verified_inliers(extract_local_features(copies[c].second, fo), originals[i]);
        });
        int false_max = 0;
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = i + 1; j < n; ++j)
                if (!same_photo[i][j]) false_max = std::max(false_max, verified_inliers(originals[i], originals[j]));
        double mean = 0;
        int above = 0;
        for (int v : copy_inliers) {
            mean += v;
            above += v > false_max;
        }
        mean /= copy_inliers.size();
        const double recall = static_cast<double>(above) / copy_inliers.size();
        std::cout << "| " << to_string(kind) << " | " << cv::format("%.1f", ms) << " | " << cv::format("%.0f", bytes / n)
                  << " | " << cv::format("%.1f", mean) << " | " << false_max << " | " << cv::format("%.2f", recall) << " |\n";
        report["features"][std::string(to_string(kind))] = {{"ms_per_image", ms}, {"bytes_per_image", bytes / n},
                                                             {"mean_copy_inliers", mean}, {"max_false_inliers", false_max},
                                                             {"recall_above_false_max", recall}};
    }
    std::cout << "\nPairs within 40 PDQ bits (the resize ladders) are not counted as different photos; the seven "
                 "photos of one shoe are, as hard negatives.\n";
    if (!json_path.empty()) std::ofstream(json_path) << report.dump(2) << '\n';
    return 0;
}
