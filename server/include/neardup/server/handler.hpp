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

#include "neardup/server/api_rules.hpp"
#include "neardup/server/http.hpp"
#include "neardup/server/metrics.hpp"
#include "neardup/server/request_target.hpp"
#include "neardup/server/service.hpp"
#include "neardup/store/store.hpp"

namespace neardup::server {

// Thread-safe: handle() runs on many threads at once.
class Handler : public Service {
public:
    Handler(HandlerOptions options, Metrics& metrics);

    // Serve this store from now on (/readyz turns 200). Until then, routes that need it answer 503.
    void attach(store::Store& store);
    bool ready() const { return store_.load() != nullptr; }

    Route route(const RequestHeader& header) const override;
    std::size_t body_limit() const override { return options_.body_limit; }
    // What can be refused on the headers alone, before a body is read: a target that is not UTF-8 (400), a bad
    // key (400 invalid_key), unknown route (404), method (405), credentials (401, 403), Content-Length over the
    // limit (413), content type (415), a transfer coding other than chunked (501), not ready (503).
    std::optional<Response> precheck(const RequestHeader& header) const override;
    // The answer to a whole request. Never throws: unexpected failures answer 500.
    Response handle(const Request& request) const override;

private:
    // Throws the ApiError that refuses the request on its headers; else returns its parsed target.
    RequestTarget check(const RequestHeader& header) const;
    Response dispatch(const Request& request, const RequestTarget& target) const;
    Response search(const Request& request, const RequestTarget& target) const;
    Response search_pdq(const Request& request, const RequestTarget& target) const;
    Response list_images(const Request& request, const RequestTarget& target) const;
    Response put_image(const Request& request, const RequestTarget& target, const std::string& key) const;
    Response metrics_text(const Request& request) const;
    store::Store& store() const;

    HandlerOptions options_;
    Metrics& metrics_;
    std::atomic<store::Store*> store_{nullptr};
};

}  // namespace neardup::server
