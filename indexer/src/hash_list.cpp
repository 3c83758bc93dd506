#include "neardup/indexer/hash_list.hpp"

#include <algorithm>
#include <charconv>
#include <set>

#include <csv.h>

namespace neardup::indexer {
namespace {

std::string_view trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

std::optional<int> parse_quality(std::string_view s) {
    s = trim(s);
    int q = -1;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), q);
    if (ec != std::errc() || end != s.data() + s.size() || q < 0 || q > 100) return std::nullopt;
    return q;
}

std::string hash_problem(std::string_view text) {
    std::string shown(text.substr(0, 80));
    if (text.size() > 80) shown += "...";
    return "'" + shown + "' is not a PDQ hash (64 hex digits)";
}

HashList read_pdq_lines(std::istream& in) {
    HashList out;
    std::string line;
    std::size_t n = 0;
    while (true) {
        // getline with a bound: read up to the newline, refusing what runs past kMaxHashListLine.
        line.clear();
        bool too_long = false, got = false;
        for (int c; (c = in.get()) != std::char_traits<char>::eof();) {
            got = true;
            if (c == '\n') break;
            if (line.size() < kMaxHashListLine) line.push_back(static_cast<char>(c));
            else too_long = true;
        }
        if (!got) break;
        ++n;
        if (too_long) {
            out.problems.push_back({n, "line longer than " + std::to_string(kMaxHashListLine) + " bytes"});
            continue;
        }
        const std::string_view text = trim(line);
        if (text.empty() || text.front() == '#') continue;
        const auto comma = text.find(',');
        const std::string_view hex = trim(text.substr(0, comma));
        auto hash = Hash256::from_hex(hex);
        if (!hash) {
            out.problems.push_back({n, hash_problem(hex)});
            continue;
        }
        HashListEntry e;
        e.pdq.hash = *hash;
        e.pdq.quality = 100;
        if (comma != std::string_view::npos) {
            const std::string_view rest = text.substr(comma + 1);
            if (const auto q = parse_quality(rest.substr(0, rest.find(',')))) e.pdq.quality = *q;
        }
        e.key = "pdq-" + e.pdq.hash.to_hex();
        out.entries.push_back(std::move(e));
    }
    return out;
}

// libcsv hands over fields and record ends through C callbacks; this gathers them into records.
struct CsvReader {
    std::vector<std::string> fields;
    std::vector<std::vector<std::string>> records;
    std::size_t record_bytes = 0;
    bool overflow = false;  // the record being read ran past kMaxHashListLine
    std::vector<std::size_t> overflowed;  // record numbers (1-based) refused for length

    static void on_field(void* field, std::size_t size, void* self) {
        auto& r = *static_cast<CsvReader*>(self);
        r.record_bytes += size;
        if (r.record_bytes > kMaxHashListLine) r.overflow = true;
        if (r.overflow) return;
        r.fields.emplace_back(static_cast<const char*>(field), size);
    }
    static void on_record(int, void* self) {
        auto& r = *static_cast<CsvReader*>(self);
        if (r.overflow) {
            r.overflowed.push_back(r.records.size() + r.overflowed.size() + 1);
            r.records.emplace_back();  // keeps numbering; refused below
        } else {
            r.records.push_back(std::move(r.fields));
        }
        r.fields.clear();
        r.record_bytes = 0;
        r.overflow = false;
    }
};

