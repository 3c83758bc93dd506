#include "csv_reader.hpp"

#include <fstream>
#include <sstream>

namespace neardup::bench::detail {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Splits one line; returns an error text (empty on success).
std::string split_line(std::string_view line, std::vector<std::string>& fields) {
    fields.clear();
    std::size_t i = 0;
    while (true) {
        // Skip leading blanks to see whether the field is quoted.
        std::size_t start = i;
        while (start < line.size() && (line[start] == ' ' || line[start] == '\t')) ++start;
        if (start < line.size() && line[start] == '"') {
            std::string value;
            std::size_t j = start + 1;
            bool closed = false;
            while (j < line.size()) {
                if (line[j] == '"') {
                    if (j + 1 < line.size() && line[j + 1] == '"') {
                        value += '"';
                        j += 2;
                        continue;
                    }
                    closed = true;
                    ++j;
                    break;
                }
                value += line[j++];
            }
            if (!closed) return "unterminated quoted field " + std::to_string(fields.size() + 1);
            while (j < line.size() && (line[j] == ' ' || line[j] == '\t')) ++j;
            if (j < line.size() && line[j] != ',')
                return "text after the closing quote of field " + std::to_string(fields.size() + 1);
            fields.push_back(std::move(value));
            if (j >= line.size()) return {};
            i = j + 1;
        } else {
            const std::size_t comma = line.find(',', i);
            const std::string_view raw = line.substr(i, comma == std::string_view::npos ? line.npos : comma - i);
            fields.emplace_back(trim(raw));
            if (comma == std::string_view::npos) return {};
            i = comma + 1;
        }
    }
}

}  // namespace

BenchResult<std::vector<CsvRecord>> read_csv_records(std::string_view text, std::string_view source,
                                                     std::string_view expected_header) {
    constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
    if (text.substr(0, kUtf8Bom.size()) == kUtf8Bom) text.remove_prefix(kUtf8Bom.size());

    std::vector<std::string> expected;
    split_line(expected_header, expected);

    std::vector<CsvRecord> records;
    bool header_seen = false;
    std::size_t line_number = 0;
    std::vector<std::string> fields;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t end = text.find('\n', pos);
        std::string_view line = text.substr(pos, end == text.npos ? text.npos : end - pos);
        pos = end == text.npos ? text.size() : end + 1;
        ++line_number;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (trim(line).empty()) continue;

        if (const std::string fault = split_line(line, fields); !fault.empty())
            return make_bench_error(BenchErrorCode::malformed_csv, source, line_number, fault);
        if (!header_seen) {
            if (fields != expected)
                return make_bench_error(BenchErrorCode::malformed_csv, source, line_number,
                                        "expected the header '" + std::string(expected_header) + "', got '" +
                                            std::string(line) + "'");
            header_seen = true;
            continue;
        }
        if (fields.size() != expected.size())
            return make_bench_error(BenchErrorCode::malformed_csv, source, line_number,
                                    "expected " + std::to_string(expected.size()) + " fields, got " +
                                        std::to_string(fields.size()));
        records.push_back(CsvRecord{line_number, fields});
    }
    if (!header_seen)
        return make_bench_error(BenchErrorCode::malformed_csv, source, 0,
                                "empty file, expected the header '" + std::string(expected_header) + "'");
    return records;
}

BenchResult<std::string> read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_bench_error(BenchErrorCode::io_error, path, 0, "cannot open for reading");
    std::ostringstream buffer;
    buffer << in.rdbuf();
    if (in.bad()) return make_bench_error(BenchErrorCode::io_error, path, 0, "read failed");
    return buffer.str();
}

}  // namespace neardup::bench::detail
