#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>

#include "neardup/bench/metrics.hpp"

using namespace neardup::bench;

namespace {

GroundTruth make_truth(std::vector<std::string> queries, std::vector<GroundTruthPair> pairs) {
    return GroundTruth{std::move(queries), std::move(pairs)};
}

MethodPredictions method(std::vector<Prediction> predictions) { return MethodPredictions{"m", std::move(predictions)}; }

// Exact comparisons of fractions computed two ways need a hair of tolerance.
Approx exactly(double v) { return Approx(v).epsilon(1e-12).margin(1e-15); }

}  // namespace

TEST_CASE("muAP of a small case computed by hand", "[bench][metrics]") {
    // Ground truth: 3 pairs; Q4 is a query without a match. (Q3, R3) is never predicted, yet counts.
    BenchmarkTruth truth{make_truth({"Q1", "Q2", "Q3", "Q4"}, {{"Q1", "R1"}, {"Q2", "R2"}, {"Q3", "R3"}}), {}, {}};
    // Ranked by score:       right?  precision  recall
    //  1. (Q1, R1) 0.9       yes     1/1        1/3
    //  2. (Q4, R1) 0.8       no      1/2        1/3
    //  3. (Q2, R2) 0.7       yes     2/3        2/3
    //  4. (Q2, R9) 0.6       no      2/4        2/3
    //  5. (Q3, R4) 0.5       no      2/5        2/3
    // muAP = sum P_k (R_k - R_{k-1}) = 1 * 1/3 + 2/3 * 1/3 = 5/9.
    const auto m = evaluate(truth, method({{"Q2", "R9", 0.6f, false},
                                           {"Q1", "R1", 0.9f, true},
                                           {"Q3", "R4", 0.5f, false},
                                           {"Q4", "R1", 0.8f, true},
                                           {"Q2", "R2", 0.7f, true}}));
    CHECK(m.micro_ap == exactly(5.0 / 9.0));
    CHECK(m.ground_truth_pairs == 3);
    CHECK(m.predictions == 5);
    CHECK(m.correct_predictions == 2);
    CHECK(m.predictions_for_unknown_queries == 0);

    REQUIRE(m.pr_curve.size() == 5);
    const std::vector<std::pair<double, double>> expected{{1.0, 1.0 / 3}, {0.5, 1.0 / 3}, {2.0 / 3, 2.0 / 3},
                                                          {0.5, 2.0 / 3}, {0.4, 2.0 / 3}};
    const std::vector<float> thresholds{0.9f, 0.8f, 0.7f, 0.6f, 0.5f};
    for (std::size_t k = 0; k < 5; ++k) {
        CHECK(m.pr_curve[k].threshold == thresholds[k]);
        CHECK(m.pr_curve[k].precision == exactly(expected[k].first));
        CHECK(m.pr_curve[k].recall == exactly(expected[k].second));
        CHECK(m.pr_curve[k].predictions == k + 1);
    }
    // Only rank 1 has precision >= 0.9 (or 0.99).
    REQUIRE(m.at_p90.point);
    CHECK(m.at_p90.point->recall == exactly(1.0 / 3));
    CHECK(m.at_p90.point->threshold == 0.9f);
    REQUIRE(m.at_p99.point);
    CHECK(m.at_p99.point->threshold == 0.9f);

    // Decision: 3 matches (0.9, 0.8, 0.7), 2 right.
    CHECK(m.decision.matches == 3);
    CHECK(m.decision.true_matches == 2);
    CHECK(m.decision.false_matches == 1);
    REQUIRE(m.decision.precision);
    CHECK(*m.decision.precision == exactly(2.0 / 3));
    CHECK(m.decision.recall == exactly(2.0 / 3));
    CHECK(m.families.empty());
    CHECK(m.hard_negatives == HardNegativeMetrics{});
}

