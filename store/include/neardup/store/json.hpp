// JSON views of store values, one shape for every front end (the CLI's --json output and the HTTP API).
#pragma once

#include <nlohmann/json.hpp>

#include "neardup/engine/error.hpp"
#include "neardup/store/catalog.hpp"
#include "neardup/store/store.hpp"

namespace neardup::store {

// {"code": "truncated", "message": "..."}
nlohmann::ordered_json to_json(const Error& error);
// {"key", "score" (6 decimals), "match", "labels", "inliers", "pdq_distance", "mirrored", "region" {x,y,width,height} (in the reference),
// "query_region" {x,y,width,height} (the matched area in the query)},
// plus "hash_only": true for a reference that is a PDQ hash without an image
nlohmann::ordered_json to_json(const SearchHit& hit);
// {"key", "distance", "quality", "labels", "hash_only"}
nlohmann::ordered_json to_json(const PdqMatch& match);
// {"key", "labels", "sha256" (hex), "width", "height", "added_at" (ISO 8601 UTC), "source"}, plus "hash_only": true
// as for a SearchHit
nlohmann::ordered_json to_json(const CatalogEntry& entry);
nlohmann::ordered_json to_json(const StoreStats& stats);

// The JSON text of `value`; never throws: bytes that are not valid UTF-8 in a string (a stored key or label
// written before keys were checked, a file name) come out as U+FFFD instead of failing the whole answer.
std::string dump_json(const nlohmann::ordered_json& value, int indent = -1);

}  // namespace neardup::store
