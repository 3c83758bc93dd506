// The HTTP API over one Store, without sockets: request in, response out. The Server feeds it from the
// network; tests call it directly.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "neardup/server/http.hpp"
#include "neardup/server/metrics.hpp"
#include "neardup/server/request_target.hpp"
#include "neardup/store/store.hpp"

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

struct Route {
    std::string pattern;  // "/v1/search", "/v1/images/{key}", ... or "unmatched": the metrics label
    bool on_worker = false;  // decodes, fingerprints or reads the catalog: runs on the worker pool
};

// Thread-safe: handle() runs on many threads at once.
class Handler {
public:
    Handler(HandlerOptions options, Metrics& metrics);

    // Serve this store from now on (/readyz turns 200). Until then, routes that need it answer 503.
    void attach(store::Store& store);
    bool ready() const { return store_.load() != nullptr; }

    Route route(const RequestHeader& header) const;
    std::size_t body_limit() const { return options_.body_limit; }
    // What can be refused on the headers alone, before a body is read: a target that is not UTF-8 (400), a bad
    // key (400 invalid_key), unknown route (404), method (405), credentials (401, 403), Content-Length over the
    // limit (413), content type (415), a transfer coding other than chunked (501), not ready (503).
    std::optional<Response> precheck(const RequestHeader& header) const;
    // The answer to a whole request. Never throws: unexpected failures answer 500.
    Response handle(const Request& request) const;

    // Gauges the server adds to /metrics (queue depth, capacity).
    std::function<std::vector<Gauge>()> server_gauges;

private:
    // Throws the ApiError that refuses the request on its headers; else returns its parsed target.
    RequestTarget check(const RequestHeader& header) const;
    // An error answer, with WWW-Authenticate on 401 and Allow on 405.
    Response refusal(const ApiError& error, const RequestHeader& header, bool keep_alive) const;
    Response dispatch(const Request& request, const RequestTarget& target) const;
    Response search(const Request& request, const RequestTarget& target) const;
    Response search_pdq(const Request& request, const RequestTarget& target) const;
    Response list_images(const Request& request, const RequestTarget& target) const;
    Response ui_asset(const Request& request, const RequestTarget& target, const std::string& name) const;
    Response put_image(const Request& request, const RequestTarget& target, const std::string& key) const;
    Response metrics_text(const Request& request) const;
    store::Store& store() const;

    HandlerOptions options_;
    Metrics& metrics_;
    std::atomic<store::Store*> store_{nullptr};
};

}  // namespace neardup::server