TEST_CASE("equal scores rank the wrong predictions first", "[bench][metrics][ties]") {
    BenchmarkTruth truth{make_truth({"Q1", "Q2", "Q3"}, {{"Q1", "R1"}, {"Q2", "R2"}}), {}, {}};
    std::vector<Prediction> preds{
        {"Q1", "R1", 0.5f, true}, {"Q1", "R5", 0.5f, true}, {"Q2", "R2", 0.5f, true}, {"Q3", "R3", 0.5f, true}};
    // Whatever the input order, the ranking is wrong, wrong, right, right:
    // muAP = 1/3 * 1/2 + 2/4 * 1/2 = 5/12 (an optimistic order would give 1).
    std::sort(preds.begin(), preds.end(), [](const auto& a, const auto& b) { return a.reference_id < b.reference_id; });
    do {
        const auto m = evaluate(truth, method(preds));
        CHECK(m.micro_ap == exactly(5.0 / 12.0));
        REQUIRE(m.pr_curve.size() == 1);  // one threshold: all or nothing
        CHECK(m.pr_curve[0].precision == exactly(0.5));
        CHECK(m.pr_curve[0].recall == exactly(1.0));
        CHECK_FALSE(m.at_p90.point);
    } while (std::next_permutation(preds.begin(), preds.end(),
                                   [](const auto& a, const auto& b) { return a.reference_id < b.reference_id; }));
}

TEST_CASE("a tie inside the ranking: precision is taken per rank, the curve per threshold", "[bench][metrics][ties]") {
    // 4 ground-truth pairs, (Q5, R5) never predicted.
    BenchmarkTruth truth{
        make_truth({"Q1", "Q2", "Q3", "Q4", "Q5"}, {{"Q1", "R1"}, {"Q2", "R2"}, {"Q4", "R4"}, {"Q5", "R5"}}), {}, {}};
    // Ranking: (Q1,R1) 0.9 right P=1/1; (Q3,R3) 0.7 wrong; (Q2,R2) 0.7 right P=2/3; (Q4,R4) 0.4 right P=3/4.
    // muAP = (1 + 2/3 + 3/4) / 4 = 29/48.
    const auto m = evaluate(truth, method({{"Q2", "R2", 0.7f, false},
                                           {"Q3", "R3", 0.7f, false},
                                           {"Q4", "R4", 0.4f, false},
                                           {"Q1", "R1", 0.9f, false}}));
    CHECK(m.micro_ap == exactly(29.0 / 48.0));
    REQUIRE(m.pr_curve.size() == 3);
    CHECK(m.pr_curve[1].threshold == 0.7f);
    CHECK(m.pr_curve[1].precision == exactly(2.0 / 3));  // the whole tie group, not its middle (1/2)
    CHECK(m.pr_curve[1].recall == exactly(0.5));
    CHECK(m.pr_curve[2].precision == exactly(0.75));
    CHECK(m.pr_curve[2].recall == exactly(0.75));
    CHECK(m.at_p90.point->recall == exactly(0.25));
    CHECK_FALSE(m.decision.precision);  // nothing matched
    CHECK(m.decision.recall == 0.0);
}

TEST_CASE("recall at precision is the best recall at any threshold, not the first crossing",
          "[bench][metrics][operating-point]") {
    // Q1..Q10 match R1..R10; Q11 has no match.
    std::vector<std::string> queries;
    std::vector<GroundTruthPair> pairs;
    for (int k = 1; k <= 11; ++k) queries.push_back("Q" + std::to_string(k));
    for (int k = 1; k <= 10; ++k) pairs.push_back({"Q" + std::to_string(k), "R" + std::to_string(k)});
    BenchmarkTruth truth{make_truth(queries, pairs), {}, {}};

    // Rank 1 right (P 1), rank 2 wrong (P 1/2), ranks 3..11 right (P rises to 10/11 = 0.909 at recall 1),
    // rank 12 wrong (P 10/12). Precision dips under 0.9 and comes back: R@P0.9 = 1 at the 11th score.
    std::vector<Prediction> preds{{"Q1", "R1", 1.0f, true}, {"Q11", "R1", 0.95f, true}};
    for (int k = 2; k <= 10; ++k)
        preds.push_back({"Q" + std::to_string(k), "R" + std::to_string(k), 0.9f - 0.01f * static_cast<float>(k - 2), true});
    preds.push_back({"Q11", "R2", 0.5f, false});
    const auto m = evaluate(truth, method(preds));
    REQUIRE(m.at_p90.point);
    CHECK(m.at_p90.point->recall == 1.0);
    CHECK(m.at_p90.point->precision == exactly(10.0 / 11));
    CHECK(m.at_p90.point->threshold == 0.9f - 0.01f * 8);
    CHECK(m.at_p90.point->predictions == 11);
    REQUIRE(m.at_p99.point);
    CHECK(m.at_p99.point->recall == exactly(0.1));
    CHECK(m.at_p99.point->threshold == 1.0f);
    CHECK(m.at_p90.min_precision == kPrecisionTarget90);
    CHECK(m.at_p99.min_precision == kPrecisionTarget99);
}

