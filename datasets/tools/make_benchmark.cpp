// neardup-make-benchmark: builds the offline counterfeit-edit benchmark from a sources list (or the CI set).
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <tbb/global_control.h>

#include "neardup/datasets/offline_benchmark.hpp"
#include "neardup/datasets/source_images.hpp"

namespace {

// The CI set's folders (Debian packages libjs-jquery-backstretch and libjs-jquery-slides).
const std::vector<std::filesystem::path> kJqueryExamples = {"/usr/share/doc/libjs-jquery-backstretch/examples",
                                                            "/usr/share/doc/libjs-jquery-slides/examples"};

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Builds the offline counterfeit-edit benchmark (references, edited queries, ground truth)."};
    std::filesystem::path sources_list, out = "bench-out/offline";
    bool small = false;
    int threads = 0;
    neardup::datasets::BenchmarkConfig config;
    app.add_option("--sources", sources_list, "tab-separated sources list (package version prefix role group path)");
    app.add_flag("--small", small, "use only the installed jquery example photos (no downloads); a CI-sized build");
    app.add_option("--out", out, "output folder (default bench-out/offline, with --small bench-out/small)");
    app.add_option("--seed", config.seed, "random seed")->capture_default_str();
    app.add_option("--queries", config.target_queries, "number of queries to aim for")->capture_default_str();
    app.add_option("--references", config.target_references, "most references to index")->capture_default_str();
    app.add_option("--hard-negative-variants", config.hard_negative_variants, "edited queries per hard-negative photo")
        ->capture_default_str();
    app.add_option("--tile-pool", config.tile_pool, "photos kept out of the index for collages and backgrounds")
        ->capture_default_str();
    app.add_option("--distractor-copies", config.distractor_copies,
                   "edited copies of each distractor reference, written to distractors/ (bench_quality --distractors)")
        ->check(CLI::Range(0, 99))->capture_default_str();
    app.add_option("--threads", threads, "worker threads (0: all cores)");
    std::filesystem::path review;
    app.add_option("--review", review, "only write contact sheets of kept and dropped sources to this folder");
    CLI11_PARSE(app, argc, argv);

    if (small == !sources_list.empty()) {
        std::fprintf(stderr, "neardup-make-benchmark: give either --sources FILE or --small\n");
        return 1;
    }
    for (int i = 0; i < argc; ++i) config.command += (i ? " " : "") + std::string(argv[i]);
    std::vector<neardup::datasets::SourceEntry> entries;
    try {
        if (small) {
            if (app.count("--out") == 0) out = "bench-out/small";  // never replaces the default build
            entries = neardup::datasets::jquery_example_sources(kJqueryExamples);
            if (entries.empty()) {
                std::fprintf(stderr, "neardup-make-benchmark: no photos under the jquery example folders; run scripts/install-deps.sh\n");
                return 1;
            }
            // Sized to the ~20 distinct CI photos: 3 queries per edit family.
            if (app.count("--queries") == 0) config.target_queries = 60;
            if (app.count("--hard-negative-variants") == 0) config.hard_negative_variants = 1;
            if (app.count("--tile-pool") == 0) config.tile_pool = 3;
        } else {
            entries = neardup::datasets::read_sources_list(sources_list);
        }
        std::unique_ptr<tbb::global_control> limit;
        if (threads > 0) limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, threads);
        if (!review.empty()) {
            neardup::datasets::write_review_sheets(entries, review, [](const std::string& line) { spdlog::info("{}", line); });
            return 0;
        }
        const auto summary = neardup::datasets::build_offline_benchmark(entries, config, out, [](const std::string& line) {
            spdlog::info("{}", line);
        });
        std::printf("%s: %zu references, %zu queries (%zu with their original indexed, %zu hard negatives)%s\n",
                    out.string().c_str(), summary.references, summary.queries, summary.in_index, summary.hard_negatives,
                    summary.up_to_date ? ", up to date" : "");
        for (const auto& [family, n] : summary.per_family) std::printf("  %-15s %d\n", family.c_str(), n);
        std::printf("  %zu references stored as thumbnails\n", summary.thumbnail_references);
        if (summary.distractor_copies) std::printf("  %zu distractor copies in distractors/\n", summary.distractor_copies);
        for (const auto& [split, n] : summary.per_split) std::printf("  split %-9s %d queries\n", split.c_str(), n);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "neardup-make-benchmark: %s\n", e.what());
        return 1;
    }
    return 0;
}
