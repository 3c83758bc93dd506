// Quality of every method side by side on one benchmark, in one run: OpenCV pHash, PDQ, PDQ with its
// dihedral variants, and the neardup matcher (PDQ + ORB candidates, RANSAC verification, calibrated score).
// Also reports index build throughput and query latency (decode + signature, and search alone).
//
//   bench_quality --data DIR [--out DIR] [--max-queries N]
//   DIR holds references/, queries/, ground_truth.csv, queries.csv and hard_negatives.csv (datasets/README.md).
// Figures are for the test split (queries.csv); a default threshold is chosen on the train split and judged on
// test. The train split's report is written beside the test one (quality-train.*).
#include <algorithm>
#include <limits>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "neardup/bench/ground_truth_csv.hpp"
#include "neardup/bench/metrics.hpp"
#include "neardup/bench/report.hpp"
#include "neardup/bench/report_files.hpp"
#include "neardup/bench/report_markdown.hpp"
#include "neardup/bench/split.hpp"
#include "neardup/indexer/image_files.hpp"
#include "neardup/indexer/index_job.hpp"
#include "neardup/store/embedder_file.hpp"
#include "neardup/store/store.hpp"

using namespace neardup;
using Clock = std::chrono::steady_clock;

namespace {

// Decision thresholds of the baselines, from their own documentation: PDQ's reference suggests 31 bits of
// 256; for the 64-bit pHash, 8 bits is the common choice (an eighth of the bits, like PDQ's).
constexpr int kPdqMatchBits = 31;
constexpr int kPhashMatchBits = 8;
constexpr int kBaselineTop = 10;  // candidates per query kept for the baselines, as for the matcher
// How a default threshold is chosen on the train split: a round number with precision >= 0.995.
constexpr float kThresholdStep = 0.05f;
constexpr double kDefaultPrecision = 0.995;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5));
    return v[i];
}

struct RefHashes {
    std::string key;
    Hash256 pdq;
    Hash64 phash;
};