TEST_CASE("precision exactly at the target counts as reaching it", "[bench][metrics][operating-point]") {
    // 9 right and 1 wrong: precision 9/10 = 0.9 at recall 1.
    std::vector<std::string> queries;
    std::vector<GroundTruthPair> pairs;
    std::vector<Prediction> preds;
    for (int k = 1; k <= 9; ++k) {
        queries.push_back("Q" + std::to_string(k));
        pairs.push_back({"Q" + std::to_string(k), "R" + std::to_string(k)});
        preds.push_back({"Q" + std::to_string(k), "R" + std::to_string(k), 1.0f - 0.01f * static_cast<float>(k), true});
    }
    preds.push_back({"Q1", "R2", 0.955f, true});
    const auto m = evaluate(BenchmarkTruth{make_truth(queries, pairs), {}, {}}, method(preds));
    REQUIRE(m.at_p90.point);
    CHECK(m.at_p90.point->recall == 1.0);
    CHECK(m.at_p90.point->precision == 0.9);
    // Above 0.955 only right ones: 4 of 9 at precision 1.
    REQUIRE(m.at_p99.point);
    CHECK(m.at_p99.point->recall == exactly(4.0 / 9));
    CHECK(m.at_p99.point->threshold == 1.0f - 0.01f * 4.0f);
}

TEST_CASE("queries without ground truth and unknown queries count as wrong", "[bench][metrics]") {
    // Q2 is listed without a match; Q9 is not in the ground truth at all.
    BenchmarkTruth truth{make_truth({"Q1", "Q2"}, {{"Q1", "R1"}}), {}, {}};
    // Ranking: (Q9,R1) 0.9 wrong; (Q2,R1) 0.8 wrong; (Q1,R1) 0.7 right P=1/3. muAP = 1/3.
    const auto m = evaluate(truth, method({{"Q1", "R1", 0.7f, true}, {"Q2", "R1", 0.8f, true}, {"Q9", "R1", 0.9f, true}}));
    CHECK(m.micro_ap == exactly(1.0 / 3));
    CHECK(m.predictions_for_unknown_queries == 1);
    CHECK(m.correct_predictions == 1);
    CHECK(m.decision.false_matches == 2);
    CHECK_FALSE(m.at_p90.point);
}

TEST_CASE("no predictions: zero muAP, no operating point", "[bench][metrics]") {
    const auto m = evaluate(BenchmarkTruth{make_truth({"Q1"}, {{"Q1", "R1"}}), {}, {}}, method({}));
    CHECK(m.micro_ap == 0.0);
    CHECK(m.pr_curve.empty());
    CHECK_FALSE(m.at_p90.point);
    CHECK_FALSE(m.at_p99.point);
    CHECK_FALSE(m.decision.precision);
}

TEST_CASE("broken contracts throw: repeats, non-finite scores, no ground-truth pair", "[bench][metrics]") {
    BenchmarkTruth truth{make_truth({"Q1"}, {{"Q1", "R1"}}), {}, {}};
    MethodPredictions repeated{"pdq", {{"Q1", "R1", 0.5f, true}, {"Q1", "R2", 0.4f, true}, {"Q1", "R1", 0.3f, false}}};
    CHECK_THROWS_WITH(evaluate(truth, repeated),
                      "evaluate(pdq): (Q1, R1) predicted more than once; DISC21 scores each pair once "
                      "(collapse_duplicate_predictions keeps the best)");
    CHECK_THROWS_AS(evaluate(truth, method({{"Q1", "R1", std::numeric_limits<float>::quiet_NaN(), true}})),
                    std::invalid_argument);
    CHECK_THROWS_AS(evaluate(truth, method({{"Q1", "R1", std::numeric_limits<float>::infinity(), true}})),
                    std::invalid_argument);
    CHECK_THROWS_WITH(evaluate(BenchmarkTruth{make_truth({"Q1"}, {}), {}, {}}, repeated),
                      "evaluate(pdq): the ground truth has no (query, reference) pair, so recall is undefined");
}

TEST_CASE("collapsing repeated predictions keeps the best score and any match", "[bench][metrics]") {
    const auto kept = collapse_duplicate_predictions({{"Q1", "R1", 0.3f, false},
                                                      {"Q2", "R1", 0.2f, false},
                                                      {"Q1", "R1", 0.8f, false},
                                                      {"Q1", "R1", 0.5f, true},
                                                      {"Q1", "R2", 0.1f, false}});
    CHECK(kept == std::vector<Prediction>{{"Q1", "R1", 0.8f, true}, {"Q2", "R1", 0.2f, false}, {"Q1", "R2", 0.1f, false}});
    // After collapsing, evaluate accepts them.
    BenchmarkTruth truth{make_truth({"Q1", "Q2"}, {{"Q1", "R1"}}), {}, {}};
    CHECK(evaluate(truth, method(kept)).micro_ap == 1.0);
}

