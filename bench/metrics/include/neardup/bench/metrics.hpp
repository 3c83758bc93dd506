// Copy-detection quality of one method, as the Image Similarity Challenge 2021 (DISC21) defines it, plus
// the figures an operator needs: the method's own match decision, recall per edit family, hard negatives.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "neardup/bench/ground_truth.hpp"
#include "neardup/bench/prediction.hpp"

namespace neardup::bench {

// Operating points reported for every method. 0.9 is DISC21's own (recall at 90 % precision); 0.99 is
// ours: a takedown tool must rarely accuse an innocent photo.
inline constexpr double kPrecisionTarget90 = 0.90;
inline constexpr double kPrecisionTarget99 = 0.99;

// Name of the family of ground-truth pairs whose query has no row in queries.csv.
inline constexpr const char* kUnlistedFamily = "(not in queries.csv)";
// Name of the row of pairs whose reference is a thumbnail (BenchmarkTruth::thumbnail_references), whatever
// the query's family: the same pairs are also counted in their own family's row.
inline constexpr const char* kThumbnailFamily = "(thumbnail reference)";

// Precision and recall of "every prediction with score >= threshold is a copy".
struct PrPoint {
    float threshold = 0;
    double precision = 0;
    double recall = 0;
    std::size_t true_positives = 0;
    std::size_t predictions = 0;  // predictions at or above the threshold
    friend bool operator==(const PrPoint&, const PrPoint&) = default;
};

// The highest recall at any threshold whose precision is at least min_precision (the highest threshold
// among equal recalls); no point when no threshold reaches that precision.
struct RecallAtPrecision {
    double min_precision = 0;
    std::optional<PrPoint> point;
    friend bool operator==(const RecallAtPrecision&, const RecallAtPrecision&) = default;
};

// The method's own decision (Prediction::match), judged against the ground truth.
struct DecisionMetrics {
    std::size_t matches = 0;        // predictions with match = true
    std::size_t true_matches = 0;
    std::size_t false_matches = 0;
    std::optional<double> precision;  // none when the method matched nothing
    double recall = 0;                // true_matches / ground-truth pairs
    friend bool operator==(const DecisionMetrics&, const DecisionMetrics&) = default;
};

// Recall of the ground-truth pairs whose query belongs to one edit family (queries.csv).
struct FamilyRecall {
    std::string family;
    std::size_t ground_truth_pairs = 0;
    std::size_t found_by_decision = 0;  // predicted with match = true
    double decision_recall = 0;
    // Found with a score at or above the method's global precision-0.99 threshold; none when the method
    // never reaches precision 0.99.
    std::optional<std::size_t> found_at_p99;
    std::optional<double> recall_at_p99;
    friend bool operator==(const FamilyRecall&, const FamilyRecall&) = default;
};

// Matches reported on hard-negative queries (hard_negatives.csv), none of which should match.
struct HardNegativeMetrics {
    std::size_t queries = 0;                // distinct hard-negative queries in the benchmark
    std::size_t false_matches = 0;          // match = true on a hard-negative query, not a ground-truth pair
    std::size_t related_false_matches = 0;  // ... of which with exactly the listed related reference
    friend bool operator==(const HardNegativeMetrics&, const HardNegativeMetrics&) = default;
};

struct MethodMetrics {
    std::string method;
    std::size_t ground_truth_pairs = 0;  // the recall denominator, predicted or not
    std::size_t predictions = 0;
    std::size_t correct_predictions = 0;              // predictions that are ground-truth pairs
    std::size_t predictions_for_unknown_queries = 0;  // query not in the ground truth: counted as wrong
    double micro_ap = 0;                              // DISC21 muAP
    RecallAtPrecision at_p90{kPrecisionTarget90, std::nullopt};
    RecallAtPrecision at_p99{kPrecisionTarget99, std::nullopt};
    DecisionMetrics decision;
    std::vector<FamilyRecall> families;  // by family name; families without ground-truth pairs left out
    HardNegativeMetrics hard_negatives;
    std::vector<PrPoint> pr_curve;  // one point per distinct score, by descending threshold
    friend bool operator==(const MethodMetrics&, const MethodMetrics&) = default;
};

// DISC21 micro-average precision and its operating points, for one method:
//  - all predictions of all queries are ranked together by descending score; among equal scores the wrong
//    ones come first (the worst case, so a constant score earns nothing);
//  - precision P_k and recall R_k are taken after each rank k, recall over ALL ground-truth pairs, also
//    those never predicted; muAP = sum_k P_k (R_k - R_{k-1});
//  - a prediction is right when its (query, reference) is a ground-truth pair; predictions on queries
//    without ground truth, or unknown to it, are wrong.
// Throws std::invalid_argument for a broken contract: a repeated (query, reference) pair (DISC21 refuses
// them; see collapse_duplicate_predictions), a score that is not finite, or a ground truth without any pair.
MethodMetrics evaluate(const BenchmarkTruth& truth, const MethodPredictions& method);

}  // namespace neardup::bench
