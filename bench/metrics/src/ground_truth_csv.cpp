#include "neardup/bench/ground_truth_csv.hpp"

#include <string>
#include <unordered_map>
#include <utility>

#include "csv_reader.hpp"
#include "neardup/bench/split.hpp"
#include "pair_key.hpp"

namespace neardup::bench {
namespace {

using detail::CsvRecord;

BenchError csv_error(std::string_view source, std::size_t line, const std::string& what) {
    return make_bench_error(BenchErrorCode::malformed_csv, source, line, what);
}

using detail::pair_key;

std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

template <class T>
BenchResult<T> read_file_then(const std::filesystem::path& path,
                              BenchResult<T> (*parse)(std::string_view, std::string_view)) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
        return make_bench_error(BenchErrorCode::io_error, path.string(), 0, "is a directory, expected a CSV file");
    auto text = detail::read_text_file(path.string());
    if (!text) return text.error();
    return parse(text.value(), path.string());
}

}  // namespace

BenchResult<GroundTruth> parse_ground_truth_csv(std::string_view text, std::string_view source) {
    auto records = detail::read_csv_records(text, source, kGroundTruthHeader);
    if (!records) return records.error();

    GroundTruth truth;
    std::unordered_map<std::string, std::size_t> pair_line;       // pair -> line it was first listed on
    std::unordered_map<std::string, std::size_t> unmatched_line;  // query listed without reference -> line
    std::unordered_map<std::string, std::pair<std::string, std::size_t>> first_reference;  // query -> (ref, line)
    for (const CsvRecord& r : records.value()) {
        const std::string& query = r.fields[0];
        const std::string& reference = r.fields[1];
        const auto fail = [&](const std::string& what) { return csv_error(source, r.line, what); };
        const auto line_text = [](std::size_t line) { return "line " + std::to_string(line); };
        if (query.empty()) return fail("empty query_id");
        const bool seen_query = unmatched_line.count(query) > 0 || first_reference.count(query) > 0;
        if (reference.empty()) {
            if (auto it = unmatched_line.find(query); it != unmatched_line.end())
                return fail("query " + in_quotes(query) + " listed without a reference again (first on " +
                            line_text(it->second) + ")");
            if (auto it = first_reference.find(query); it != first_reference.end())
                return fail("query " + in_quotes(query) + " listed without a reference, but with reference " +
                            in_quotes(it->second.first) + " on " + line_text(it->second.second));
            unmatched_line.emplace(query, r.line);
        } else {
            if (auto it = unmatched_line.find(query); it != unmatched_line.end())
                return fail("query " + in_quotes(query) + " listed with reference " + in_quotes(reference) +
                            ", but without a reference on " + line_text(it->second));
            const auto [it, inserted] = pair_line.emplace(pair_key(query, reference), r.line);
            if (!inserted)
                return fail("pair (" + query + ", " + reference + ") repeated (first on " + line_text(it->second) + ")");
            first_reference.emplace(query, std::make_pair(reference, r.line));
            truth.pairs.push_back(GroundTruthPair{query, reference});
        }
        if (!seen_query) truth.query_ids.push_back(query);
    }
    return truth;
}

BenchResult<std::vector<QueryInfo>> parse_queries_csv(std::string_view text, std::string_view source) {
    auto records = detail::read_csv_records(text, source, kQueriesHeader);
    if (!records) return records.error();

    std::vector<QueryInfo> queries;
    std::unordered_map<std::string, std::size_t> query_line;
    for (const CsvRecord& r : records.value()) {
        QueryInfo q;
        q.query_id = r.fields[0];
        q.source_id = r.fields[1];
        const std::string& in_index = r.fields[2];
        q.family = r.fields[3];
        q.edits = r.fields[4];
        q.split = r.fields[5];
        if (q.query_id.empty()) return csv_error(source, r.line, "empty query_id");
        if (in_index == "1" || in_index == "true") q.in_index = true;
        else if (in_index == "0" || in_index == "false") q.in_index = false;
        else return csv_error(source, r.line, "in_index must be 0, 1, true or false, got " + in_quotes(in_index));
        if (q.family.empty()) return csv_error(source, r.line, "empty family for query " + in_quotes(q.query_id));
        if (q.split != kTrainSplit && q.split != kTestSplit)
            return csv_error(source, r.line, "split must be train or test, got " + in_quotes(q.split));
        const auto [it, inserted] = query_line.emplace(q.query_id, r.line);
        if (!inserted)
            return csv_error(source, r.line, "query " + in_quotes(q.query_id) + " repeated (first on line " +
                                                 std::to_string(it->second) + ")");
        queries.push_back(std::move(q));
    }
    return queries;
}

BenchResult<std::vector<HardNegative>> parse_hard_negatives_csv(std::string_view text, std::string_view source) {
    auto records = detail::read_csv_records(text, source, kHardNegativesHeader);
    if (!records) return records.error();

    std::vector<HardNegative> negatives;
    std::unordered_map<std::string, std::size_t> pair_line;
    for (const CsvRecord& r : records.value()) {
        const std::string& query = r.fields[0];
        const std::string& related = r.fields[1];
        if (query.empty()) return csv_error(source, r.line, "empty query_id");
        if (related.empty()) return csv_error(source, r.line, "empty related_reference_id for query " + in_quotes(query));
        const auto [it, inserted] = pair_line.emplace(pair_key(query, related), r.line);
        if (!inserted)
            return csv_error(source, r.line, "pair (" + query + ", " + related + ") repeated (first on line " +
                                                 std::to_string(it->second) + ")");
        negatives.push_back(HardNegative{query, related});
    }
    return negatives;
}

BenchResult<GroundTruth> read_ground_truth_csv(const std::filesystem::path& path) {
    return read_file_then<GroundTruth>(path, &parse_ground_truth_csv);
}

BenchResult<std::vector<QueryInfo>> read_queries_csv(const std::filesystem::path& path) {
    return read_file_then<std::vector<QueryInfo>>(path, &parse_queries_csv);
}

BenchResult<std::vector<HardNegative>> read_hard_negatives_csv(const std::filesystem::path& path) {
    return read_file_then<std::vector<HardNegative>>(path, &parse_hard_negatives_csv);
}

BenchResult<BenchmarkTruth> read_benchmark_truth(const std::filesystem::path& ground_truth,
                                                 const std::optional<std::filesystem::path>& queries,
                                                 const std::optional<std::filesystem::path>& hard_negatives) {
    BenchmarkTruth truth;
    auto gt = read_ground_truth_csv(ground_truth);
    if (!gt) return gt.error();
    truth.ground_truth = std::move(gt).value();
    if (queries) {
        auto q = read_queries_csv(*queries);
        if (!q) return q.error();
        truth.queries = std::move(q).value();
    }
    if (hard_negatives) {
        auto h = read_hard_negatives_csv(*hard_negatives);
        if (!h) return h.error();
        truth.hard_negatives = std::move(h).value();
    }
    return truth;
}

}  // namespace neardup::bench
