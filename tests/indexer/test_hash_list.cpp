#include <catch2/catch.hpp>

#include <sstream>

#include "neardup/indexer/hash_list.hpp"

using namespace neardup;
using namespace neardup::indexer;

namespace {

const std::string kA = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22";
const std::string kB = "b0a10efd71cc3f429413d48d0ffffe12e34e0e17ada952a9d29684210aa9e5af";

HashList read(const std::string& text, HashListFormat format) {
    std::istringstream in(text);
    return read_hash_list(in, format);
}

std::string write(const std::vector<HashListEntry>& entries, HashListFormat format) {
    std::ostringstream out;
    write_hash_list(out, format, entries);
    return out.str();
}

HashListEntry entry(std::string key, const std::string& hex, int quality, store::Labels labels = {}) {
    return {std::move(key), {Hash256::from_hex(hex).value(), quality}, std::move(labels)};
}

}  // namespace

TEST_CASE("plain PDQ lists: one hash per line, keyed by the hash", "[hash_list]") {
    const auto list = read("# a partner's list\n" + kA + "\n\n" + kB + ",87,/photos/x.jpg\r\n" + kA.substr(0, 63) + "\nzz\n" +
                               kB + ",path-without-quality.jpg\n",
                           HashListFormat::pdq);
    REQUIRE(list.entries.size() == 3);
    CHECK(list.entries[0] == entry("pdq-" + kA, kA, 100));
    CHECK(list.entries[1] == entry("pdq-" + kB, kB, 87));  // the reference hasher's hash,quality,path
    CHECK(list.entries[2] == entry("pdq-" + kB, kB, 100));  // its hash,path
    REQUIRE(list.problems.size() == 2);
    CHECK(list.problems[0].line == 5);
    CHECK(list.problems[0].message == "'" + kA.substr(0, 63) + "' is not a PDQ hash (64 hex digits)");
    CHECK(list.problems[1].line == 6);
    CHECK(list.problems[1].message == "'zz' is not a PDQ hash (64 hex digits)");
    // Upper-case hex reads the same; output is lower case.
    std::string upper = kA;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    CHECK(read(upper + "\n", HashListFormat::pdq).entries.at(0).key == "pdq-" + kA);
    CHECK(write({entry("x", kA, 50), entry("y", kB, 90)}, HashListFormat::pdq) == kA + "\n" + kB + "\n");
}

TEST_CASE("a line past the limit is one problem, and the rest is read", "[hash_list][bad_input]") {
    const std::string text = std::string(kMaxHashListLine + 10, 'a') + "\n" + kA + "\n";
    const auto plain = read(text, HashListFormat::pdq);
    REQUIRE(plain.problems.size() == 1);
    CHECK(plain.problems[0].line == 1);
    CHECK(plain.problems[0].message == "line longer than 65536 bytes");
    CHECK(plain.entries.size() == 1);
    const auto csv = read("key,pdq\n" + std::string(kMaxHashListLine + 10, 'k') + "," + kA + "\nk," + kB + "\n", HashListFormat::csv);
    REQUIRE(csv.problems.size() == 1);
    CHECK(csv.problems[0].line == 2);
    CHECK(csv.problems[0].message == "record longer than 65536 bytes");
    REQUIRE(csv.entries.size() == 1);
    CHECK(csv.entries[0].key == "k");
}

TEST_CASE("CSV lists round-trip keys, qualities and labels that need quoting", "[hash_list]") {
    const std::vector<HashListEntry> entries = {
        entry("plain", kA, 100, {{"brand", "acme"}}),
        entry("comma, \"quote\"", kB, 42, {{"case", "line\nbreak"}, {"brand", "b,c"}}),
        entry("no labels", kA, 0),
    };
    const std::string text = write(entries, HashListFormat::csv);
    CHECK(text.substr(0, text.find('\r')) == "key,pdq,quality,brand,case");
    CHECK(text.find("\"comma, \"\"quote\"\"\"") != std::string::npos);
    const auto back = read(text, HashListFormat::csv);
    CHECK(back.problems.empty());
    CHECK(back.entries == entries);
}

TEST_CASE("CSV lists: every malformed record is a problem with its number", "[hash_list][bad_input]") {
    const auto list = read("pdq,key,quality,brand\n" + kA + ",a,,acme\n" + kB + ",b,101,acme\nnot-a-hash,c,5,\n" + kA +
                               ",d,50\n\n" + kB + ",e,7,\n",
                           HashListFormat::csv);
    REQUIRE(list.entries.size() == 2);
    CHECK(list.entries[0] == entry("a", kA, 100, {{"brand", "acme"}}));  // empty quality: 100
    CHECK(list.entries[1] == entry("e", kB, 7));                          // empty label cell: no label
    REQUIRE(list.problems.size() == 3);
    CHECK(list.problems[0].line == 3);
    CHECK(list.problems[0].message == "quality '101' is not a number from 0 to 100");
    CHECK(list.problems[1].line == 4);
    CHECK(list.problems[1].message == "'not-a-hash' is not a PDQ hash (64 hex digits)");
    CHECK(list.problems[2].line == 5);
    CHECK(list.problems[2].message == "3 fields where the header has 4");

    const auto no_key = read("hash,pdq\nx," + kA + "\n", HashListFormat::csv);
    CHECK(no_key.entries.empty());
    REQUIRE(no_key.problems.size() == 1);
    CHECK(no_key.problems[0].message == "the CSV header needs 'key' and 'pdq' columns");
    const auto empty = read("", HashListFormat::csv);
    REQUIRE(empty.problems.size() == 1);
    CHECK(empty.problems[0].message == "empty CSV: a header with key and pdq columns is needed");
    CHECK(parse_hash_list_format("csv") == HashListFormat::csv);
    CHECK_FALSE(parse_hash_list_format("tsv").has_value());
}