// The `top` references nearest by `distance`, as predictions scored 1 - distance / bits.
template <class Distance>
void nearest(const std::string& query_id, const std::vector<RefHashes>& refs, int bits, int match_bits, Distance distance,
             std::vector<bench::Prediction>& out) {
    std::vector<std::pair<int, std::size_t>> d(refs.size());
    for (std::size_t i = 0; i < refs.size(); ++i) d[i] = {distance(refs[i]), i};
    const std::size_t k = std::min<std::size_t>(kBaselineTop, d.size());
    std::partial_sort(d.begin(), d.begin() + k, d.end());
    for (std::size_t i = 0; i < k; ++i)
        out.push_back({query_id, refs[d[i].second].key, 1.0f - static_cast<float>(d[i].first) / bits, d[i].first <= match_bits});
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"neardup quality benchmark"};
    std::string data, out = "bench-out/quality";
    std::size_t max_queries = 0;
    app.add_option("--data", data, "benchmark folder")->required()->check(CLI::ExistingDirectory);
    app.add_option("--out", out, "report folder (the index is built in <out>/db)")->capture_default_str();
    app.add_option("--max-queries", max_queries, "evaluate only the first N queries (0 = all)");
    bool no_regions = false;
    app.add_flag("--no-regions", no_regions, "search whole images only (what the region pass costs and gives)");
    bool no_orientation_gate = false;
    app.add_flag("--no-orientation-gate", no_orientation_gate, "run RANSAC on every candidate with enough correspondences (the gate's baseline)");
    int orientation_window = VerifyOptions{}.orientation_window;
    app.add_option("--orientation-window", orientation_window, "angle bins (of 16) the orientation gate counts together")
        ->check(CLI::Range(1, 16))->capture_default_str();
    int orientation_min = VerifyOptions{}.orientation_min;
    app.add_option("--orientation-min", orientation_min, "correspondences the gate's best window needs")->capture_default_str();
    double min_thickness = VerifyOptions{}.min_inlier_thickness;
    app.add_option("--min-inlier-thickness", min_thickness,
                   "inliers in a thinner band (fraction of the frame's long side) verify only with the content agreeing (0: off)")
        ->capture_default_str();
    double thin_agreement = VerifyOptions{}.thin_agreement;
    app.add_option("--thin-agreement", thin_agreement, "content agreement a thin inlier band needs to verify")->capture_default_str();
    store::DescriptorIndexOptions descriptor_options;
    app.add_option("--nprobe", descriptor_options.nprobe, "vocabulary words whose lists each query descriptor scans")->capture_default_str();
    app.add_option("--max-codes", descriptor_options.max_codes,
                   "inverted-list entries each query descriptor reads at most, nearest word first (0: no limit)")
        ->capture_default_str();
    app.add_option("--probe-margin", descriptor_options.probe_margin, "probe only words this many bits farther than the nearest (negative: all)")
        ->capture_default_str();
    app.add_option("--probe-groups", descriptor_options.probe_groups, "vocabulary groups those words are chosen from")->capture_default_str();
    app.add_option("--shortlist", descriptor_options.shortlist,
                   "entries per query descriptor kept on 64-bit short codes before the full distance (0: none)")
        ->capture_default_str();
    const store::StoreOptions defaults;
    std::size_t mirror_descriptors = defaults.mirror_vote_descriptors, region_descriptors = defaults.region_vote_descriptors;
    app.add_option("--mirror-descriptors", mirror_descriptors, "query descriptors voting in the mirrored pass")->capture_default_str();
    app.add_option("--region-descriptors", region_descriptors, "query descriptors voting in each region's search")->capture_default_str();
    int min_frame = defaults.signature.features.min_frame_long_side;
    app.add_option("--min-frame", min_frame, "long side smaller images are upscaled to before detection (0: never)")->capture_default_str();
    int fine_long_side = defaults.signature.query_fine_long_side;
    app.add_option("--fine-long-side", fine_long_side, "long side of a query's finer feature frame (at most the coarse frame's: none)")
        ->capture_default_str();
    int fine_levels = defaults.signature.query_fine_levels;
    app.add_option("--fine-levels", fine_levels, "pyramid levels of a query's finer feature frame (0: only scales above the coarse frame)")
        ->capture_default_str();
    bool exact = false;
    app.add_flag("--exact-descriptors", exact, "exact descriptor search, no vocabulary (the candidate search's quality ceiling)");
    int shared_refs = store::StoreOptions{}.shared_inlier_references;
    app.add_option("--shared-inliers", shared_refs, "leave out query keypoints that are inliers of this many references (0: off)")
        ->capture_default_str();
    bool with_distractors = false;
    app.add_flag("--distractors", with_distractors,
                 "also index DIR/distractors/ (edited copies of the distractors: neardup-make-benchmark --distractor-copies)");
    std::string hits_csv;
    app.add_option("--hits-csv", hits_csv, "write every hit of the matcher (query, reference, score, evidence, truth) to this CSV");
    std::string embedder;
    int embedder_input = EmbedderOptions{}.input_side;
    app.add_option("--embedder", embedder, "an ONNX image-embedding model: the embedding channel on (index and queries)");
    app.add_option("--embedder-input", embedder_input, "the model's square input side in pixels")->capture_default_str();
    ScoreModel score = defaults.score;
    app.add_option("--embedding-center", score.embedding_center, "embedding similarity that alone scores 0.5")->capture_default_str();
    app.add_option("--embedding-width", score.embedding_width, "width of the embedding part's logistic curve")->capture_default_str();
    int embedding_neighbours = defaults.embedding_neighbours;
    app.add_option("--embedding-neighbours", embedding_neighbours, "references most similar by embedding verified per query")
        ->capture_default_str();
    double vote_fraction = defaults.vote_fraction;
    app.add_option("--vote-fraction", vote_fraction, "a voted candidate needs this fraction of the best one's votes")->capture_default_str();
    int pdq_max_distance = defaults.pdq_max_distance;
    app.add_option("--pdq-max-distance", pdq_max_distance, "PDQ neighbours farther than this are no candidates")->capture_default_str();
    int pdq_far_candidates = defaults.pdq_far_candidates, pdq_far_distance = defaults.pdq_far_distance;
    int pdq_exact_distance = defaults.pdq_exact_distance;
    std::size_t pdq_table_rows = defaults.pdq_table_rows;
    app.add_option("--pdq-table-rows", pdq_table_rows, "a segment of at least this many references searches PDQ through hash tables")
        ->capture_default_str();
    app.add_option("--pdq-exact-distance", pdq_exact_distance, "PDQ neighbours found exactly up to this many bits (15, 31 or 47)")
        ->capture_default_str();
    app.add_option("--pdq-far-candidates", pdq_far_candidates, "PDQ neighbours beyond --pdq-far-distance verified (negative: all)")
        ->capture_default_str();
    app.add_option("--pdq-far-distance", pdq_far_distance, "where far PDQ neighbours begin")->capture_default_str();
    bool reuse_index = false;
    app.add_flag("--reuse-index", reuse_index,
                 "search the index a previous run left in <out>/db instead of rebuilding it (for query-side options only)");
    bool no_early_exit = false;
    app.add_flag("--no-early-exit", no_early_exit, "no early exit for near-exact PDQ copies");
    CLI11_PARSE(app, argc, argv);
    std::string command;
    for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
    const std::filesystem::path dir(data);

    const auto hard = dir / "hard_negatives.csv";
    auto truth = bench::read_benchmark_truth(dir / "ground_truth.csv", dir / "queries.csv",
                                             std::filesystem::exists(hard) ? std::optional(hard) : std::nullopt);
    if (!truth) {
        std::cerr << truth.error().message << '\n';
        return 1;
    }
    bench::BenchmarkTruth t = truth.value();
    // References archived as thumbnails (the manifest lists them) get their own row in the family tables.
    if (std::ifstream manifest(dir / "manifest.json"); manifest) {
        const auto m = nlohmann::json::parse(manifest, nullptr, false);
        if (!m.is_discarded() && m.contains("thumbnail_references"))
            for (const auto& id : m["thumbnail_references"]) t.thumbnail_references.insert(id.get<std::string>());
    }

    // Index the references from scratch.
    const std::filesystem::path db = std::filesystem::path(out) / "db";
    if (reuse_index && !std::filesystem::is_directory(db)) {
        std::cerr << db.string() << " is missing: --reuse-index needs an earlier run with the same --out\n";
        return 1;
    }
    if (!reuse_index) std::filesystem::remove_all(db);
    std::filesystem::create_directories(out);
    store::StoreOptions store_options;
    if (!embedder.empty()) {
        EmbedderOptions options;
        options.input_side = embedder_input;
        auto model = store::load_embedder_file(embedder, options);
        if (!model) {
            std::cerr << "--embedder: " << model.error().message << '\n';
            return 2;
        }
        store_options.signature.embedder = model.value();
    }
    store_options.score = score;
    store_options.embedding_neighbours = embedding_neighbours;
    store_options.vote_fraction = vote_fraction;
    store_options.pdq_max_distance = pdq_max_distance;
    store_options.pdq_far_candidates = pdq_far_candidates;
    store_options.pdq_exact_distance = pdq_exact_distance;
    store_options.pdq_table_rows = pdq_table_rows;
    store_options.pdq_far_distance = pdq_far_distance;
    store_options.background_merges = false;  // bulk load, optimised at the end as `neardup index` does
    store_options.search_regions = !no_regions;
    store_options.descriptors = descriptor_options;
    store_options.mirror_vote_descriptors = mirror_descriptors;
    store_options.signature.query_fine_levels = fine_levels;
    store_options.signature.query_fine_long_side = fine_long_side;
    store_options.signature.features.min_frame_long_side = min_frame;
    store_options.region_vote_descriptors = region_descriptors;
    if (exact) store_options.descriptors.ivf_threshold = std::numeric_limits<std::size_t>::max();
    if (no_early_exit) store_options.early_exit_pdq_distance = -1;
    store_options.shared_inlier_references = shared_refs;
    if (no_orientation_gate) store_options.verify.orientation_bins = 0;
    store_options.verify.orientation_window = orientation_window;
    store_options.verify.orientation_min = orientation_min;
    store_options.verify.min_inlier_thickness = min_thickness;
    store_options.verify.thin_agreement = thin_agreement;
    store::Store store(db, store_options);
    std::vector<std::string> reference_dirs{(dir / "references").string()};
    if (with_distractors) {
        if (!std::filesystem::is_directory(dir / "distractors")) {
            std::cerr << (dir / "distractors").string() << " is missing: build the benchmark with -- --distractor-copies N\n";
            return 1;
        }
        reference_dirs.push_back((dir / "distractors").string());
    }
    const auto ref_files = indexer::collect_image_files(reference_dirs).files;
    const auto index_start = Clock::now();
    const auto summary = reuse_index ? indexer::IndexSummary{}
                                     : indexer::run_index_job(store, indexer::inputs_from_files(ref_files, {}), {}, [](const auto&) {});
    const double index_s = ms_since(index_start) / 1000;
    std::cerr << "indexed " << summary.added << " references (" << summary.failed << " failed) in " << index_s << " s\n";

    std::vector<RefHashes> refs;
    for (const auto& f : ref_files)
        if (auto s = store.signature(f.stem().string())) refs.push_back({f.stem().string(), s->pdq.hash, s->phash});

    auto query_files = indexer::collect_image_files({(dir / "queries").string()}).files;
    if (max_queries > 0 && query_files.size() > max_queries) {
        query_files.resize(max_queries);
        std::vector<std::string> kept;
        for (const auto& f : query_files) kept.push_back(f.stem().string());
        // Keep the ground truth to the evaluated queries, so recall is not charged for queries never asked.
        auto& gt = t.ground_truth;
        std::erase_if(gt.pairs, [&](const auto& p) { return std::find(kept.begin(), kept.end(), p.query_id) == kept.end(); });
        std::erase_if(gt.query_ids, [&](const auto& q) { return std::find(kept.begin(), kept.end(), q) == kept.end(); });
    }
    bench::MethodPredictions phash{"phash (OpenCV)", {}}, pdq{"pdq", {}}, pdq_dihedral{"pdq + dihedral", {}},
        matcher{"neardup (pdq + orb + ransac)", {}};
    std::vector<double> signature_ms, search_ms;
    std::size_t failed_queries = 0;
    store::SearchOptions options;
    options.top = kBaselineTop;
    std::vector<std::pair<std::string, store::SearchHit>> all_hits;
    for (std::size_t i = 0; i < query_files.size(); ++i) {
        const std::string qid = query_files[i].stem().string();
        const auto bytes = indexer::read_file(query_files[i], 64ull << 20);
        if (!bytes) { ++failed_queries; continue; }
        auto t0 = Clock::now();
        const auto decoded = store.extractor().decode_query(bytes.value());
        signature_ms.push_back(ms_since(t0));
        if (!decoded) { ++failed_queries; continue; }
        t0 = Clock::now();
        const auto hits = store.search_image(decoded.value(), options);
        search_ms.push_back(ms_since(t0));
        // The baselines hash the whole image, as they would in production.
        const auto q = store.extractor().compute_query(decoded.value().bgr, decoded.value().width, decoded.value().height);
        for (const auto& h : hits) {
            matcher.predictions.push_back({qid, h.key, static_cast<float>(h.score), h.match});
            all_hits.push_back({qid, h});
        }
        const Signature& s = q.signature;
        nearest(qid, refs, 64, kPhashMatchBits, [&](const RefHashes& r) { return hamming_distance(s.phash, r.phash); }, phash.predictions);
        nearest(qid, refs, 256, kPdqMatchBits, [&](const RefHashes& r) { return hamming_distance(s.pdq.hash, r.pdq); }, pdq.predictions);
        nearest(qid, refs, 256, kPdqMatchBits, [&](const RefHashes& r) {
            int best = 256;
            for (const auto& v : s.pdq_dihedral) best = std::min(best, hamming_distance(v, r.pdq));
            return best;
        }, pdq_dihedral.predictions);
        if ((i + 1) % 100 == 0) std::cerr << "queried " << (i + 1) << "/" << query_files.size() << "\n";
    }

    // Every figure is reported on the test split; the train split is where thresholds are chosen (queries.csv).
    const bench::BenchmarkTruth test_truth = bench::truth_of_split(t, bench::kTestSplit);
    const bench::BenchmarkTruth train_truth = bench::truth_of_split(t, bench::kTrainSplit);
    if (test_truth.ground_truth.pairs.empty() || train_truth.ground_truth.pairs.empty()) {
        std::cerr << "the evaluated queries leave a split without any true pair (train " << train_truth.ground_truth.pairs.size()
                  << ", test " << test_truth.ground_truth.pairs.size() << "); evaluate more queries\n";
        return 1;
    }
    const auto make_report = [&](const bench::BenchmarkTruth& split, std::string_view name) {
        bench::Report r;
        r.title = "neardup quality (" + std::string(name) + " split)";
        r.dataset = dir.filename().string() + ": " + std::to_string(refs.size()) + " references indexed, " +
                    std::to_string(split.ground_truth.query_ids.size()) + " of " + std::to_string(query_files.size()) +
                    " queries (the " + std::string(name) + " split)";
        r.command = command;
        r.machine = std::to_string(std::thread::hardware_concurrency()) + " hardware threads";
        for (auto* m : {&phash, &pdq, &pdq_dihedral, &matcher}) r.methods.push_back(bench::evaluate(split, bench::predictions_of(split, *m)));
        return r;
    };
    const bench::Report report = make_report(test_truth, bench::kTestSplit);
    const bench::Report train_report = make_report(train_truth, bench::kTrainSplit);
    const auto files = bench::write_report_files(report, out, "quality");
    const auto train_files = bench::write_report_files(train_report, out, "quality-train");
    if (!files || !train_files) {
        std::cerr << (files ? train_files.error() : files.error()).message << '\n';
        return 1;
    }
    std::cout << bench::report_to_markdown(report) << "\n";
    // A threshold fit to be a default, chosen where tuning is allowed, then judged where it is not.
    std::cout << cv::format("## Threshold chosen on train (lowest multiple of %.2f with precision >= %.3f), judged on test\n\n",
                            kThresholdStep, kDefaultPrecision)
              << "| method | threshold | train precision / recall | test precision / recall | test false matches |\n"
              << "|---|---:|---:|---:|---:|\n";
    for (std::size_t m = 0; m < report.methods.size(); ++m) {
        const auto& on_train = train_report.methods[m];
        const auto chosen = bench::grid_threshold_for_precision(on_train, kDefaultPrecision, kThresholdStep);
        if (!chosen) {
            std::cout << "| " << on_train.method << " | none reaches it | | | |\n";
            continue;
        }
        const bench::PrPoint a = bench::point_at_threshold(on_train, *chosen), b = bench::point_at_threshold(report.methods[m], *chosen);
        std::cout << cv::format("| %s | %.2f | %.4f / %.4f | %.4f / %.4f | %zu |\n", on_train.method.c_str(), *chosen, a.precision,
                                a.recall, b.precision, b.recall, b.predictions - b.true_positives);
    }
    // Every false match of the matcher's own decision on test, named, so each can be looked at.
    {
        std::set<std::pair<std::string, std::string>> truth_pairs;
        for (const auto& p : test_truth.ground_truth.pairs) truth_pairs.emplace(p.query_id, p.reference_id);
        std::map<std::string, std::string> family_of;
        for (const auto& q : test_truth.queries) family_of[q.query_id] = q.family;
        std::cout << "\n## The matcher's false matches on test\n\n| query | family | reference | score |\n|---|---|---|---:|\n";
        for (const auto& p : bench::predictions_of(test_truth, matcher).predictions)
            if (p.match && !truth_pairs.count({p.query_id, p.reference_id}))
                std::cout << cv::format("| %s | %s | %s | %.3f |\n", p.query_id.c_str(), family_of[p.query_id].c_str(),
                                        p.reference_id.c_str(), p.score);
    }
    if (!hits_csv.empty()) {
        std::set<std::pair<std::string, std::string>> truth_pairs;
        for (const auto& p : t.ground_truth.pairs) truth_pairs.emplace(p.query_id, p.reference_id);
        std::map<std::string, const bench::QueryInfo*> info;
        for (const auto& q : t.queries) info[q.query_id] = &q;
        std::ofstream csv(hits_csv);
        // embedding_similarity: empty without --embedder (the evidence to fit the embedding part's curve on).
        csv << "query,split,family,reference,score,match,inliers,pdq_distance,agreement,thickness,embedding_similarity,"
               "correspondences,residual,anisotropy,reference_coverage,query_coverage,shared_inliers,from_region,mirrored,true_pair\n";
        for (const auto& [qid, h] : all_hits) {
            const auto it = info.find(qid);
            csv << qid << ',' << (it != info.end() ? it->second->split : "") << ',' << (it != info.end() ? it->second->family : "") << ','
                << h.key << ',' << h.score << ',' << h.match << ',' << h.inliers << ',' << h.pdq_distance << ',' << h.agreement << ',' << h.thickness << ','
                << (h.embedding_similarity ? std::to_string(*h.embedding_similarity) : std::string()) << ',' << h.correspondences << ','
                << h.residual << ',' << h.anisotropy << ',' << h.reference_coverage << ',' << h.query_coverage << ',' << h.shared_inliers << ','
                << h.from_region << ',' << h.mirrored << ',' << truth_pairs.count({qid, h.key})
                << '\n';
        }
        std::cerr << "hits: " << hits_csv << '\n';
    }
    std::cout << "\nThe train split's own report: " << train_files.value().markdown.string() << "\n\n";
    std::cout << "## Speed (same run)\n\n| figure | value |\n|---|---:|\n"
              << cv::format("| references indexed | %zu in %.1f s = %.1f images/s (2 cores) |\n", summary.added, index_s, summary.added / index_s)
              << cv::format("| query decode, p50 / p95 / p99 | %.1f / %.1f / %.1f ms |\n", percentile(signature_ms, 0.5),
                            percentile(signature_ms, 0.95), percentile(signature_ms, 0.99))
              << cv::format(no_regions ? "| query signature + search (whole images only), p50 / p95 / p99 | %.1f / %.1f / %.1f ms |\n"
                                       : "| query signature + search (regions included), p50 / p95 / p99 | %.1f / %.1f / %.1f ms |\n",
                            percentile(search_ms, 0.5), percentile(search_ms, 0.95), percentile(search_ms, 0.99))
              << cv::format("| failed queries | %zu |\n", failed_queries);
    std::cout << "\nReport: " << files.value().markdown.string() << ", " << files.value().json.string() << ", "
              << files.value().plot_png.string() << "\n";
    return 0;
}