TEST_CASE("recall per edit family, by decision and at the precision-0.99 threshold", "[bench][metrics][families]") {
    // Q5 matches but has no row in queries.csv; Q4 (family "unrelated") has no match, so that family has
    // no ground-truth pair and is left out.
    BenchmarkTruth truth;
    truth.ground_truth = make_truth({"Q1", "Q2", "Q3", "Q4", "Q5"}, {{"Q1", "R1"}, {"Q2", "R2"}, {"Q3", "R3"}, {"Q5", "R5"}});
    truth.queries = {{"Q1", "R1", true, "crop", "crop(0.6)"},
                     {"Q2", "R2", true, "crop", "crop(0.3)"},
                     {"Q3", "R3", true, "text", "overlay"},
                     {"Q4", "", false, "unrelated", ""}};
    // Ranking: 0.9 right, 0.8 right, 0.4 right (precision 1 so far, recall 3/4), 0.3 wrong.
    // Precision-0.99 threshold: 0.4 (recall 3/4).
    const auto m = evaluate(truth, method({{"Q1", "R1", 0.9f, true},
                                           {"Q3", "R3", 0.8f, false},
                                           {"Q2", "R2", 0.4f, true},
                                           {"Q4", "R1", 0.3f, true}}));
    REQUIRE(m.at_p99.point);
    CHECK(m.at_p99.point->threshold == 0.4f);
    CHECK(m.at_p99.point->recall == 0.75);
    const std::vector<FamilyRecall> expected{
        {kUnlistedFamily, 1, 0, 0.0, 0, 0.0},  // (Q5, R5) never predicted
        {"crop", 2, 2, 1.0, 2, 1.0},           // both matched, both >= 0.4
        {"text", 1, 0, 0.0, 1, 1.0},           // not matched by the decision, but scored 0.8 >= 0.4
    };
    CHECK(m.families == expected);

    // Pairs whose reference is a thumbnail are counted again in a row of their own.
    truth.thumbnail_references = {"R2", "R3", "R9"};
    const auto with_thumbnails = evaluate(truth, method({{"Q1", "R1", 0.9f, true},
                                                         {"Q3", "R3", 0.8f, false},
                                                         {"Q2", "R2", 0.4f, true},
                                                         {"Q4", "R1", 0.3f, true}}));
    auto expected_with = expected;
    expected_with.insert(expected_with.begin() + 1, FamilyRecall{kThumbnailFamily, 2, 1, 0.5, 2, 1.0});  // Q2 and Q3
    CHECK(with_thumbnails.families == expected_with);
    truth.thumbnail_references.clear();

    // A method that never reaches precision 0.99 has no per-family recall there.
    const auto weak = evaluate(truth, method({{"Q4", "R1", 0.9f, true}, {"Q1", "R1", 0.5f, true}}));
    CHECK_FALSE(weak.at_p99.point);
    REQUIRE(weak.families.size() == 3);
    CHECK(weak.families[1].family == "crop");
    CHECK(weak.families[1].found_by_decision == 1);
    CHECK(weak.families[1].decision_recall == 0.5);
    CHECK_FALSE(weak.families[1].recall_at_p99);
    CHECK_FALSE(weak.families[1].found_at_p99);
}

TEST_CASE("false matches on hard-negative queries", "[bench][metrics][hard-negatives]") {
    BenchmarkTruth truth;
    truth.ground_truth = make_truth({"Q1", "N1", "N2"}, {{"Q1", "R1"}});
    truth.hard_negatives = {{"N1", "R1"}, {"N2", "R2"}, {"N2", "R3"}};
    const auto m = evaluate(truth, method({{"Q1", "R1", 0.9f, true},
                                           {"N1", "R1", 0.8f, true},   // the look-alike it was listed with
                                           {"N2", "R7", 0.7f, true},   // another wrong reference
                                           {"N2", "R2", 0.6f, false},  // not claimed as a match
                                           {"Q1", "R2", 0.5f, true}}));  // wrong, but not a hard negative
    CHECK(m.hard_negatives == HardNegativeMetrics{2, 2, 1});
    CHECK(m.decision.false_matches == 3);
}