HashList read_csv(std::istream& in) {
    HashList out;
    csv_parser parser;
    if (csv_init(&parser, CSV_APPEND_NULL) != 0) throw std::bad_alloc();
    CsvReader reader;
    char buffer[1 << 16];
    bool parse_error = false;
    while (in && !parse_error) {
        in.read(buffer, sizeof buffer);
        const auto got = static_cast<std::size_t>(in.gcount());
        if (got == 0) break;
        if (csv_parse(&parser, buffer, got, CsvReader::on_field, CsvReader::on_record, &reader) != got) parse_error = true;
    }
    if (!parse_error) csv_fini(&parser, CsvReader::on_field, CsvReader::on_record, &reader);
    std::string parse_message = parse_error ? csv_strerror(csv_error(&parser)) : "";
    csv_free(&parser);
    if (parse_error) out.problems.push_back({reader.records.size() + 1, "CSV parse error: " + parse_message + "; the rest of the file is skipped"});
    if (reader.records.empty()) {
        if (!parse_error) out.problems.push_back({1, "empty CSV: a header with key and pdq columns is needed"});
        return out;
    }
    const auto& header = reader.records.front();
    int key_col = -1, pdq_col = -1, quality_col = -1;
    for (std::size_t i = 0; i < header.size(); ++i) {
        const std::string_view name = trim(header[i]);
        if (name == "key") key_col = static_cast<int>(i);
        else if (name == "pdq") pdq_col = static_cast<int>(i);
        else if (name == "quality") quality_col = static_cast<int>(i);
    }
    if (key_col < 0 || pdq_col < 0) {
        out.problems.push_back({1, "the CSV header needs 'key' and 'pdq' columns"});
        return out;
    }
    for (std::size_t r = 1; r < reader.records.size(); ++r) {
        const std::size_t number = r + 1;
        if (std::find(reader.overflowed.begin(), reader.overflowed.end(), number) != reader.overflowed.end()) {
            out.problems.push_back({number, "record longer than " + std::to_string(kMaxHashListLine) + " bytes"});
            continue;
        }
        const auto& f = reader.records[r];
        if (f.size() == 1 && trim(f[0]).empty()) continue;  // a blank line
        if (f.size() != header.size()) {
            out.problems.push_back({number, std::to_string(f.size()) + " fields where the header has " + std::to_string(header.size())});
            continue;
        }
        auto hash = Hash256::from_hex(trim(f[pdq_col]));
        if (!hash) {
            out.problems.push_back({number, hash_problem(f[pdq_col])});
            continue;
        }
        HashListEntry e;
        e.key = f[key_col];
        e.pdq.hash = *hash;
        e.pdq.quality = 100;
        if (quality_col >= 0 && !trim(f[quality_col]).empty()) {
            const auto q = parse_quality(f[quality_col]);
            if (!q) {
                out.problems.push_back({number, "quality '" + f[quality_col].substr(0, 20) + "' is not a number from 0 to 100"});
                continue;
            }
            e.pdq.quality = *q;
        }
        for (std::size_t i = 0; i < header.size(); ++i)
            if (static_cast<int>(i) != key_col && static_cast<int>(i) != pdq_col && static_cast<int>(i) != quality_col && !f[i].empty())
                e.labels[header[i]] = f[i];
        out.entries.push_back(std::move(e));
    }
    return out;
}

// One CSV field, quoted only where RFC 4180 needs it (libcsv quotes every field it writes).
void write_field(std::ostream& out, const std::string& field) {
    if (field.find_first_of(",\"\r\n") == std::string::npos) {
        out << field;
        return;
    }
    std::string quoted(csv_write(nullptr, 0, field.data(), field.size()), '\0');
    csv_write(quoted.data(), quoted.size(), field.data(), field.size());
    out << quoted;
}

}  // namespace

std::optional<HashListFormat> parse_hash_list_format(std::string_view name) {
    if (name == "pdq") return HashListFormat::pdq;
    if (name == "csv") return HashListFormat::csv;
    return std::nullopt;
}

HashList read_hash_list(std::istream& in, HashListFormat format) {
    return format == HashListFormat::pdq ? read_pdq_lines(in) : read_csv(in);
}

void write_hash_list(std::ostream& out, HashListFormat format, const std::vector<HashListEntry>& entries) {
    if (format == HashListFormat::pdq) {
        for (const auto& e : entries) out << e.pdq.hash.to_hex() << '\n';
        return;
    }
    std::set<std::string> label_names;
    for (const auto& e : entries)
        for (const auto& [name, value] : e.labels)
            if (name != "key" && name != "pdq" && name != "quality") label_names.insert(name);
    out << "key,pdq,quality";
    for (const auto& name : label_names) {
        out << ',';
        write_field(out, name);
    }
    out << "\r\n";
    for (const auto& e : entries) {
        write_field(out, e.key);
        out << ',' << e.pdq.hash.to_hex() << ',' << e.pdq.quality;
        for (const auto& name : label_names) {
            out << ',';
            if (const auto it = e.labels.find(name); it != e.labels.end()) write_field(out, it->second);
        }
        out << "\r\n";
    }
}

}  // namespace neardup::indexer
