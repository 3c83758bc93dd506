// The API over shards: a router that holds no index and answers from replicas of every shard
// (`neardup-server --route FILE`).
//
// - A search (image or PDQ), a listing and /v1/stats go to one replica of every shard at once; the answers are
//   merged (matches by score, listings by key, counts summed). A shard whose replica fails or does not answer
//   within the try timeout is tried on its next replica while the deadline allows. A shard that no replica
//   answered for is named in the answer: `"partial": true, "missing_shards": [k, ...]`, never left out silently.
// - A request about one key (GET, PUT, DELETE of /v1/images/{key}, its thumbnail) goes to a replica of the shard
//   that owns the key (store/shard.hpp), and its answer comes back as the replica gave it.
// - Replicas are picked round-robin among the live ones. A replica is live when its /readyz answers 200 for the
//   shard the route file gives it (asked every health interval), and is taken out at once when a request to it
//   fails.
// - Everything else (the rules on headers, /healthz, /metrics, /openapi.json, the reviewer page) is answered here,
//   alike to one server. /readyz answers 200 once every shard has a live replica.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "neardup/server/api_rules.hpp"
#include "neardup/server/metrics.hpp"
#include "neardup/server/route_table.hpp"
#include "neardup/server/service.hpp"

namespace neardup::server {

struct ReplicaState {
    int shard = 0;
    std::string url;
    bool live = false;
    std::uint64_t failures = 0;  // requests to it that failed
    std::string problem;        // why it is not live ("" while live)
};

struct RouterCounts {
    std::uint64_t retries = 0;          // tries on a next replica after one failed
    std::uint64_t upstream_failures = 0;  // tries that failed (refused, reset, timed out, 5xx)
    std::uint64_t partial_answers = 0;  // answers that named missing shards
};

// Thread-safe. Runs its own I/O thread to talk to the replicas and ask their health.
class Router : public Service {
public:
    Router(RouteTable table, HandlerOptions options, Metrics& metrics);
    ~Router() override;
    Router(const Router&) = delete;
    Router& operator=(const Router&) = delete;

    Route route(const RequestHeader& header) const override;
    std::size_t body_limit() const override;
    std::optional<Response> precheck(const RequestHeader& header) const override;
    Response handle(const Request& request) const override;
    void handle_async(Request request, std::function<void(Response)> done) const override;

    // Blocks until every shard has a live replica or `timeout` passes; returns whether they all have.
    bool wait_ready(std::chrono::milliseconds timeout) const;
    std::vector<ReplicaState> replicas() const;
    RouterCounts counts() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace neardup::server
