// The route file of a router (`neardup-server --route FILE`): the replicas of every shard, and the router's
// time limits. JSON:
//
//   {"shards": [["http://10.0.0.1:8080", "http://10.0.0.2:8080"],   <- shard 0/2: its replicas
//               ["http://10.0.1.1:8080", "http://10.0.1.2:8080"]],  <- shard 1/2
//    "deadline_ms": 3000, "try_timeout_ms": 1500, "health_interval_ms": 500}
//
// Shard k is the k-th list: its replicas run `neardup-server --shard k/N` with N the number of lists.
#pragma once

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace neardup::server {

struct Endpoint {
    std::string host;  // a name or an address, IPv6 without brackets
    std::string port;
    std::string url() const;  // "http://host:port"
};

struct RouteTable {
    std::vector<std::vector<Endpoint>> shards;
    // A routed request is answered within it: shards that have not answered by then are reported missing.
    std::chrono::milliseconds deadline{3000};
    // One try on one replica; past it the shard is tried on its next replica while the deadline allows.
    std::chrono::milliseconds try_timeout{1500};
    // How often every replica's /readyz is asked.
    std::chrono::milliseconds health_interval{500};
};

class RouteTableError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// "http://HOST:PORT" (a trailing slash allowed); RouteTableError naming what is wrong.
Endpoint parse_endpoint(std::string_view url);
// RouteTableError naming the field that is wrong: not JSON, an unknown field, no shards, a shard without
// replicas, a replica listed twice, a limit out of range, try_timeout_ms over deadline_ms.
RouteTable parse_route_table(std::string_view json_text);
// parse_route_table on a file's text; RouteTableError when it cannot be read, the message naming the file.
RouteTable load_route_table(const std::filesystem::path& path);

}  // namespace neardup::server
