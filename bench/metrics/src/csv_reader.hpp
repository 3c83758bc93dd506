// Splitting CSV text into numbered records of fields; the files' meaning is left to ground_truth_csv.cpp.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "neardup/bench/bench_error.hpp"

namespace neardup::bench::detail {

struct CsvRecord {
    std::size_t line = 0;  // 1-based line number in the text
    std::vector<std::string> fields;
};

// The header (first non-blank line) checked against `expected_header` field by field, then every
// non-blank line split into fields, each with exactly as many fields as the header. Fields are trimmed of
// spaces and tabs; a double-quoted field keeps its inner text verbatim ("" is a quote) and cannot span lines.
BenchResult<std::vector<CsvRecord>> read_csv_records(std::string_view text, std::string_view source,
                                                     std::string_view expected_header);

// The whole file as text, or io_error naming the path.
BenchResult<std::string> read_text_file(const std::string& path);

}  // namespace neardup::bench::detail
