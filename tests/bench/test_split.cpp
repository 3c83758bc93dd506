#include <catch2/catch.hpp>

#include <random>

#include "neardup/bench/split.hpp"

using namespace neardup::bench;

namespace {

// Two train queries (T1 matches R1, T2 matches nothing, and is a hard negative of R1) and two test queries
// (S1 matches R2, S2 matches R3). X1 has no queries.csv row: it belongs to no split.
BenchmarkTruth four_queries() {
    BenchmarkTruth t;
    t.ground_truth.query_ids = {"T1", "T2", "S1", "S2", "X1"};
    t.ground_truth.pairs = {{"T1", "R1"}, {"S1", "R2"}, {"S2", "R3"}, {"X1", "R4"}};
    t.queries = {{"T1", "R1", true, "crop", "", "train"},
                 {"T2", "N1", false, "hard_negative", "", "train"},
                 {"S1", "R2", true, "crop", "", "test"},
                 {"S2", "R3", true, "mirror", "", "test"}};
    t.hard_negatives = {{"T2", "R1"}};
    return t;
}

}  // namespace

TEST_CASE("a split keeps its own queries, pairs, hard negatives and predictions", "[bench][split]") {
    const BenchmarkTruth all = four_queries();
    const BenchmarkTruth train = truth_of_split(all, kTrainSplit);
    CHECK(train.ground_truth.query_ids == std::vector<std::string>{"T1", "T2"});
    CHECK(train.ground_truth.pairs == std::vector<GroundTruthPair>{{"T1", "R1"}});
    CHECK(train.queries.size() == 2);
    CHECK(train.hard_negatives == std::vector<HardNegative>{{"T2", "R1"}});
    const BenchmarkTruth test = truth_of_split(all, kTestSplit);
    CHECK(test.ground_truth.query_ids == std::vector<std::string>{"S1", "S2"});
    CHECK(test.ground_truth.pairs == std::vector<GroundTruthPair>{{"S1", "R2"}, {"S2", "R3"}});
    CHECK(test.hard_negatives.empty());
    CHECK(truth_of_split(all, "dev").ground_truth.query_ids.empty());

    const MethodPredictions m{"m", {{"T1", "R1", 0.9f, true}, {"T2", "R1", 0.8f, true}, {"S1", "R2", 0.7f, true},
                                    {"X1", "R4", 0.6f, true}, {"S2", "R9", 0.5f, false}}};
    const MethodPredictions on_test = predictions_of(test, m);
    CHECK(on_test.method == "m");
    CHECK(on_test.predictions == std::vector<Prediction>{{"S1", "R2", 0.7f, true}, {"S2", "R9", 0.5f, false}});
    // Evaluated on test alone, the train split's false match (T2, R1) costs nothing.
    const MethodMetrics mt = evaluate(test, on_test);
    CHECK(mt.decision.false_matches == 0);
    CHECK(mt.decision.true_matches == 1);
    CHECK(mt.ground_truth_pairs == 2);
    CHECK(evaluate(truth_of_split(all, kTrainSplit), predictions_of(train, m)).decision.false_matches == 1);
}

TEST_CASE("the rule score >= threshold against a naive count", "[bench][split]") {
    std::mt19937 rng(7);
    BenchmarkTruth truth;
    MethodPredictions m{"m", {}};
    for (int q = 0; q < 200; ++q) {
        const std::string id = "Q" + std::to_string(q);
        truth.ground_truth.query_ids.push_back(id);
        truth.ground_truth.pairs.push_back({id, "R" + std::to_string(q)});
        // One right and one wrong candidate per query, with scores on a coarse grid so that ties happen.
        m.predictions.push_back({id, "R" + std::to_string(q), static_cast<float>(rng() % 21) / 20, false});
        m.predictions.push_back({id, "W" + std::to_string(q), static_cast<float>(rng() % 21) / 20, false});
    }
    const MethodMetrics metrics = evaluate(truth, m);
    for (const float t : {0.0f, 0.05f, 0.33f, 0.5f, 0.95f, 1.0f, 1.01f}) {
        std::size_t predicted = 0, right = 0;
        for (const Prediction& p : m.predictions)
            if (p.score >= t) {
                ++predicted;
                right += p.reference_id[0] == 'R' ? 1 : 0;
            }
        const PrPoint at = point_at_threshold(metrics, t);
        INFO("threshold " << t);
        CHECK(at.threshold == t);
        CHECK(at.predictions == predicted);
        CHECK(at.true_positives == right);
        CHECK(at.recall == Approx(static_cast<double>(right) / 200));
        CHECK(at.precision == Approx(predicted ? static_cast<double>(right) / predicted : 0.0));
    }
}

TEST_CASE("the grid threshold is the lowest with enough precision", "[bench][split]") {
    BenchmarkTruth truth;
    truth.ground_truth.query_ids = {"Q1", "Q2", "Q3", "Q4"};
    truth.ground_truth.pairs = {{"Q1", "R1"}, {"Q2", "R2"}, {"Q3", "R3"}};
    // From 0.6 up all right; the wrong one at 0.56 brings precision to 3/4 from 0.55 down.
    const MethodPredictions m{"m", {{"Q1", "R1", 0.9f, true}, {"Q2", "R2", 0.7f, true}, {"Q3", "R3", 0.62f, true},
                                    {"Q4", "R1", 0.56f, true}}};
    const MethodMetrics metrics = evaluate(truth, m);
    const auto t = grid_threshold_for_precision(metrics, 0.99, 0.05f);
    REQUIRE(t);
    CHECK(*t == Approx(0.6f));
    CHECK(point_at_threshold(metrics, *t).recall == Approx(1.0));
    CHECK(grid_threshold_for_precision(metrics, 0.7, 0.05f) == 0.0f);
    // No grid point reaches precision 1 with a prediction once the only right one sits below the wrong one.
    const MethodMetrics bad = evaluate(truth, MethodPredictions{"b", {{"Q4", "R1", 0.9f, true}, {"Q1", "R1", 0.1f, true}}});
    CHECK_FALSE(grid_threshold_for_precision(bad, 1.0, 0.05f));
    CHECK_THROWS_AS(grid_threshold_for_precision(metrics, 0.99, 0.0f), std::invalid_argument);
    CHECK_THROWS_AS(grid_threshold_for_precision(metrics, 0.99, 1.5f), std::invalid_argument);
}
