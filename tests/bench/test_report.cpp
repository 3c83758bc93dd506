#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "neardup/bench/metrics.hpp"
#include "neardup/bench/pr_plot.hpp"
#include "neardup/bench/report_files.hpp"
#include "neardup/bench/report_json.hpp"
#include "neardup/bench/report_markdown.hpp"

using namespace neardup::bench;

namespace {

// Two methods with every kind of value: operating points present and absent, families, hard negatives.
Report fixed_report() {
    MethodMetrics a;
    a.method = "pdq";
    a.ground_truth_pairs = 4;
    a.predictions = 6;
    a.correct_predictions = 3;
    a.micro_ap = 0.6875;
    a.at_p90.point = PrPoint{0.75f, 1.0, 0.5, 2, 2};
    a.at_p99.point = PrPoint{0.75f, 1.0, 0.5, 2, 2};
    a.decision = DecisionMetrics{3, 2, 1, 2.0 / 3.0, 0.5};
    a.families = {{"crop", 3, 2, 2.0 / 3.0, 1, 1.0 / 3.0}, {"text", 1, 0, 0.0, 1, 1.0}};
    a.hard_negatives = HardNegativeMetrics{2, 1, 1};
    a.pr_curve = {{0.75f, 1.0, 0.5, 2, 2}, {0.5f, 0.75, 0.75, 3, 4}, {0.25f, 0.5, 0.75, 3, 6}};

    MethodMetrics b;
    b.method = "orb|ransac";
    b.ground_truth_pairs = 4;
    b.predictions = 2;
    b.correct_predictions = 1;
    b.predictions_for_unknown_queries = 1;
    b.micro_ap = 0.125;
    b.decision = DecisionMetrics{0, 0, 0, std::nullopt, 0.0};
    b.families = {{"crop", 3, 0, 0.0, std::nullopt, std::nullopt}, {"text", 1, 0, 0.0, std::nullopt, std::nullopt}};
    b.hard_negatives = HardNegativeMetrics{2, 0, 0};
    b.pr_curve = {{0.5f, 0.5, 0.25, 1, 2}};

    return Report{"neardup v0 on toy data", "toy: 5 queries, 4 pairs", "bench_quality --data toy", "2 cores", {a, b}};
}

}  // namespace

TEST_CASE("the Markdown tables of a fixed report", "[bench][report]") {
    const std::string expected = R"(# neardup v0 on toy data

- data: toy: 5 queries, 4 pairs
- command: `bench_quality --data toy`
- machine: 2 cores

## Methods

Micro-average precision (muAP) and recall at a precision (R@P) as in DISC21: all predictions ranked by score, recall over all ground-truth pairs. "Decision" judges each method's own match verdict.

| metric | pdq | orb\|ransac |
|---|---:|---:|
| muAP | 0.6875 | 0.1250 |
| R@P0.9 | 0.5000 | – |
| threshold for P0.9 | 0.75 | – |
| R@P0.99 | 0.5000 | – |
| threshold for P0.99 | 0.75 | – |
| decision precision | 0.6667 | – |
| decision recall | 0.5000 | 0.0000 |
| decision false matches | 1 | 0 |
| hard-negative false matches | 1 | 0 |
| ... on the related reference | 1 | 0 |
| predictions | 6 | 2 |
| ground-truth pairs | 4 | 4 |

## Recall per family: match decision

Share of each family's ground-truth pairs that the method reported as a match.

| family | pairs | pdq | orb\|ransac |
|---|---:|---:|---:|
| crop | 3 | 0.6667 (2) | 0.0000 (0) |
| text | 1 | 0.0000 (0) | 0.0000 (0) |

## Recall per family at precision 0.99

Share of each family's ground-truth pairs scored at or above the method's global precision-0.99 threshold.

| family | pairs | pdq | orb\|ransac |
|---|---:|---:|---:|
| crop | 3 | 0.3333 (1) | – |
| text | 1 | 1.0000 (1) | – |

![precision-recall curves](run_pr.png)
)";
    CHECK(report_to_markdown(fixed_report(), "run_pr.png") == expected);
}

TEST_CASE("the JSON report round-trips, absent values included", "[bench][report][json]") {
    const Report report = fixed_report();
    const std::string text = report_to_json(report).dump(2);
    const auto back = report_from_json(text, "report.json");
    REQUIRE(back.ok());
    CHECK(back.value() == report);

    const auto j = report_to_json(report);
    CHECK(j.at("format_version") == kReportFormatVersion);
    CHECK(j.at("methods").at(1).at("at_p99").at("point").is_null());
    CHECK(j.at("methods").at(1).at("decision").at("precision").is_null());
    CHECK(j.at("methods").at(0).at("pr_curve").at("thresholds") == nlohmann::json::array({0.75f, 0.5f, 0.25f}));
    CHECK(j.at("methods").at(0).at("pr_curve").at("true_positives") == nlohmann::json::array({2, 3, 3}));
    CHECK(j.at("methods").at(0).at("pr_curve").at("predictions") == nlohmann::json::array({2, 4, 6}));
}

