// What the Server asks of the service behind it: one index (Handler) or a router over shards (Router). The
// Server reads a request's headers, asks route() and precheck(), reads the body within body_limit(), and runs
// handle() on an I/O thread or, for a route on_worker, on its worker pool; an async route's handle_async()
// answers when it is done.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "neardup/server/http.hpp"
#include "neardup/server/metrics.hpp"

namespace neardup::server {

struct Route {
    std::string pattern;  // "/v1/search", "/v1/images/{key}", ... or "unmatched": the metrics label
    bool on_worker = false;  // decodes, fingerprints or reads the catalog: runs on the worker pool
    bool async = false;      // waits on other servers: handle_async, which holds no thread while it waits
};

// Thread-safe: every method runs on many threads at once.
class Service {
public:
    virtual ~Service() = default;

    virtual Route route(const RequestHeader& header) const = 0;
    // The largest body any request may have (a route may allow less: precheck and handle refuse it).
    virtual std::size_t body_limit() const = 0;
    // What can be refused on the headers alone, before a body is read (413, 401, ...), answered with the
    // connection to be closed; nothing when the request may go on.
    virtual std::optional<Response> precheck(const RequestHeader& header) const = 0;
    // The answer to a whole request. Never throws: unexpected failures answer 500.
    virtual Response handle(const Request& request) const = 0;
    // The answer, given to `done` once, from any thread, for a route that is async. Never throws once it
    // has taken the request. By default: handle().
    virtual void handle_async(Request request, std::function<void(Response)> done) const { done(handle(request)); }

    // Gauges the server adds to /metrics (queue depth, capacity); set by the Server.
    std::function<std::vector<Gauge>()> server_gauges;
};

}  // namespace neardup::server
