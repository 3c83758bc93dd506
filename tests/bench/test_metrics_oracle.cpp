// evaluate() sorts once and walks the ranking; the oracle here follows the DISC21 definition literally,
// counting by full scans: every rank's precision and recall, with the worst order inside ties.
#include <catch2/catch.hpp>

#include <random>
#include <set>

#include "neardup/bench/metrics.hpp"

using namespace neardup::bench;

namespace {

struct RankPoint {
    double precision, recall;
    float threshold;
};

struct Oracle {
    double micro_ap = 0;
    std::vector<RankPoint> ranks;         // one per prediction, in DISC21's ranking order
    std::vector<RankPoint> by_threshold;  // "score >= t is a copy", for each distinct score t, descending
};

Oracle oracle(const BenchmarkTruth& truth, const std::vector<Prediction>& preds) {
    const auto is_right = [&](const Prediction& p) {
        for (const auto& g : truth.ground_truth.pairs)
            if (g.query_id == p.query_id && g.reference_id == p.reference_id) return true;
        return false;
    };
    const double positives = static_cast<double>(truth.ground_truth.pairs.size());
    std::set<float, std::greater<>> scores;
    for (const auto& p : preds) scores.insert(p.score);

    Oracle o;
    for (const float s : scores) {
        std::size_t above = 0, right_above = 0, wrong_here = 0, right_here = 0;
        for (const auto& p : preds) {
            const bool right = is_right(p);
            if (p.score > s) {
                ++above;
                right_above += right;
            } else if (p.score == s) {
                (right ? right_here : wrong_here) += 1;
            }
        }
        // Inside the tie: the wrong ones first, then the right ones.
        for (std::size_t j = 1; j <= wrong_here; ++j)
            o.ranks.push_back({double(right_above) / double(above + j), double(right_above) / positives, s});
        for (std::size_t j = 1; j <= right_here; ++j) {
            const double precision = double(right_above + j) / double(above + wrong_here + j);
            o.micro_ap += precision / positives;
            o.ranks.push_back({precision, double(right_above + j) / positives, s});
        }
        const std::size_t n = above + wrong_here + right_here, tp = right_above + right_here;
        o.by_threshold.push_back({double(tp) / double(n), double(tp) / positives, s});
    }
    return o;
}

// DISC21's operating point: over all ranks with enough precision, the first one of the highest recall.
std::optional<RankPoint> disc21_operating_point(const std::vector<RankPoint>& ranks, double min_precision) {
    std::optional<RankPoint> best;
    for (const auto& r : ranks)
        if (r.precision >= min_precision && (!best || r.recall > best->recall)) best = r;
    return best;
}

}  // namespace

TEST_CASE("evaluate agrees with a literal DISC21 oracle on random rankings full of ties", "[bench][metrics][oracle]") {
    std::mt19937 rng(2021);
    for (int trial = 0; trial < 300; ++trial) {
        const int n_queries = 1 + static_cast<int>(rng() % 12);
        const int n_refs = 1 + static_cast<int>(rng() % 8);
        const int levels = 1 + static_cast<int>(rng() % 6);  // few distinct scores: many ties
        BenchmarkTruth truth;
        for (int q = 0; q < n_queries; ++q) {
            truth.ground_truth.query_ids.push_back("Q" + std::to_string(q));
            for (int r = 0; r < n_refs; ++r)
                if (rng() % 4 == 0) truth.ground_truth.pairs.push_back({"Q" + std::to_string(q), "R" + std::to_string(r)});
        }
        if (truth.ground_truth.pairs.empty()) truth.ground_truth.pairs.push_back({"Q0", "R0"});

        // Right pairs get higher scores on average so that precision targets are sometimes met.
        std::vector<Prediction> preds;
        for (int q = 0; q < n_queries + 2; ++q)  // two queries unknown to the ground truth
            for (int r = 0; r < n_refs; ++r) {
                if (rng() % 3 != 0) continue;
                Prediction p{"Q" + std::to_string(q), "R" + std::to_string(r), 0, rng() % 2 == 0};
                bool right = false;
                for (const auto& g : truth.ground_truth.pairs) right |= g.query_id == p.query_id && g.reference_id == p.reference_id;
                const int level = static_cast<int>(rng() % levels) + (right ? levels / 2 : 0);
                p.score = static_cast<float>(level) / 4.0f;
                preds.push_back(p);
            }

        const auto m = evaluate(truth, MethodPredictions{"random", preds});
        const Oracle o = oracle(truth, preds);
        INFO("trial " << trial);
        REQUIRE(m.micro_ap == Approx(o.micro_ap).epsilon(1e-12).margin(1e-15));
        REQUIRE(m.pr_curve.size() == o.by_threshold.size());
        for (std::size_t k = 0; k < o.by_threshold.size(); ++k) {
            REQUIRE(m.pr_curve[k].threshold == o.by_threshold[k].threshold);
            REQUIRE(m.pr_curve[k].precision == Approx(o.by_threshold[k].precision).epsilon(1e-12));
            REQUIRE(m.pr_curve[k].recall == Approx(o.by_threshold[k].recall).epsilon(1e-12));
        }
        for (const auto& [target, got] : {std::pair{kPrecisionTarget90, m.at_p90}, std::pair{kPrecisionTarget99, m.at_p99}}) {
            const auto want = disc21_operating_point(o.ranks, target);
            REQUIRE(bool(want) == bool(got.point));
            if (!want) continue;
            REQUIRE(got.point->recall == Approx(want->recall).epsilon(1e-12));
            REQUIRE(got.point->precision == Approx(want->precision).epsilon(1e-12));
            REQUIRE(got.point->threshold == want->threshold);
        }
    }
}
