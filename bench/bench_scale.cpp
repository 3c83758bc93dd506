// Search latency per stage and resident memory per reference at a given index size, with synthetic
// references filling the index beyond the real ones (said so in the output).
//
//   bench_scale --size N --queries DIR [--references DIR] [--distractors real|random] [--pool DIR] [--db DIR]
//               [--max-queries N] [--max-query-side PX]
//               [--compare none|early-exit|orientation-gate|regions|parallel-regions|shortlist|
//                          parallel-verification|wide-popcount|
//                          min-frame|parallel-signature|max-codes|vote-fraction|pdq-max-distance|pdq-far-candidates|
//                          pdq-exact-distance]
//               [--nprobe N] [--probe-groups N] [--max-codes N] [--shortlist N] [--vote-fraction F]
//               [--pdq-max-distance D] [--pdq-far-candidates N] [--pdq-far-distance D] [--pdq-exact-distance D]
//
// Each query is one Store::search of its bytes, as the server runs it; the stages come from the store's
// own SearchTrace. Resident memory is only meaningful when the index was built by an earlier run (a second
// run of the same command opens it from its snapshot).
//
// Synthetic references come in two kinds. `real` (the default): each of their 256 ORB features is drawn
// from a pool of features of real photos (up to 2048 per photo, every pyramid level, with their keypoint
// geometry) with a few bits flipped, and their PDQ is a real photo's with 32-96 bits flipped. Real ORB
// descriptors are clustered (corners, text, edges), so these crowd the inverted lists and draw votes as an
// archive of real photos does. `random`: uniformly random descriptors and PDQ hashes, which spread evenly
// over the lists and attract almost no votes: optimistic figures, kept to show the difference.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

#include <CLI/CLI.hpp>
#include <opencv2/core.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include "neardup/engine/hamming.hpp"
#include "neardup/engine/image_header.hpp"
#include "neardup/engine/signature_codec.hpp"
#include "neardup/indexer/image_files.hpp"
#include "neardup/indexer/index_job.hpp"
#include "neardup/store/store.hpp"

using namespace neardup;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// User + system CPU time of the whole process (every thread) so far.
double process_cpu_ms() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    const auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
    return ms(u.ru_utime) + ms(u.ru_stime);
}

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

// Features and PDQ hashes of real photos, the material `real` distractors are drawn from.
struct FeaturePool {
    std::vector<PackedKeypoint> keypoints;
    std::vector<std::uint8_t> descriptors;  // 32 bytes per keypoint
    std::vector<Hash256> pdq;
    std::size_t photos = 0;
};

FeaturePool build_pool(const std::string& dir) {
    SignatureOptions options;
    options.features.max_keypoints = 2048;
    const SignatureExtractor extractor(options);
    FeaturePool pool;
    for (const auto& f : indexer::collect_image_files({dir}).files) {
        const auto bytes = indexer::read_file(f, 64ull << 20);
        if (!bytes) continue;
        const auto s = extractor.compute(bytes.value());
        if (!s || s.value().features.size() == 0) continue;
        const auto& features = s.value().features;
        pool.keypoints.insert(pool.keypoints.end(), features.keypoints.begin(), features.keypoints.end());
        pool.descriptors.insert(pool.descriptors.end(), features.descriptors.begin(), features.descriptors.end());
        pool.pdq.push_back(s.value().pdq.hash);
        ++pool.photos;
    }
    return pool;
}

