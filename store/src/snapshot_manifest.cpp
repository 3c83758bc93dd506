#include "neardup/store/snapshot_manifest.hpp"
#include "neardup/store/shard.hpp"

#include <nlohmann/json.hpp>

namespace neardup::store {
namespace {

using json = nlohmann::json;

struct Invalid {
    std::string message;
};

const json& field(const json& object, const char* name) {
    if (!object.is_object()) throw Invalid{"expected an object holding '" + std::string(name) + "'"};
    const auto it = object.find(name);
    if (it == object.end()) throw Invalid{"missing field '" + std::string(name) + "'"};
    return *it;
}

std::int64_t id_field(const json& object, const char* name) {
    const json& v = field(object, name);
    if (!v.is_number_integer()) throw Invalid{"field '" + std::string(name) + "' is not an integer"};
    const auto n = v.get<std::int64_t>();
    if (n < 0) throw Invalid{"field '" + std::string(name) + "' is negative"};
    return n;
}

// A plain file name in the index directory: nothing that could name another place.
std::string file_field(const json& object, const char* name) {
    const json& v = field(object, name);
    if (!v.is_string()) throw Invalid{"field '" + std::string(name) + "' is not a string"};
    const auto s = v.get<std::string>();
    if (s.empty() || s.size() > 255 || s == "." || s == "..")
        throw Invalid{"field '" + std::string(name) + "' is not a file name"};
    for (const char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            throw Invalid{"field '" + std::string(name) + "' holds a character not allowed in a segment file name"};
    return s;
}

std::string sha_field(const json& object, const char* name) {
    const json& v = field(object, name);
    if (!v.is_string()) throw Invalid{"field '" + std::string(name) + "' is not a string"};
    auto s = v.get<std::string>();
    if (s.size() != 64) throw Invalid{"field '" + std::string(name) + "' is not 64 hex digits"};
    for (const char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) throw Invalid{"field '" + std::string(name) + "' is not lowercase hex"};
    return s;
}

}  // namespace

BasicResult<SnapshotManifest, ManifestError> parse_snapshot_manifest(std::string_view text) {
    const json meta = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (meta.is_discarded()) return ManifestError{"snapshot manifest: not valid JSON"};
    try {
        SnapshotManifest m;
        const json& format = field(meta, "format");
        if (!format.is_number_integer()) throw Invalid{"field 'format' is not an integer"};
        m.format = format.get<int>();
        if (m.format < 1 || m.format > kSnapshotFormat)
            throw Invalid{"format " + format.dump() + " is not one this build reads (1 to " + std::to_string(kSnapshotFormat) + ")"};
        m.generation = id_field(meta, "generation");
        m.max_id = id_field(meta, "max_id");
        if (meta.contains("shard")) {
            const json& shard = meta["shard"];
            if (!shard.is_string() || !parse_shard(shard.get<std::string>())) throw Invalid{"field 'shard' is not k/N"};
            m.shard = shard.get<std::string>();
        }
        if (meta.contains("catalog")) {
            if (!meta["catalog"].is_string()) throw Invalid{"field 'catalog' is not a string"};
            m.catalog = meta["catalog"].get<std::string>();
        }
        if (m.format == 1) {
            SegmentFiles s;
            s.first_id = 1;
            s.last_id = m.max_id;
            s.pdq = file_field(meta, "pdq");
            s.descriptors = file_field(meta, "descriptors");
            m.segments.push_back(std::move(s));
        } else {
            const json& segments = field(meta, "segments");
            if (!segments.is_array()) throw Invalid{"field 'segments' is not an array"};
            for (const json& e : segments) {
                SegmentFiles s;
                s.first_id = id_field(e, "first_id");
                s.last_id = id_field(e, "last_id");
                s.pdq = file_field(e, "pdq");
                s.descriptors = file_field(e, "descriptors");
                if (m.format >= 3) {
                    s.pdq_sha256 = sha_field(e, "pdq_sha256");
                    s.descriptors_sha256 = sha_field(e, "descriptors_sha256");
                }
                if (m.format >= 4) {
                    const auto groups = id_field(e, "vocabulary_groups");
                    if (groups > 4096) throw Invalid{"field 'vocabulary_groups' is out of range"};
                    s.vocabulary_groups = static_cast<std::size_t>(groups);
                    if (e.contains("embeddings")) {
                        s.embeddings = file_field(e, "embeddings");
                        s.embeddings_sha256 = sha_field(e, "embeddings_sha256");
                    }
                }
                m.segments.push_back(std::move(s));
            }
        }
        std::int64_t covered = 0;
        for (const auto& s : m.segments) {
            if (s.first_id < 1 || s.last_id < s.first_id - 1) throw Invalid{"a segment has an invalid id range"};
            if (s.first_id <= covered) throw Invalid{"segments overlap or are out of order"};
            if (s.last_id > m.max_id) throw Invalid{"a segment ends past max_id"};
            covered = s.last_id;
        }
        return m;
    } catch (const Invalid& e) {
        return ManifestError{"snapshot manifest: " + e.message};
    } catch (const json::exception& e) {
        return ManifestError{std::string("snapshot manifest: ") + e.what()};
    }
}

std::string format_snapshot_manifest(const SnapshotManifest& manifest) {
    json segments = json::array();
    for (const auto& s : manifest.segments) {
        json segment = {{"first_id", s.first_id}, {"last_id", s.last_id}, {"pdq", s.pdq}, {"pdq_sha256", s.pdq_sha256},
                        {"descriptors", s.descriptors}, {"descriptors_sha256", s.descriptors_sha256},
                        {"vocabulary_groups", s.vocabulary_groups}};
        if (!s.embeddings.empty()) {
            segment["embeddings"] = s.embeddings;
            segment["embeddings_sha256"] = s.embeddings_sha256;
        }
        segments.push_back(std::move(segment));
    }
    json meta = {{"format", kSnapshotFormat}, {"generation", manifest.generation}, {"max_id", manifest.max_id},
                 {"segments", segments}};
    if (manifest.shard != "0/1") meta["shard"] = manifest.shard;  // older builds ignore both fields
    if (!manifest.catalog.empty()) meta["catalog"] = manifest.catalog;
    return meta.dump(2) + "\n";
}

}  // namespace neardup::store
