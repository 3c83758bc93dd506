#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "neardup/bench/ground_truth_csv.hpp"

using namespace neardup::bench;

namespace {

template <class T>
std::string error_of(const BenchResult<T>& r) {
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == BenchErrorCode::malformed_csv);
    return r.error().message;
}

std::filesystem::path write_temp(const std::string& name, const std::string& text) {
    const auto dir = std::filesystem::temp_directory_path() / "neardup_test_bench_csv";
    std::filesystem::create_directories(dir);
    const auto path = dir / name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

}  // namespace

TEST_CASE("ground truth: queries without a match, several references, BOM, CRLF, quotes", "[bench][csv]") {
    const auto gt = parse_ground_truth_csv(
        "\xEF\xBB\xBFquery_id,reference_id\r\n"
        "Q1,R7\r\n"
        "Q2,\r\n"
        "\r\n"
        "Q3,R1\r\n"
        "Q3, \"R,2\" \r\n"
        "Q1,R8\r\n",
        "gt.csv");
    REQUIRE(gt.ok());
    CHECK(gt.value().query_ids == std::vector<std::string>{"Q1", "Q2", "Q3"});
    CHECK(gt.value().pairs ==
          std::vector<GroundTruthPair>{{"Q1", "R7"}, {"Q3", "R1"}, {"Q3", "R,2"}, {"Q1", "R8"}});
}

TEST_CASE("ground truth: malformed files are refused with file and line", "[bench][csv]") {
    CHECK(error_of(parse_ground_truth_csv("", "gt.csv")) ==
          "gt.csv: empty file, expected the header 'query_id,reference_id'");
    CHECK(error_of(parse_ground_truth_csv("query,reference\nQ1,R1\n", "gt.csv")) ==
          "gt.csv:1: expected the header 'query_id,reference_id', got 'query,reference'");
    CHECK(error_of(parse_ground_truth_csv("query_id,reference_id\nQ1,R1\nQ2,R2,0.5\n", "gt.csv")) ==
          "gt.csv:3: expected 2 fields, got 3");
    CHECK(error_of(parse_ground_truth_csv("query_id,reference_id\nQ1\n", "gt.csv")) ==
          "gt.csv:2: expected 2 fields, got 1");
    CHECK(error_of(parse_ground_truth_csv("query_id,reference_id\n,R1\n", "gt.csv")) == "gt.csv:2: empty query_id");
    CHECK(error_of(parse_ground_truth_csv("query_id,reference_id\nQ1,R1\nQ2,\nQ1,R1\n", "gt.csv")) ==
          "gt.csv:4: pair (Q1, R1) repeated (first on line 2)");
    CHECK(error_of(parse_ground_truth_csv("query_id,reference_id\nQ1,R1\nQ1,\n", "gt.csv")) ==
          "gt.csv:3: query 'Q1' listed without a reference, but with reference 'R1' on line 2");
    CHECK(error_of(parse_ground_truth_csv("query_id,reference_id\nQ1,\nQ1,R1\n", "gt.csv")) ==
          "gt.csv:3: query 'Q1' listed with reference 'R1', but without a reference on line 2");
    CHECK(error_of(parse_ground_truth_csv("query_id,reference_id\nQ1,\n\nQ1,\n", "gt.csv")) ==
          "gt.csv:4: query 'Q1' listed without a reference again (first on line 2)");
    CHECK(error_of(parse_ground_truth_csv("query_id,reference_id\nQ1,\"R1\n", "gt.csv")) ==
          "gt.csv:2: unterminated quoted field 2");
    CHECK(error_of(parse_ground_truth_csv("query_id,reference_id\n\"Q1\"x,R1\n", "gt.csv")) ==
          "gt.csv:2: text after the closing quote of field 1");
}