store::PreparedAdd synthetic_reference(std::size_t i, std::mt19937_64& rng, const FeaturePool* pool) {
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
    if (pool) {
        s.pdq.hash = pool->pdq[rng() % pool->pdq.size()];
        for (int f = 32 + static_cast<int>(rng() % 65); f > 0; --f) s.pdq.hash.words[rng() % 4] ^= std::uint64_t{1} << (rng() % 64);
        for (int k = 0; k < 256; ++k) {
            const std::size_t from = rng() % pool->keypoints.size();
            PackedKeypoint kp = pool->keypoints[from];
            kp.x = static_cast<std::uint16_t>(std::min<int>(kp.x, 512 * 16 - 1));
            kp.y = static_cast<std::uint16_t>(std::min<int>(kp.y, 384 * 16 - 1));
            s.features.keypoints.push_back(kp);
            const auto* d = &pool->descriptors[from * 32];
            s.features.descriptors.insert(s.features.descriptors.end(), d, d + 32);
            for (int f = static_cast<int>(rng() % 9); f > 0; --f)  // 0-8 bits: within ORB's own noise
                s.features.descriptors[k * 32 + rng() % 32] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        }
    } else {
        for (int k = 0; k < 256; ++k)
            s.features.keypoints.push_back({static_cast<std::uint16_t>(rng() % (512 * 16)), static_cast<std::uint16_t>(rng() % (384 * 16)),
                                            static_cast<std::uint8_t>(rng()), static_cast<std::uint8_t>(20 + rng() % 100)});
        s.features.descriptors.resize(256 * 32);
        for (auto& b : s.features.descriptors) b = static_cast<std::uint8_t>(rng());
    }
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
    std::string queries, references, db, distractors = "real", pool_dir;
    app.add_option("--size", size, "references in the index (synthetic beyond the real ones)")->required();
    app.add_option("--queries", queries, "folder of query images")->required()->check(CLI::ExistingDirectory);
    app.add_option("--references", references, "folder of real reference images, indexed first");
    app.add_option("--db", db, "index directory (default bench-out/scale-<size>); reused when it holds <size> references");
    app.add_option("--max-queries", max_queries, "queries timed")->capture_default_str();
    std::uint32_t max_query_side = 0;
    app.add_option("--max-query-side", max_query_side, "time only the queries whose longer side is at most this (0: all), e.g. thumbnails")
        ->capture_default_str();
    app.add_option("--distractors", distractors, "synthetic references: features of real photos, or uniformly random")
        ->check(CLI::IsMember({"real", "random"}))->capture_default_str();
    std::string compare = "none";
    app.add_option("--compare", compare,
                   "time every query also with this part off, alternately, on the same index (this machine is noisy)")
        ->check(CLI::IsMember({"none", "early-exit", "orientation-gate", "regions", "parallel-regions", "shortlist", "parallel-verification", "wide-popcount", "min-frame", "parallel-signature", "max-codes", "vote-fraction", "pdq-max-distance", "pdq-far-candidates", "pdq-exact-distance"}))->capture_default_str();
    app.add_option("--pool", pool_dir, "photos the real distractors draw features from (default: --references, else --queries)");
    store::StoreOptions open_options;
    app.add_option("--catalog", open_options.catalog, "a PostgreSQL catalog (postgresql:// URI) instead of catalog.sqlite in --db");
    app.add_option("--nprobe", open_options.descriptors.nprobe, "inverted lists probed per query descriptor")->capture_default_str();
    app.add_option("--probe-groups", open_options.descriptors.probe_groups, "vocabulary groups the probed words are chosen from")
        ->capture_default_str();
    app.add_option("--max-codes", open_options.descriptors.max_codes,
                   "inverted-list entries each query descriptor reads at most, nearest word first (0: no limit)")
        ->capture_default_str();
    app.add_option("--probe-margin", open_options.descriptors.probe_margin, "probe only words this many bits farther than the nearest (negative: all)")
        ->capture_default_str();
    app.add_option("--shortlist", open_options.descriptors.shortlist,
                   "entries per query descriptor kept on 64-bit short codes before the full distance (0: none)")
        ->capture_default_str();
    app.add_option("--vote-fraction", open_options.vote_fraction, "a voted candidate needs this fraction of the best one's votes")
        ->capture_default_str();
    app.add_option("--pdq-max-distance", open_options.pdq_max_distance, "PDQ neighbours farther than this are no candidates")
        ->capture_default_str();
    app.add_option("--pdq-exact-distance", open_options.pdq_exact_distance,
                   "PDQ neighbours found exactly up to this many bits (15, 31 or 47; compare: 47)")
        ->capture_default_str();
    app.add_option("--pdq-far-candidates", open_options.pdq_far_candidates,
                   "PDQ neighbours beyond --pdq-far-distance verified, nearest first (negative: all)")->capture_default_str();
    app.add_option("--pdq-far-distance", open_options.pdq_far_distance, "where far PDQ neighbours begin")->capture_default_str();
    app.add_option("--mirror-descriptors", open_options.mirror_vote_descriptors, "query descriptors voting in the mirrored pass")
        ->capture_default_str();
    app.add_option("--region-descriptors", open_options.region_vote_descriptors, "query descriptors voting in each region's search")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    std::string command;
    for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
    if (db.empty()) db = "bench-out/scale-" + distractors + "-" + std::to_string(size);
    if (pool_dir.empty()) pool_dir = references.empty() ? queries : references;

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
            FeaturePool pool;
            if (distractors == "real") {
                pool = build_pool(pool_dir);
                if (pool.keypoints.empty()) {
                    std::cerr << "no features in " << pool_dir << " to draw real distractors from\n";
                    return 1;
                }
                std::cerr << "  pool: " << pool.keypoints.size() << " features of " << pool.photos << " photos in " << pool_dir << "\n";
            }
            std::mt19937_64 rng(1234);
            const auto active = static_cast<std::size_t>(store.stats().active);
            for (std::size_t i = active; i < size;) {
                std::vector<store::PreparedAdd> batch;
                for (; batch.size() < 1000 && i < size; ++i) batch.push_back(synthetic_reference(i, rng, distractors == "real" ? &pool : nullptr));
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
    // With --compare, a second read-only view of the same index with that part off, so that both are
    // timed on the same queries in one run.
    std::unique_ptr<store::Store> other;
    if (compare != "none") {
        store::StoreOptions o = open_options;
        o.mode = store::OpenMode::read_only;
        if (compare == "early-exit") o.early_exit_pdq_distance = -1;
        if (compare == "orientation-gate") o.verify.orientation_bins = 0;
        if (compare == "regions") o.search_regions = false;
        if (compare == "parallel-regions") o.parallel_regions = false;
        if (compare == "shortlist") o.descriptors.shortlist = 0;
        if (compare == "parallel-verification") o.parallel_verification = false;
        if (compare == "min-frame") o.signature.features.min_frame_long_side = 0;
        if (compare == "parallel-signature") o.signature.parallel_query = false;
        if (compare == "max-codes") o.descriptors.max_codes = 0;
        if (compare == "vote-fraction") o.vote_fraction = store::StoreOptions{}.vote_fraction;
        if (compare == "pdq-max-distance") o.pdq_max_distance = store::StoreOptions{}.pdq_max_distance;
        if (compare == "pdq-far-candidates") o.pdq_far_candidates = -1;
        if (compare == "pdq-exact-distance") o.pdq_exact_distance = store::PdqIndex::kExactDistance;
        other = std::make_unique<store::Store>(db, o);
    }

    auto files = indexer::collect_image_files({queries}).files;
    if (max_query_side > 0)
        std::erase_if(files, [&](const std::filesystem::path& f) {
            const auto bytes = indexer::read_file(f, 64ull << 20);
            if (!bytes) return true;
            const auto header = probe_image_header(bytes.value());
            return !header || std::max(header.value().width, header.value().height) > max_query_side;
        });
    if (files.size() > max_queries) files.resize(max_queries);
    // Per query, one search as the server runs it (decode, signature, candidates, verification, and the
    // region pass when nothing matched), with the store's own stage timings (store::SearchTrace).
    struct Timings {
        std::vector<double> decode, signature, hashes, votes, verify, regions, whole, whole_match, whole_nomatch, cpu, repeat, verified, regions_searched,
            from_pdq, from_votes;
        int early_exits = 0;
    };
    const auto time_query = [&](const store::Store& s, const std::vector<std::uint8_t>& bytes, Timings& t) {
        store::SearchTrace trace;
        const double cpu0 = process_cpu_ms();
        const auto t0 = Clock::now();
        const auto hits = s.search(bytes, {}, &trace);
        const double whole = ms_since(t0);
        const double cpu = process_cpu_ms() - cpu0;
        if (!hits) return;
        t.decode.push_back(trace.decode * 1e3);
        t.signature.push_back(trace.signature * 1e3);
        t.hashes.push_back(trace.hashes * 1e3);
        t.votes.push_back(trace.votes * 1e3);
        t.verify.push_back(trace.verify * 1e3);
        t.regions.push_back(trace.regions * 1e3);
        t.verified.push_back(trace.verified);
        t.from_pdq.push_back(trace.from_pdq);
        t.from_votes.push_back(trace.from_votes);
        t.regions_searched.push_back(trace.regions_searched);
        t.early_exits += trace.early_exit;
        t.whole.push_back(whole);
        t.cpu.push_back(cpu);
        // The same bytes again: what the query cache saves on a re-upload.
        const auto t1 = Clock::now();
        if (s.search(bytes, {}).ok()) t.repeat.push_back(ms_since(t1));
        (trace.matched ? t.whole_match : t.whole_nomatch).push_back(whole);
    };
    Timings main_t, other_t;
    // wide-popcount: the same store, the scan on its portable path for the "off" column.
    const bool toggle_wide = compare == "wide-popcount";
    for (const auto& f : files) {
        const auto bytes = indexer::read_file(f, 64ull << 20);
        if (!bytes) continue;
        if (other) {
            detail::allow_wide_popcount(!toggle_wide);
            time_query(*other, bytes.value(), other_t);
            detail::allow_wide_popcount(true);
        }
        time_query(store, bytes.value(), main_t);
    }
    const auto p3 = [](const std::vector<double>& v) {
        return cv::format("%.1f / %.1f / %.1f ms", percentile(v, 0.5), percentile(v, 0.95), percentile(v, 0.99));
    };
    std::cout << "## neardup scale: " << stats.active << " references\n\n"
              << "command: `" << command << "`  \nmachine: " << std::thread::hardware_concurrency() << " hardware threads  \n"
              << "index: " << stats.active << " references (" << (real ? std::to_string(real) + " real, rest " : "")
              << "synthetic, " << distractors << " distractors), " << stats.descriptor_entries << " indexed descriptors in "
              << stats.segments << " segment(s), vocabulary of " << stats.vocabulary_words << " words, opened in "
              << cv::format("%.0f", open_ms) << " ms from its snapshot" << (stats.loaded_from_snapshot ? "" : " (no snapshot: rebuilt from catalog)")
              << "\n\n";
    std::cout << (other ? "| figure | " + compare + " off | on |\n|---|---:|---:|\n" : std::string("| figure | value |\n|---|---:|\n"));
    const auto row = [&](const char* name, const std::vector<double> Timings::*field) {
        std::cout << "| " << name << " | " << (other ? p3(other_t.*field) + " | " : "") << p3(main_t.*field) << " |\n";
    };
    const std::string blank = other ? " |" : "";
    if (build_s > 0)
        std::cout << cv::format("| build (real images + synthetic rows) | %.1f s = %.0f references/s |", build_s, size / build_s) << blank << "\n";
    // A process that built the index reuses the heap it freed, so opening it again there grows little.
    if (build_s > 0)
        std::cout << "| resident memory of the opened index | measured only by a run that reuses the index (this one built it) |"
                  << blank << "\n";
    else
        std::cout << cv::format("| resident memory of the opened index | %.1f MiB = %.0f bytes per reference |", (after - before) / 1048576.0,
                                static_cast<double>(after - before) / std::max<std::int64_t>(1, stats.active))
                  << blank << "\n";
    const auto counts = [](const Timings& t) {
        const auto mean = [](const std::vector<double>& v) {
            double m = 0;
            for (double x : v) m += x / static_cast<double>(std::max<std::size_t>(1, v.size()));
            return m;
        };
        return cv::format("%zu (%zu / %zu), %d early exits, %.1f verified (candidates from PDQ %.1f, from votes %.1f) and %.2f regions "
                          "searched per query",
                          t.whole.size(), t.whole_match.size(), t.whole_nomatch.size(), t.early_exits, mean(t.verified), mean(t.from_pdq),
                          mean(t.from_votes), mean(t.regions_searched));
    };
    std::cout << "| queries timed (matched / not matched) | " << (other ? counts(other_t) + " | " : "") << counts(main_t) << " |\n";
    row("decode, p50 / p95 / p99", &Timings::decode);
    row("query signatures (whole image and regions)", &Timings::signature);
    row("PDQ hash lookup", &Timings::hashes);
    row("descriptor candidate search", &Timings::votes);
    row("verification (catalog reads, matching, RANSAC)", &Timings::verify);
    row("region proposals", &Timings::regions);
    row("whole query including decode", &Timings::whole);
    row("... queries that matched", &Timings::whole_match);
    row("... queries that matched nothing", &Timings::whole_nomatch);
    row("CPU time per query (all threads; what a loaded server pays)", &Timings::cpu);
    row("the same bytes searched again (query cache)", &Timings::repeat);
    return 0;
}
