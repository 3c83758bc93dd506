#include "neardup/bench/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "pair_key.hpp"

namespace neardup::bench {
namespace {

using detail::pair_key;

// The best operating point on the curve: highest recall with enough precision, the earliest (highest
// threshold) among equal recalls. Checking only the ends of tie groups loses nothing against DISC21's
// per-rank search: inside a group the wrong predictions come first (recall flat, precision falling) and
// the right ones last (recall and precision rising), so the group's end dominates every rank inside it.
RecallAtPrecision best_recall_at(const std::vector<PrPoint>& curve, double min_precision) {
    RecallAtPrecision best{min_precision, std::nullopt};
    for (const PrPoint& p : curve) {
        if (p.precision < min_precision) continue;
        if (!best.point || p.recall > best.point->recall) best.point = p;
    }
    return best;
}

double ratio(std::size_t num, std::size_t den) { return static_cast<double>(num) / static_cast<double>(den); }

}  // namespace

MethodMetrics evaluate(const BenchmarkTruth& truth, const MethodPredictions& method) {
    const GroundTruth& gt = truth.ground_truth;
    if (gt.pairs.empty())
        throw std::invalid_argument("evaluate(" + method.method + "): the ground truth has no (query, reference) pair, "
                                    "so recall is undefined");

    std::unordered_map<std::string, std::size_t> gt_index;  // pair -> index in gt.pairs
    gt_index.reserve(gt.pairs.size());
    for (std::size_t i = 0; i < gt.pairs.size(); ++i)
        gt_index.emplace(pair_key(gt.pairs[i].query_id, gt.pairs[i].reference_id), i);
    std::unordered_set<std::string> known_queries(gt.query_ids.begin(), gt.query_ids.end());
    for (const GroundTruthPair& p : gt.pairs) known_queries.insert(p.query_id);

    const std::vector<Prediction>& preds = method.predictions;
    MethodMetrics m;
    m.method = method.method;
    m.ground_truth_pairs = gt.pairs.size();
    m.predictions = preds.size();

    // For each prediction, whether it is right; for each ground-truth pair, which prediction names it.
    constexpr std::size_t kNone = static_cast<std::size_t>(-1);
    std::vector<char> correct(preds.size(), 0);
    std::vector<std::size_t> prediction_of_pair(gt.pairs.size(), kNone);
    std::unordered_map<std::string, std::size_t> seen;
    seen.reserve(preds.size());
    for (std::size_t i = 0; i < preds.size(); ++i) {
        const Prediction& p = preds[i];
        // Finite only: the report's JSON has no infinities, and a NaN has no place in a ranking.
        if (!std::isfinite(p.score))
            throw std::invalid_argument("evaluate(" + method.method + "): score " + std::to_string(p.score) +
                                        " for (" + p.query_id + ", " + p.reference_id + ") is not finite");
        const std::string key = pair_key(p.query_id, p.reference_id);
        if (!seen.emplace(key, i).second)
            throw std::invalid_argument("evaluate(" + method.method + "): (" + p.query_id + ", " + p.reference_id +
                                        ") predicted more than once; DISC21 scores each pair once "
                                        "(collapse_duplicate_predictions keeps the best)");
        if (auto it = gt_index.find(key); it != gt_index.end()) {
            correct[i] = 1;
            prediction_of_pair[it->second] = i;
        }
        if (known_queries.count(p.query_id) == 0) ++m.predictions_for_unknown_queries;
    }
    m.correct_predictions = static_cast<std::size_t>(std::count(correct.begin(), correct.end(), 1));

    // The global ranking: descending score, wrong before right among equal scores (DISC21's worst case).
    std::vector<std::size_t> order(preds.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        if (preds[a].score != preds[b].score) return preds[a].score > preds[b].score;
        return correct[a] < correct[b];
    });

    const double positives = static_cast<double>(gt.pairs.size());
    std::size_t true_positives = 0;
    double ap = 0;
    for (std::size_t rank = 0; rank < order.size(); ++rank) {
        const std::size_t i = order[rank];
        if (correct[i]) {
            ++true_positives;
            // P_k * (R_k - R_{k-1}); the recall step is 1 / positives at a right prediction, 0 otherwise.
            ap += ratio(true_positives, rank + 1) / positives;
        }
        const bool group_ends = rank + 1 == order.size() || preds[order[rank + 1]].score != preds[i].score;
        if (group_ends)
            m.pr_curve.push_back(PrPoint{preds[i].score, ratio(true_positives, rank + 1),
                                         ratio(true_positives, gt.pairs.size()), true_positives, rank + 1});
    }
    m.micro_ap = ap;
    m.at_p90 = best_recall_at(m.pr_curve, kPrecisionTarget90);
    m.at_p99 = best_recall_at(m.pr_curve, kPrecisionTarget99);

    for (std::size_t i = 0; i < preds.size(); ++i) {
        if (!preds[i].match) continue;
        ++m.decision.matches;
        if (correct[i]) ++m.decision.true_matches;
    }
    m.decision.false_matches = m.decision.matches - m.decision.true_matches;
    if (m.decision.matches > 0) m.decision.precision = ratio(m.decision.true_matches, m.decision.matches);
    m.decision.recall = ratio(m.decision.true_matches, gt.pairs.size());

    if (!truth.queries.empty()) {
        std::unordered_map<std::string, const std::string*> family_of;
        for (const QueryInfo& q : truth.queries) family_of.emplace(q.query_id, &q.family);
        std::map<std::string, FamilyRecall> families;  // ordered by name
        const auto count = [&](const std::string& name, std::size_t g) {
            FamilyRecall& f = families[name];
            f.family = name;
            ++f.ground_truth_pairs;
            const std::size_t i = prediction_of_pair[g];
            if (i != kNone && preds[i].match) ++f.found_by_decision;
            if (m.at_p99.point) {
                if (!f.found_at_p99) f.found_at_p99 = 0;
                if (i != kNone && preds[i].score >= m.at_p99.point->threshold) ++*f.found_at_p99;
            }
        };
        for (std::size_t g = 0; g < gt.pairs.size(); ++g) {
            const auto it = family_of.find(gt.pairs[g].query_id);
            count(it == family_of.end() ? std::string(kUnlistedFamily) : *it->second, g);
            if (truth.thumbnail_references.count(gt.pairs[g].reference_id)) count(kThumbnailFamily, g);
        }
        for (auto& [name, f] : families) {
            f.decision_recall = ratio(f.found_by_decision, f.ground_truth_pairs);
            if (f.found_at_p99) f.recall_at_p99 = ratio(*f.found_at_p99, f.ground_truth_pairs);
            m.families.push_back(std::move(f));
        }
    }

    if (!truth.hard_negatives.empty()) {
        std::unordered_set<std::string> negative_queries;
        std::unordered_set<std::string> related_pairs;
        for (const HardNegative& h : truth.hard_negatives) {
            negative_queries.insert(h.query_id);
            related_pairs.insert(pair_key(h.query_id, h.related_reference_id));
        }
        m.hard_negatives.queries = negative_queries.size();
        for (std::size_t i = 0; i < preds.size(); ++i) {
            const Prediction& p = preds[i];
            if (!p.match || correct[i] || negative_queries.count(p.query_id) == 0) continue;
            ++m.hard_negatives.false_matches;
            if (related_pairs.count(pair_key(p.query_id, p.reference_id)) > 0) ++m.hard_negatives.related_false_matches;
        }
    }
    return m;
}

}  // namespace neardup::bench
