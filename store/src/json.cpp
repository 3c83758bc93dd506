#include "neardup/store/json.hpp"

#include <chrono>
#include <cmath>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace neardup::store {

nlohmann::ordered_json to_json(const Error& e) { return {{"code", std::string(to_string(e.code))}, {"message", e.message}}; }

nlohmann::ordered_json to_json(const SearchHit& h) {
    nlohmann::ordered_json out = {{"key", h.key},
            {"score", std::round(h.score * 1e6) / 1e6},
            {"match", h.match},
            {"labels", h.labels},
            {"inliers", h.inliers},
            {"pdq_distance", h.pdq_distance},
            {"mirrored", h.mirrored},
            {"region", {{"x", std::lround(h.region.x)}, {"y", std::lround(h.region.y)},
                        {"width", std::lround(h.region.width)}, {"height", std::lround(h.region.height)}}},
            {"query_region", {{"x", std::lround(h.query_region.x)}, {"y", std::lround(h.query_region.y)},
                              {"width", std::lround(h.query_region.width)}, {"height", std::lround(h.query_region.height)}}}};
    if (h.hash_only) out["hash_only"] = true;  // only then: a PDQ hash from a partner's list, no image or region
    if (h.embedding_similarity) out["embedding_similarity"] = std::round(*h.embedding_similarity * 1e4) / 1e4;  // with a model only
    return out;
}

nlohmann::ordered_json to_json(const PdqMatch& m) {
    return {{"key", m.key}, {"distance", m.distance}, {"quality", m.quality}, {"labels", m.labels}, {"hash_only", m.hash_only}};
}

nlohmann::ordered_json to_json(const CatalogEntry& e) {
    std::string sha;
    for (const auto b : e.sha256) sha += fmt::format("{:02x}", b);
    const auto added = std::chrono::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(e.added_at_ms));
    nlohmann::ordered_json out = {{"key", e.key},
            {"labels", e.labels},
            {"sha256", sha},
            {"width", e.width},
            {"height", e.height},
            {"added_at", fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", std::chrono::floor<std::chrono::seconds>(added))},
            {"source", e.source}};
    if (e.hash_only()) out["hash_only"] = true;
    return out;
}

nlohmann::ordered_json to_json(const StoreStats& s) {
    return {{"active", s.active},
            {"inactive", s.inactive},
            {"pdq_entries", s.pdq_entries},
            {"descriptor_entries", s.descriptor_entries},
            {"embedding_entries", s.embedding_entries},
            {"embedder", s.embedder},
            {"vocabulary_words", s.vocabulary_words},
            {"segments", s.segments},
            {"merges", s.merges},
            {"generation", s.generation},
            {"loaded_from_snapshot", s.loaded_from_snapshot},
            {"caught_up_on_open", s.caught_up},
            {"segments_rebuilt_on_open", s.segments_rebuilt},
            {"snapshot_problem", s.snapshot_problem},
            {"followed", s.followed}};
}

std::string dump_json(const nlohmann::ordered_json& value, int indent) {
    return value.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace neardup::store