TEST_CASE("a report evaluated from data round-trips through JSON exactly", "[bench][report][json]") {
    BenchmarkTruth truth;
    truth.ground_truth = {{"Q1", "Q2", "Q3"}, {{"Q1", "R1"}, {"Q2", "R2"}}};
    truth.queries = {{"Q1", "R1", true, "crop", ""}, {"Q2", "R2", true, "blur", ""}, {"Q3", "", false, "none", ""}};
    truth.hard_negatives = {{"Q3", "R1"}};
    const MethodPredictions m{"pdq", {{"Q1", "R1", 0.1f, true}, {"Q3", "R1", 1.0f / 3.0f, true}, {"Q2", "R2", 0.7f, false}}};
    const Report report{"t", "d", "c", "m", {evaluate(truth, m)}};
    const auto back = report_from_json(report_to_json(report).dump(), "r.json");
    REQUIRE(back.ok());
    CHECK(back.value() == report);  // doubles and floats come back bit for bit
}

TEST_CASE("malformed JSON reports are refused with the field", "[bench][report][json]") {
    const auto not_json = report_from_json("{\"format_version\": 1,", "r.json");
    REQUIRE_FALSE(not_json.ok());
    CHECK(not_json.error().code == BenchErrorCode::malformed_json);
    CHECK(not_json.error().message == "r.json: not valid JSON");

    auto j = report_to_json(fixed_report());
    j["format_version"] = 99;
    CHECK(report_from_json(j.dump(), "r.json").error().message == "r.json: format_version 99, this build reads 1");

    j = report_to_json(fixed_report());
    j["methods"][1]["decision"].erase("recall");
    CHECK(report_from_json(j.dump(), "r.json").error().message == "r.json: missing field /methods/1/decision/recall");

    j = report_to_json(fixed_report());
    j["methods"][0]["pr_curve"]["predictions"].erase(0);
    CHECK(report_from_json(j.dump(), "r.json").error().message ==
          "r.json: columns of /methods/0/pr_curve differ in length");

    j = report_to_json(fixed_report());
    j["methods"][0]["pr_curve"]["true_positives"][1] = 5;
    CHECK(report_from_json(j.dump(), "r.json").error().message ==
          "r.json: point 1 of /methods/0/pr_curve has impossible counts");

    j = report_to_json(fixed_report());
    j["methods"][0]["micro_ap"] = "high";
    CHECK(report_from_json(j.dump(), "r.json").error().message ==
          "r.json: field /methods/0/micro_ap: [json.exception.type_error.302] type must be number, but is string");
}

TEST_CASE("the precision-recall plot is a PNG with every method's colour", "[bench][report][plot]") {
    const auto png = render_pr_plot_png(fixed_report(), PrPlotOptions{800, 600});
    const cv::Mat img = cv::imdecode(png, cv::IMREAD_COLOR);
    REQUIRE_FALSE(img.empty());
    CHECK(img.cols == 800);
    CHECK(img.rows == 600);
    // The first two palette colours (BGR) are drawn.
    const auto count_colour = [&](cv::Vec3b c) {
        int n = 0;
        for (int y = 0; y < img.rows; ++y)
            for (int x = 0; x < img.cols; ++x) n += img.at<cv::Vec3b>(y, x) == c;
        return n;
    };
    CHECK(count_colour({180, 119, 31}) > 100);
    CHECK(count_colour({14, 127, 255}) > 20);
    CHECK_THROWS_AS(render_pr_plot_png(fixed_report(), PrPlotOptions{100, 100}), std::invalid_argument);
    CHECK_THROWS_AS(render_pr_plot_png(fixed_report(), PrPlotOptions{639, 400}), std::invalid_argument);
    CHECK_NOTHROW(render_pr_plot_png(Report{}));  // no methods: axes only

    // The smallest figure still fits a legend of long names, shortened.
    Report long_names = fixed_report();
    long_names.methods[0].method = std::string(300, 'x');
    long_names.methods[1].method = "...";
    const cv::Mat small = cv::imdecode(render_pr_plot_png(long_names, PrPlotOptions{640, 400}), cv::IMREAD_COLOR);
    CHECK(small.cols == 640);
    CHECK(small.rows == 400);
}

TEST_CASE("the report files are written side by side", "[bench][report][files]") {
    const auto dir = std::filesystem::temp_directory_path() / "neardup_test_bench_report";
    std::filesystem::remove_all(dir);
    const auto files = write_report_files(fixed_report(), dir / "nested", "run");
    REQUIRE(files.ok());
    CHECK(files.value().json == dir / "nested" / "run.json");
    CHECK(files.value().plot_png == dir / "nested" / "run_pr.png");

    std::ifstream in(files.value().json);
    std::stringstream text;
    text << in.rdbuf();
    CHECK(report_from_json(text.str(), "run.json").value() == fixed_report());
    std::ifstream md(files.value().markdown);
    std::stringstream md_text;
    md_text << md.rdbuf();
    CHECK(md_text.str() == report_to_markdown(fixed_report(), "run_pr.png"));
    CHECK_FALSE(cv::imread(files.value().plot_png.string()).empty());

    // A directory that cannot be created: a file stands in its way.
    const auto blocked = write_report_files(fixed_report(), files.value().json / "sub", "run");
    REQUIRE_FALSE(blocked.ok());
    CHECK(blocked.error().code == BenchErrorCode::io_error);
    CHECK_THROWS_AS(write_report_files(fixed_report(), dir, "a/b"), std::invalid_argument);
}
