#include "neardup/bench/split.hpp"

#include <cmath>
#include <stdexcept>
#include <unordered_set>

namespace neardup::bench {

BenchmarkTruth truth_of_split(const BenchmarkTruth& truth, std::string_view split) {
    std::unordered_set<std::string> in_split;
    BenchmarkTruth out;
    out.thumbnail_references = truth.thumbnail_references;
    for (const QueryInfo& q : truth.queries)
        if (q.split == split) {
            in_split.insert(q.query_id);
            out.queries.push_back(q);
        }
    const auto kept = [&](const std::string& query_id) { return in_split.count(query_id) > 0; };
    for (const std::string& q : truth.ground_truth.query_ids)
        if (kept(q)) out.ground_truth.query_ids.push_back(q);
    for (const GroundTruthPair& p : truth.ground_truth.pairs)
        if (kept(p.query_id)) out.ground_truth.pairs.push_back(p);
    for (const HardNegative& h : truth.hard_negatives)
        if (kept(h.query_id)) out.hard_negatives.push_back(h);
    return out;
}

MethodPredictions predictions_of(const BenchmarkTruth& truth, const MethodPredictions& method) {
    std::unordered_set<std::string> queries(truth.ground_truth.query_ids.begin(), truth.ground_truth.query_ids.end());
    for (const GroundTruthPair& p : truth.ground_truth.pairs) queries.insert(p.query_id);
    MethodPredictions out{method.method, {}};
    for (const Prediction& p : method.predictions)
        if (queries.count(p.query_id)) out.predictions.push_back(p);
    return out;
}

PrPoint point_at_threshold(const MethodMetrics& metrics, float threshold) {
    // The curve runs by descending threshold, each point counting every prediction at or above its score.
    PrPoint at{threshold, 0, 0, 0, 0};
    for (const PrPoint& p : metrics.pr_curve) {
        if (p.threshold < threshold) break;
        at = p;
    }
    at.threshold = threshold;
    return at;
}

std::optional<float> grid_threshold_for_precision(const MethodMetrics& metrics, double min_precision, float step) {
    if (!(step > 0 && step <= 1)) throw std::invalid_argument("grid_threshold_for_precision: step must be in (0, 1]");
    const int steps = static_cast<int>(std::lround(1.0 / step));
    for (int k = 0; k <= steps; ++k) {
        const auto t = static_cast<float>(k * static_cast<double>(step));  // 12 x 0.05 is 0.6f, not a hair above
        const PrPoint p = point_at_threshold(metrics, t);
        if (p.predictions > 0 && p.precision >= min_precision) return t;
    }
    return std::nullopt;
}

}  // namespace neardup::bench
