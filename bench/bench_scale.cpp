// Search latency and resident memory per reference at a given index size, with synthetic references
// filling the index beyond the real ones (said so in the output).
//
//   bench_scale --size N --queries DIR [--references DIR] [--db DIR] [--max-queries Q]
//
// Synthetic references have random PDQ hashes and 256 random ORB keypoints and descriptors: they cost
// what a real reference costs in the catalog and the indexes, but attract fewer votes than real photos,
// so the verification work per query is that of the real references only.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

#include <CLI/CLI.hpp>
#include <opencv2/core.hpp>
#include <unistd.h>

#include "neardup/engine/signature_codec.hpp"
#include "neardup/indexer/image_files.hpp"
#include "neardup/indexer/index_job.hpp"
#include "neardup/store/store.hpp"

using namespace neardup;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

std::size_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5))];
}

store::PreparedAdd synthetic_reference(std::size_t i, std::mt19937_64& rng) {
    store::PreparedAdd p;
    Signature& s = p.signature;
    s.width = 1024;
    s.height = 768;
    for (auto& w : s.pdq.hash.words) w = rng();
    s.pdq.quality = 100;
    s.phash.bits = rng();
    s.average_hash.bits = rng();
    for (auto& w : s.block_mean.words) w = rng();
    s.features.kind = FeatureKind::orb;
    s.features.frame_width = 512;
    s.features.frame_height = 384;
    for (int k = 0; k < 256; ++k)
        s.features.keypoints.push_back({static_cast<std::uint16_t>(rng() % (512 * 16)), static_cast<std::uint16_t>(rng() % (384 * 16)),
                                        static_cast<std::uint8_t>(rng()), static_cast<std::uint8_t>(20 + rng() % 100)});
    s.features.descriptors.resize(256 * 32);
    for (auto& b : s.features.descriptors) b = static_cast<std::uint8_t>(rng());
    p.entry.key = "synthetic-" + std::to_string(i);
    for (auto& b : p.entry.sha256) b = static_cast<std::uint8_t>(rng());
    p.entry.width = s.width;
    p.entry.height = s.height;
    p.entry.signature = serialize(s);
    return p;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"neardup scale benchmark"};
    std::size_t size = 10000, max_queries = 200;
    std::string queries, references, db;
    app.add_option("--size", size, "references in the index (synthetic beyond the real ones)")->required();
    app.add_option("--queries", queries, "folder of query images")->required()->check(CLI::ExistingDirectory);
    app.add_option("--references", references, "folder of real reference images, indexed first");
    app.add_option("--db", db, "index directory (default bench-out/scale-<size>); reused when it holds <size> references");
    app.add_option("--max-queries", max_queries, "queries timed")->capture_default_str();
    store::StoreOptions open_options;
    app.add_option("--nprobe", open_options.descriptors.nprobe, "inverted lists probed per query descriptor")->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    std::string command;
    for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
    if (db.empty()) db = "bench-out/scale-" + std::to_string(size);

    double build_s = 0;
    std::size_t real = 0;
    {
        store::StoreOptions store_options = open_options;
        store_options.background_merges = false;  // bulk load, optimised at the end
        store::Store store(db, store_options);
        // A catalog without its snapshot (copied to try other index options) was just rebuilt: keep it.
        if (!store.stats().loaded_from_snapshot) store.save_snapshot();
        if (store.stats().active < static_cast<std::int64_t>(size)) {
            const auto t0 = Clock::now();
            if (!references.empty()) {
                const auto files = indexer::collect_image_files({references}).files;
                real = indexer::run_index_job(store, indexer::inputs_from_files(files, {}), {}, [](const auto&) {}).added;
            }
            std::mt19937_64 rng(1234);
            const auto active = static_cast<std::size_t>(store.stats().active);
            for (std::size_t i = active; i < size;) {
                std::vector<store::PreparedAdd> batch;
                for (; batch.size() < 1000 && i < size; ++i) batch.push_back(synthetic_reference(i, rng));
                store.commit(std::move(batch));
                if (i % 20000 == 0) std::cerr << "  " << i << " references\n";
            }
            store.optimise();
            store.save_snapshot();
            build_s = ms_since(t0) / 1000;
        }
    }
    // Resident memory of an opened index: measured around opening it from its snapshot in this process.
    const std::size_t before = resident_bytes();
    const auto open_start = Clock::now();
    const store::Store store(db, open_options);
    const double open_ms = ms_since(open_start);
    const std::size_t after = resident_bytes();
    const auto stats = store.stats();

    auto files = indexer::collect_image_files({queries}).files;
    if (files.size() > max_queries) files.resize(max_queries);
    std::vector<double> decode_ms, search_ms, total_ms;
    store::SearchOptions options;
    for (const auto& f : files) {
        const auto bytes = indexer::read_file(f, 64ull << 20);
        if (!bytes) continue;
        const auto t0 = Clock::now();
        auto q = store.extractor().compute_query(bytes.value());
        if (!q) continue;
        const double d = ms_since(t0);
        const auto t1 = Clock::now();
        (void)store.search(q.value(), options);
        const double s = ms_since(t1);
        decode_ms.push_back(d);
        search_ms.push_back(s);
        total_ms.push_back(d + s);
    }
    std::cout << "## neardup scale: " << stats.active << " references\n\n"
              << "command: `" << command << "`  \nmachine: " << std::thread::hardware_concurrency() << " hardware threads  \n"
              << "index: " << stats.active << " references (" << (real ? std::to_string(real) + " real, rest " : "")
              << "synthetic), " << stats.descriptor_entries << " indexed descriptors, opened in " << cv::format("%.0f", open_ms)
              << " ms from its snapshot" << (stats.loaded_from_snapshot ? "" : " (no snapshot: rebuilt from catalog)") << "\n\n"
              << "| figure | value |\n|---|---:|\n";
    if (build_s > 0) std::cout << cv::format("| build (real images + synthetic rows) | %.1f s |\n", build_s);
    std::cout << cv::format("| resident memory of the opened index | %.1f MiB = %.0f bytes per reference |\n", (after - before) / 1048576.0,
                            static_cast<double>(after - before) / std::max<std::int64_t>(1, stats.active))
              << cv::format("| queries timed | %zu |\n", search_ms.size())
              << cv::format("| search excluding decode, p50 / p95 / p99 | %.1f / %.1f / %.1f ms |\n", percentile(search_ms, 0.5),
                            percentile(search_ms, 0.95), percentile(search_ms, 0.99))
              << cv::format("| decode + query signature, p50 / p99 | %.1f / %.1f ms |\n", percentile(decode_ms, 0.5), percentile(decode_ms, 0.99))
              << cv::format("| whole query including decode, p50 / p99 | %.1f / %.1f ms |\n", percentile(total_ms, 0.5), percentile(total_ms, 0.99));
    return 0;
}
