// The API's rules on a request's headers, shared by every service behind the Server (one index, or a router
// over shards): which route a target names, which methods it allows, what it needs (token, content type, body
// size), and the refusal that answers a request breaking them. A router applies them before forwarding, so a
// request is refused alike through it and on one server.
#pragma once

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "neardup/server/http.hpp"
#include "neardup/server/request_target.hpp"

namespace neardup::server {

struct HandlerOptions {
    // Writes (PUT, DELETE) need `Authorization: Bearer <token>`; without a token configured they are refused.
    std::optional<std::string> token;
    // Searches and metadata reads need the token too.
    bool reads_require_token = false;
    // Largest request body (the image, or the multipart form holding it).
    std::size_t body_limit = 20u << 20;
    int max_top = 1000;
    // POST /v1/search/pdq: hashes per request, and the body's limit (JSON, far below body_limit).
    std::size_t max_pdq_hashes = 1000;
    std::size_t pdq_body_limit = 1u << 20;
};

enum class RouteId { healthz, readyz, metrics, openapi, stats, search, search_pdq, images, image, thumbnail, ui_root, ui, unmatched };

struct Matched {
    RouteId id = RouteId::unmatched;
    std::string key;    // for RouteId::image and thumbnail
    std::string asset;  // for RouteId::ui: the file's name
};

// The route of a request target as sent (percent-escapes intact): a key may hold an escaped slash, so
// `/v1/images/a%2Fthumbnail` is the image "a/thumbnail" and `/v1/images/a/thumbnail` the thumbnail of "a".
Matched match_target(std::string_view target);
// "/v1/images/{key}" and the like, or "unmatched": the metrics label.
const char* pattern(RouteId id);
std::vector<http::verb> allowed(RouteId id);
// Routes that read the index (run on the worker pool, 503 until the index is loaded).
bool uses_index(RouteId id);
bool is_write(http::verb method);
// The body limit of a request: JSON hash searches are small; images may be large.
std::size_t body_limit_for(const RequestHeader& header, const HandlerOptions& options);

// Throws the ApiError that refuses the request on its headers alone, readiness aside: a target that is not
// UTF-8 (400), a bad key (400 invalid_key), unknown route (404), method (405), credentials (401, 403),
// Content-Length over the limit (413), content type (415), a transfer coding other than chunked (501).
// Else returns the parsed target.
RequestTarget check_request(const RequestHeader& header, const HandlerOptions& options);
// ApiError 413 (payload_too_large) for a whole request whose body is over its route's limit.
void check_body(const Request& request, const HandlerOptions& options);
// What `build` answers; an ApiError it throws answered as its refusal, any other exception logged and answered
// 500 `internal`. Keeps the request's version and keep-alive (its body was read: the connection can go on).
Response guarded_answer(const Request& request, const std::function<Response()>& build);
// GET /v1/images: entries per page when the request gives no `limit`.
inline constexpr int kDefaultListLimit = 50;

// ApiError 400 (bad_request) naming the first query parameter not in `known`.
void only_params(const RequestTarget& target, std::initializer_list<std::string_view> known);
// An error answer, with WWW-Authenticate on 401 and Allow on 405.
Response refusal(const ApiError& error, const RequestHeader& header, bool keep_alive);

}  // namespace neardup::server
