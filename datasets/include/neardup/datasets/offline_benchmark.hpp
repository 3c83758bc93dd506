// The offline counterfeit-edit benchmark: which source becomes a reference, a query or a tile (the plan), and
// the files that realise it (references/, queries/, ground_truth.csv, queries.csv, hard_negatives.csv,
// manifest.json, contact_sheet.png).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "neardup/datasets/edits.hpp"
#include "neardup/datasets/source_images.hpp"

namespace neardup::datasets {

struct BenchmarkConfig {
    std::uint64_t seed = 20261125;
    int target_queries = 1200;
    int target_references = 1500;
    // Edited queries made from each hard-negative photo (a different photo of an indexed object).
    int hard_negative_variants = 4;
    // Photos set aside, never indexed, for collage tiles and new backgrounds.
    int tile_pool = 60;
    // Edited copies of each distractor reference written to distractors/ (0: none): an index of many more
    // references than the queries' originals, to measure how ranking and false matches hold up as the archive
    // grows. Only distractors are edited (never a photo any query shows), and their collage tiles and
    // backgrounds are other distractors, so no query truly matches one.
    int distractor_copies = 0;
    std::string command;  // recorded in the manifest
};

// The benchmark is split by source photo: every query made from one photo (or from any photo of one object, for
// the hard negatives' groups) is in the same split. Tuning and fitting use train; the README reports test.
enum class Split { train, test };
std::string_view to_string(Split split);
// Half the keys each, by a hash of the key under `seed`; `key` is the source id, or "group:<name>" for a
// source of a group of photos of one object.
Split split_of(std::string_view key, std::uint64_t seed);

struct PlannedReference {
    std::string id;
    std::size_t source = 0;  // index into the kept entries
    bool has_queries = false;
    // Stored as a thumbnail (long side 150-400 px, half of them heavily recompressed), as archives that keep
    // only a listing's small picture do; its queries are still edited from the full-size photo.
    bool thumbnail = false;
};

struct PlannedQuery {
    std::string id;
    std::size_t source = 0;
    std::string source_id;
    bool in_index = false;
    EditFamily family = EditFamily::crop;
    std::string reference_id;          // ground truth; empty when the original is not indexed
    std::string related_reference_id;  // hard negatives: the indexed photo of the same object
    Split split = Split::test;         // of its source (split_of)
    std::uint64_t seed = 0;
};

struct BenchmarkPlan {
    std::vector<SourceEntry> sources;     // the kept entries, in list order
    std::vector<std::string> source_ids;  // one per kept entry: <prefix>_<nnnn>
    std::vector<PlannedReference> references;
    std::vector<PlannedQuery> queries;
    std::vector<std::size_t> tile_pool;   // kept-entry indices for collage tiles and backgrounds
};

// Assigns roles and edit families. Deterministic in (sources, config). Throws std::runtime_error when there
// are too few sources to make a benchmark (fewer than 6 photos after screening).
BenchmarkPlan plan_benchmark(const std::vector<SourceEntry>& kept, const BenchmarkConfig& config);

struct BuildSummary {
    std::size_t listed = 0;
    ScreeningResult screening;
    std::size_t references = 0, queries = 0, in_index = 0, hard_negatives = 0, distractor_copies = 0, thumbnail_references = 0;
    std::map<std::string, int> per_family;
    std::map<std::string, int> per_split;  // queries in train and in test
    double seconds = 0;
    bool up_to_date = false;  // nothing was written: the manifest already matched
};

// A key over everything that determines the output (format version, config, the sources list and file sizes).
std::string benchmark_config_key(const std::vector<SourceEntry>& entries, const BenchmarkConfig& config);

// Screens `entries`, plans, and writes the benchmark under `out` (parallel with oneTBB). When `out` holds a
// manifest with the same config key and all its files, returns at once with up_to_date set.
// `log` receives progress lines.
BuildSummary build_offline_benchmark(const std::vector<SourceEntry>& entries, const BenchmarkConfig& config,
                                     const std::filesystem::path& out,
                                     const std::function<void(const std::string&)>& log = {});

// A grid of labelled thumbnails (8 per row), for looking at many images at once.
cv::Mat make_contact_sheet(const std::vector<std::pair<std::string, cv::Mat>>& tiles);

// Loads and screens `entries`, then writes contact sheets of what was kept and dropped per package
// (`<dir>/<package>-kept-<n>.png`, `-dropped-`), 48 sources a sheet, labelled with the file name and the reason.
// For checking the sources by eye before a build.
void write_review_sheets(const std::vector<SourceEntry>& entries, const std::filesystem::path& dir,
                         const std::function<void(const std::string&)>& log = {});

}  // namespace neardup::datasets
