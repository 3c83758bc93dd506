// PDQ hash lists, the currency of hash exchange between brands and marketplaces (ThreatExchange style).
//   pdq  one 64-hex-digit hash per line. On reading, a line may go on after a comma (the reference
//        hashers print `hash,path` or `hash,quality,path`): a second field of 0..100 is the quality.
//        Blank lines and lines starting with '#' are skipped.
//   csv  RFC 4180 CSV (libcsv) with a header row: `key` and `pdq` columns, an optional `quality` column, and
//        every other column a label named by its header (an empty cell: no such label).
#pragma once

#include <cstddef>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "neardup/engine/pdq.hpp"
#include "neardup/store/catalog.hpp"

namespace neardup::indexer {

enum class HashListFormat { pdq, csv };
std::optional<HashListFormat> parse_hash_list_format(std::string_view name);

struct HashListEntry {
    std::string key;  // pdq lists: "pdq-" + the hash in hex, so a hash imported twice is one reference
    PdqHash pdq;      // quality 100 when the list gives none (partners publish hashes of quality >= 50)
    store::Labels labels;
    friend bool operator==(const HashListEntry&, const HashListEntry&) = default;
};

struct HashListProblem {
    std::size_t line = 0;  // pdq: line number; csv: record number (the header is 1)
    std::string message;
};

struct HashList {
    std::vector<HashListEntry> entries;
    std::vector<HashListProblem> problems;  // malformed lines or records, skipped
};

// Lines or records over this many bytes are refused (a problem each), so a hostile file cannot make one
// allocation of its whole size.
inline constexpr std::size_t kMaxHashListLine = 64 * 1024;

// Reads a whole list; never throws for bad content (each bad line is a problem and the rest go on). A CSV
// header without `key` and `pdq` columns is one problem and no entries.
HashList read_hash_list(std::istream& in, HashListFormat format);

// Writes entries in order. csv: header key,pdq,quality and then the union of the entries' label names,
// sorted (labels named key, pdq or quality are left out: those columns are taken); fields quoted where
// RFC 4180 needs it.
void write_hash_list(std::ostream& out, HashListFormat format, const std::vector<HashListEntry>& entries);

}  // namespace neardup::indexer
