// One split of a benchmark (queries.csv's split column), and choosing a decision threshold on one split to
// judge it on the other: tune on train, report on test.
#pragma once

#include <optional>
#include <string_view>

#include "neardup/bench/ground_truth.hpp"
#include "neardup/bench/metrics.hpp"
#include "neardup/bench/prediction.hpp"

namespace neardup::bench {

inline constexpr std::string_view kTrainSplit = "train";
inline constexpr std::string_view kTestSplit = "test";

// The queries of `split` (by their queries.csv row), with their ground-truth pairs and hard negatives.
// A query without a row in queries.csv belongs to no split.
BenchmarkTruth truth_of_split(const BenchmarkTruth& truth, std::string_view split);

// The predictions whose query is one of `truth`'s (so a split is not charged for another split's answers).
MethodPredictions predictions_of(const BenchmarkTruth& truth, const MethodPredictions& method);

// The rule "every prediction scoring at least `threshold` is a copy", judged on the data `metrics` was
// evaluated on: the curve's point of the lowest score at or above the threshold. Nothing predicted at that
// threshold: precision and recall 0, no predictions.
PrPoint point_at_threshold(const MethodMetrics& metrics, float threshold);

// The lowest threshold on the grid 0, step, 2 step, ... up to 1 whose rule reaches `min_precision` with at
// least one prediction: the grid's highest recall at that precision, a round number fit to be a default.
// None when no grid threshold reaches it. Throws std::invalid_argument unless 0 < step <= 1.
std::optional<float> grid_threshold_for_precision(const MethodMetrics& metrics, double min_precision, float step);

}  // namespace neardup::bench
