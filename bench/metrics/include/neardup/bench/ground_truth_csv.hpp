// Reading the benchmark's ground-truth CSV files, with a typed error naming the file and line of any fault.
#pragma once

#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "neardup/bench/bench_error.hpp"
#include "neardup/bench/ground_truth.hpp"

namespace neardup::bench {

// Exact headers (the first line of each file). Fields may be double-quoted ("a,b", "" for a quote);
// a UTF-8 BOM, CRLF line ends, blank lines and spaces around fields are accepted.
inline constexpr std::string_view kGroundTruthHeader = "query_id,reference_id";
inline constexpr std::string_view kQueriesHeader = "query_id,source_id,in_index,family,edits,split";
inline constexpr std::string_view kHardNegativesHeader = "query_id,related_reference_id";

// `source` names the text in error messages (usually its path).
// Refused: a wrong header, a wrong field count, an empty query_id, a repeated row, a query listed both
// without a reference and with one.
BenchResult<GroundTruth> parse_ground_truth_csv(std::string_view text, std::string_view source);
// Refused: a wrong header or field count, an empty query_id or family, a repeated query_id, in_index not
// 0/1/true/false, split not train/test.
BenchResult<std::vector<QueryInfo>> parse_queries_csv(std::string_view text, std::string_view source);
// Refused: a wrong header or field count, an empty field, a repeated row.
BenchResult<std::vector<HardNegative>> parse_hard_negatives_csv(std::string_view text, std::string_view source);

BenchResult<GroundTruth> read_ground_truth_csv(const std::filesystem::path& path);
BenchResult<std::vector<QueryInfo>> read_queries_csv(const std::filesystem::path& path);
BenchResult<std::vector<HardNegative>> read_hard_negatives_csv(const std::filesystem::path& path);

// Reads the ground truth and, when given, queries.csv and hard_negatives.csv; the first error wins.
BenchResult<BenchmarkTruth> read_benchmark_truth(const std::filesystem::path& ground_truth,
                                                 const std::optional<std::filesystem::path>& queries,
                                                 const std::optional<std::filesystem::path>& hard_negatives);

}  // namespace neardup::bench
