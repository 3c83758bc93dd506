// snapshot.json: which segment files hold the indexes of which catalog rows, with a checksum of each file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "neardup/result.hpp"

namespace neardup::store {

// Format 4 (current): a segment filed under a vocabulary of visual words says how many groups it has (its
// descriptor file's quantizer holds the words); a segment holding embeddings names its embedding file too
// (optional fields: absent where none of its references has an embedding). Format 3: every file carries its
// SHA-256. Formats 1 (one pair of files for every row) and 2 (segments, no checksums) still load; their
// files are trusted as FAISS reads them.
inline constexpr int kSnapshotFormat = 4;

struct SegmentFiles {
    std::int64_t first_id = 0;
    std::int64_t last_id = 0;
    std::string pdq;          // file names inside the index directory
    std::string descriptors;
    std::string pdq_sha256;   // lowercase hex; empty in formats 1 and 2
    std::string descriptors_sha256;
    std::size_t vocabulary_groups = 0;  // 0: a flat index or an inverted file of format 3 or older
    std::string embeddings;  // empty: the segment has no embedding index
    std::string embeddings_sha256;

    // The segment's files, each with its checksum.
    std::vector<std::pair<std::string, std::string>> files() const {
        std::vector<std::pair<std::string, std::string>> out{{pdq, pdq_sha256}, {descriptors, descriptors_sha256}};
        if (!embeddings.empty()) out.emplace_back(embeddings, embeddings_sha256);
        return out;
    }
};

struct SnapshotManifest {
    int format = kSnapshotFormat;
    std::int64_t generation = 0;
    std::int64_t max_id = 0;
    // The shard ("k/N", shard.hpp) whose rows the segments hold; "0/1" (every row) when the field is absent.
    std::string shard = "0/1";
    // Catalog::identity() of the catalog the segments were derived from; empty (and absent from the text) for
    // the directory's own catalog.
    std::string catalog;
    std::vector<SegmentFiles> segments;
};

struct ManifestError {
    std::string message;
};

// Parses the text of snapshot.json. Refuses (never throws): malformed JSON, an unknown format, missing or
// mistyped fields, negative or inverted id ranges, segments out of order or overlapping, past max_id, and
// file names that could leave the directory (a '/', "..", or anything but [A-Za-z0-9._-]).
BasicResult<SnapshotManifest, ManifestError> parse_snapshot_manifest(std::string_view text);
// The format-4 text of `manifest` (its `format` field is ignored).
std::string format_snapshot_manifest(const SnapshotManifest& manifest);

}  // namespace neardup::store
