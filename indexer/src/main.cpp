// The `neardup` command line: fingerprint images (and, as they land, index and query them).
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <tbb/global_control.h>

#include "neardup/engine/signature_codec.hpp"
#include "neardup/indexer/fingerprint_job.hpp"
#include "neardup/indexer/image_files.hpp"
#include "neardup/indexer/progress.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 1;
constexpr int kExitSomeFailed = 2;

std::string hex64(std::uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

nlohmann::ordered_json signature_json(const neardup::Signature& s, std::size_t serialized_bytes) {
    nlohmann::ordered_json j = {{"width", s.width},
                        {"height", s.height},
                        {"pdq", s.pdq.hash.to_hex()},
                        {"pdq_quality", s.pdq.quality},
                        {"phash", hex64(s.phash.bits)},
                        {"average_hash", hex64(s.average_hash.bits)},
                        {"block_mean", s.block_mean.to_hex()},
                        {"features", std::string(neardup::to_string(s.features.kind))},
                        {"keypoints", s.features.size()},
                        {"signature_bytes", serialized_bytes}};
    if (!s.pdq_dihedral.empty()) {
        auto& d = j["pdq_dihedral"] = nlohmann::ordered_json::array();
        for (const auto& h : s.pdq_dihedral) d.push_back(h.to_hex());
    }
    return j;
}

struct FingerprintArgs {
    std::vector<std::string> paths;
    bool dihedral = false;
    std::string features = "orb";
    int max_keypoints = 256;
    std::uint64_t max_pixels = neardup::DecodeOptions{}.max_pixels;
};

int run_fingerprint(const FingerprintArgs& args) {
    const auto list = neardup::indexer::collect_image_files(args.paths);
    for (const auto& m : list.missing) spdlog::error("no such file or directory: {}", m);
    if (list.files.empty()) {
        spdlog::error("no image files found in the given paths");
        return kExitUsage;
    }
    neardup::SignatureOptions options;
    options.dihedral = args.dihedral;
    options.decode.max_pixels = args.max_pixels;
    options.features.max_keypoints = args.max_keypoints;
    options.features.kind = args.features == "akaze" ? neardup::FeatureKind::akaze
                          : args.features == "sift"  ? neardup::FeatureKind::sift
                                                     : neardup::FeatureKind::orb;
    const neardup::SignatureExtractor extractor(options);

    neardup::indexer::Progress progress(list.files.size());
    std::size_t done = 0, failed = 0;
    neardup::indexer::run_fingerprint_job(list.files, extractor, {}, [&](neardup::indexer::FingerprintOutcome& o) {
        nlohmann::ordered_json line = {{"path", o.path.string()}};
        if (o.signature.ok()) {
            line.update(signature_json(o.signature.value(), neardup::serialize(o.signature.value()).size()));
        } else {
            ++failed;
            line["error"] = {{"code", std::string(neardup::to_string(o.signature.error().code))},
                             {"message", o.signature.error().message}};
        }
        progress.finish();
        std::cout << line.dump() << '\n';
        progress.advance(++done);
    });
    progress.finish();
    std::cout.flush();
    spdlog::info("fingerprinted {} of {} files in {:.2f} s ({:.1f} files/s), {} failed", done - failed, done,
                 progress.seconds(), done / std::max(progress.seconds(), 1e-9), failed);
    return failed + list.missing.size() > 0 ? kExitSomeFailed : kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
    spdlog::set_default_logger(spdlog::stderr_color_st("neardup"));
    spdlog::set_pattern("neardup: %^%l%$: %v");

    CLI::App app{"neardup: recognise edited copies of known product photos"};
    app.set_version_flag("--version", "neardup 0.1.0");
    app.require_subcommand(1);
    int threads = 0;
    app.add_option("--threads", threads, "worker threads (default: all cores)")->check(CLI::NonNegativeNumber);

    FingerprintArgs fp;
    auto* fingerprint = app.add_subcommand("fingerprint", "print the fingerprints of image files as JSON lines");
    fingerprint->add_option("paths", fp.paths, "image files or directories (searched recursively)")->required();
    fingerprint->add_flag("--dihedral", fp.dihedral, "also print the 8 rotated/mirrored PDQ variants");
    fingerprint->add_option("--features", fp.features, "local feature kind")
        ->check(CLI::IsMember({"orb", "akaze", "sift"}))->capture_default_str();
    fingerprint->add_option("--max-keypoints", fp.max_keypoints, "keypoints kept per image")
        ->check(CLI::Range(1, 4096))->capture_default_str();
    fingerprint->add_option("--max-pixels", fp.max_pixels, "refuse images with more pixels than this")
        ->check(CLI::PositiveNumber)->capture_default_str();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? kExitOk : kExitUsage;
    }
    std::unique_ptr<tbb::global_control> limit;
    if (threads > 0) limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, threads);
    try {
        if (*fingerprint) return run_fingerprint(fp);
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return kExitUsage;
    }
    return kExitUsage;
}