TEST_CASE("queries.csv: rows, booleans, splits and refusals", "[bench][csv]") {
    const auto q = parse_queries_csv(
        "query_id,source_id,in_index,family,edits,split\n"
        "Q1,S1,1,crop,\"crop(0.6),jpeg(25)\",test\n"
        "Q2,,false,unrelated,,train\n",
        "queries.csv");
    REQUIRE(q.ok());
    CHECK(q.value() == std::vector<QueryInfo>{{"Q1", "S1", true, "crop", "crop(0.6),jpeg(25)", "test"},
                                              {"Q2", "", false, "unrelated", "", "train"}});

    const std::string header = "query_id,source_id,in_index,family,edits,split\n";
    CHECK(error_of(parse_queries_csv(header + "Q1,S1,yes,crop,x,test\n", "queries.csv")) ==
          "queries.csv:2: in_index must be 0, 1, true or false, got 'yes'");
    CHECK(error_of(parse_queries_csv(header + "Q1,S1,1,crop,x,test\nQ1,S2,0,text,y,test\n", "queries.csv")) ==
          "queries.csv:3: query 'Q1' repeated (first on line 2)");
    CHECK(error_of(parse_queries_csv(header + "Q1,S1,1,,x,test\n", "queries.csv")) ==
          "queries.csv:2: empty family for query 'Q1'");
    CHECK(error_of(parse_queries_csv(header + "Q1,S1,1,crop,x,dev\n", "queries.csv")) ==
          "queries.csv:2: split must be train or test, got 'dev'");
    CHECK(error_of(parse_queries_csv(header + "Q1,S1,1,crop,x,\n", "queries.csv")) ==
          "queries.csv:2: split must be train or test, got ''");
    CHECK(error_of(parse_queries_csv(header + "Q1,S1,1,crop,x\n", "queries.csv")) ==
          "queries.csv:2: expected 6 fields, got 5");
    // A benchmark built before the split column existed is refused by name, not read as one split.
    CHECK(error_of(parse_queries_csv("query_id,source_id,in_index,family,edits\n", "queries.csv")) ==
          "queries.csv:1: expected the header 'query_id,source_id,in_index,family,edits,split', got "
          "'query_id,source_id,in_index,family,edits'");
}

TEST_CASE("hard_negatives.csv: rows and refusals", "[bench][csv]") {
    const auto h = parse_hard_negatives_csv("query_id,related_reference_id\nN1,R1\nN1,R2\nN2,R1\n", "hn.csv");
    REQUIRE(h.ok());
    CHECK(h.value() == std::vector<HardNegative>{{"N1", "R1"}, {"N1", "R2"}, {"N2", "R1"}});
    CHECK(error_of(parse_hard_negatives_csv("query_id,related_reference_id\nN1,\n", "hn.csv")) ==
          "hn.csv:2: empty related_reference_id for query 'N1'");
    CHECK(error_of(parse_hard_negatives_csv("query_id,related_reference_id\nN1,R1\nN1,R1\n", "hn.csv")) ==
          "hn.csv:3: pair (N1, R1) repeated (first on line 2)");
}

TEST_CASE("reading the files from disk, missing ones included", "[bench][csv]") {
    const auto gt = write_temp("ground_truth.csv", "query_id,reference_id\nQ1,R1\nQ2,\n");
    const auto queries = write_temp("queries.csv", "query_id,source_id,in_index,family,edits,split\nQ1,R1,1,crop,c,test\n");
    const auto negatives = write_temp("hard_negatives.csv", "query_id,related_reference_id\nQ2,R1\n");

    const auto truth = read_benchmark_truth(gt, queries, negatives);
    REQUIRE(truth.ok());
    CHECK(truth.value().ground_truth.pairs.size() == 1);
    CHECK(truth.value().queries.size() == 1);
    CHECK(truth.value().hard_negatives.size() == 1);
    CHECK(read_benchmark_truth(gt, std::nullopt, std::nullopt).value().queries.empty());

    const auto missing = gt.parent_path() / "no_such_file.csv";
    const auto r = read_benchmark_truth(gt, missing, std::nullopt);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == BenchErrorCode::io_error);
    CHECK(r.error().message == missing.string() + ": cannot open for reading");

    const auto dir = read_ground_truth_csv(gt.parent_path());
    REQUIRE_FALSE(dir.ok());
    CHECK(dir.error().message == gt.parent_path().string() + ": is a directory, expected a CSV file");

    const auto bad = write_temp("bad.csv", "query_id,reference_id\nQ1,R1,x\n");
    const auto b = read_ground_truth_csv(bad);
    REQUIRE_FALSE(b.ok());
    CHECK(b.error().line == 2);
    CHECK(b.error().message == bad.string() + ":2: expected 2 fields, got 3");
    CHECK_THROWS_AS(b.value(), BenchResultError);
}

TEST_CASE("error codes have stable names, a value has no error", "[bench][csv]") {
    CHECK(to_string(BenchErrorCode::io_error) == "io_error");
    CHECK(to_string(BenchErrorCode::malformed_csv) == "malformed_csv");
    CHECK(to_string(BenchErrorCode::malformed_json) == "malformed_json");
    const auto ok = parse_hard_negatives_csv("query_id,related_reference_id\n", "hn.csv");
    REQUIRE(ok.ok());
    CHECK(ok.value().empty());  // a header alone is a valid, empty file
    CHECK_THROWS_AS(ok.error(), std::logic_error);
    const BenchError whole = make_bench_error(BenchErrorCode::io_error, "x.csv", 0, "gone");
    CHECK(whole.message == "x.csv: gone");
}
